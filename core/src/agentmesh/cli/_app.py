"""The ``agentmesh`` command: the composition root that reaches every part of the mesh.

Command modules import their part lazily, inside the command, so ``agentmesh --help`` stays
fast and one part's heavy dependencies are not loaded to run another part's command.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from agentmesh.cli import _contracts_ops
from agentmesh.cli._acl import acl_app
from agentmesh.cli._audit import audit_app
from agentmesh.cli._contracts import contracts_app
from agentmesh.cli._control import control_app
from agentmesh.cli._demo import demo
from agentmesh.cli._dlq import dlq_app
from agentmesh.cli._help import reflow_help
from agentmesh.cli._infra import infra_app
from agentmesh.cli._output import err_console
from agentmesh.cli._replay import replay_app
from agentmesh.cli._review import review_app
from agentmesh.cli._run import run_app
from agentmesh.cli._tail import tail
from agentmesh.cli._task import task_app
from agentmesh.cli._topics import topics_app
from agentmesh.cli._tracing import TracedGroup, configure_for_command

__all__ = ["app", "main"]


class _RootGroup(TracedGroup):
    """The ``agentmesh`` group: the command tree's help is reflowed before anything runs."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        reflow_help(self)
        return super().main(*args, **kwargs)


app = typer.Typer(
    name="agentmesh",
    help="agentmesh: an event-driven mesh for AI agents on Apache Kafka.",
    no_args_is_help=True,
    cls=_RootGroup,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(configure_for_command)  # tracing from OTEL_*, for commands that take part
app.add_typer(infra_app, name="infra")
app.add_typer(acl_app, name="acl")
app.add_typer(contracts_app, name="contracts")
app.add_typer(run_app, name="run")
app.add_typer(task_app, name="task")
app.add_typer(audit_app, name="audit")
app.add_typer(control_app, name="control")
app.add_typer(review_app, name="review")
app.add_typer(dlq_app, name="dlq")
app.add_typer(replay_app, name="replay")
app.add_typer(topics_app, name="topics")
app.command()(tail)
app.command()(demo)
_commands = (_contracts_ops,)  # importing the module registers its commands


_PARTS = ("contracts", "agents", "supervisor", "gateway", "infra")


def main() -> None:
    """Entry point of the ``agentmesh`` console script."""
    try:
        app()
    except ModuleNotFoundError as exc:
        # An image for one role installs that role's distribution only (docs/architecture.md,
        # "Packaging"); a command for another role says what to install instead of a traceback.
        part = next((p for p in _PARTS if (exc.name or "").startswith(f"agentmesh.{p}")), None)
        if part is None:
            raise
        err_console.print(
            f"[bold red]error:[/] this command needs agentmesh.{part}, which is not installed "
            f"here: pip install agentmesh-{part} (or `pip install agentmesh` for every part)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
