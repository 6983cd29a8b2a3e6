"""Each ``agentmesh`` process that takes part in a task configures tracing as it starts.

The service name says which part of the mesh a span comes from, so a trace backend lists
every agent on its own: ``agentmesh.agent.<name>``, ``agentmesh.supervisor``,
``agentmesh.gateway``, ``agentmesh.cli`` (``task submit`` and ``demo``). ``OTEL_SERVICE_NAME``
overrides it. Commands that only read (``task show``, ``tail``, ...) configure nothing.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from agentmesh.cli._output import fail

__all__ = ["TracedGroup", "configure_for_command", "trace_http_calls"]

_ARGS = "agentmesh.command_args"


class TracedGroup(TyperGroup):
    """The top-level group, keeping the command line below it for :func:`configure_for_command`.

    Click hands a group's callback nothing of what follows the subcommand's name; the agent's
    name in ``run agent NAME`` is there.
    """

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[_ARGS] = [name, *rest]
        return name, command, rest


def configure_for_command(ctx: typer.Context) -> None:
    """Configure the OpenTelemetry SDK from ``OTEL_*`` for a command that takes part in tasks."""
    if ctx.resilient_parsing:  # shell completion
        return
    service = _service_name(ctx)
    if service is None:
        return
    from agentmesh.core.telemetry import TracingConfigError, configure_tracing

    try:
        configure_tracing(service)
    except TracingConfigError as exc:
        fail(str(exc), json_mode=False, code=2)


def trace_http_calls() -> None:
    """When this process traces: a CLIENT span per httpx request, its context sent along in
    ``traceparent`` (so a gateway's request span is the child of this command's)."""
    from opentelemetry import trace

    if isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    ):
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()


def _service_name(ctx: Any) -> str | None:
    # typer's Context, or the one of the click it vendors (typer.models.Context's base)
    args: list[str] = ctx.meta.get(_ARGS) or []
    match args[:2]:
        case ["demo", *_]:
            return "agentmesh.cli"
        case ["task", "submit"]:
            return "agentmesh.cli"
        case ["run", "supervisor"]:
            return "agentmesh.supervisor"
        case ["run", "gateway"]:
            return "agentmesh.gateway"
        case ["run", "agent"]:
            name = _agent_name(ctx, args[2:])
            return f"agentmesh.agent.{name}" if name else "agentmesh.agent"
    return None


def _agent_name(ctx: Any, rest: list[str]) -> str | None:
    """NAME of ``run agent [OPTIONS] NAME``, parsed by the command's own parser."""
    group = ctx.command
    run = group.get_command(ctx, "run") if isinstance(group, TyperGroup) else None
    agent = run.get_command(ctx, "agent") if isinstance(run, TyperGroup) else None
    if agent is None:
        return None
    # resilient: a bad command line is for the command itself to report, not for us
    parsed: Any = agent.make_context("agent", list(rest), parent=ctx, resilient_parsing=True)
    name = parsed.params.get("name")
    return name if isinstance(name, str) else None
