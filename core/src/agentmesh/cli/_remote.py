"""What `task cancel`, `review` and `tail` share: the gateway options, and running an
operation (over HTTP or against Kafka) with its failures said in words."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from agentmesh.cli._output import err_console, fail

__all__ = ["ByOpt", "GatewayOpt", "TokenOpt", "interrupted", "no_by_with_gateway", "run"]

T = TypeVar("T")

GatewayOpt = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        envvar="AGENTMESH_GATEWAY_URL",
        help="Talk to this gateway over HTTP (e.g. http://127.0.0.1:8080) instead of to "
        "Kafka directly.",
        show_default=False,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="AGENTMESH_GATEWAY_TOKEN",
        help="The gateway API token (its roles decide what you may do).",
        show_default=False,
    ),
]
ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Who you are, without --gateway (default: your login name).",
        show_default=False,
    ),
]


def no_by_with_gateway(gateway: str | None, by: str | None) -> None:
    """Over the gateway, who you are is the token's name."""
    if gateway and by:
        raise typer.BadParameter(
            "with --gateway you act as the token's name; --by is for direct (Kafka) use",
            param_hint="--by",
        )


def interrupted() -> NoReturn:
    """Ctrl-C: stop quietly, as `tail -f` does."""
    err_console.print("[dim]stopped[/]")
    raise typer.Exit(130)


def run(work: Coroutine[Any, Any, T], *, json_mode: bool, doing: str) -> T:
    """Run ``work``; any failure ends the command with what went wrong and how to fix it."""
    from agentmesh.cli._gateway_client import GatewayError
    from agentmesh.contracts import ContractError
    from agentmesh.core.views import ReviewError, TopicMissing

    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        interrupted()
    except BrokenPipeError:
        # The reader went away (`| head`): stop without a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except (GatewayError, ReviewError, TopicMissing, ContractError) as exc:
        fail(str(exc), json_mode=json_mode)
    except Exception as exc:  # noqa: BLE001 - say what failed and how to fix it, no traceback
        fail(
            f"could not {doing}: {type(exc).__name__}: {exc} (is Kafka up? "
            "`agentmesh infra status`; AGENTMESH_KAFKA_BOOTSTRAP says where it is)",
            json_mode=json_mode,
        )
