"""``agentmesh run agent NAME``: one agent as its own process."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from agentmesh.cli._apps import AppOption, load_app
from agentmesh.cli._output import err_console, fail
from agentmesh.core import get_settings

__all__ = ["run_app"]

run_app = typer.Typer(help="Run one part of the mesh in this process.", no_args_is_help=True)


@run_app.command("agent")
def run_agent(
    name: str = typer.Argument(help="The agent to run (its inbox is <namespace>.agent.<name>)."),
    app: AppOption = None,
) -> None:
    """Consume agent NAME's inbox in the consumer group <namespace>.agent.<name>.workers.

    Start more processes with the same NAME to scale out by partitions. SIGTERM or Ctrl-C
    finishes the batch in flight (its transaction), leaves the group and exits; kill -9
    loses nothing: uncommitted work is redone by whoever takes the partition.
    """
    settings = get_settings()
    spec = app or settings.app
    if spec is None:
        fail("which mesh? pass --app package.module:mesh or set AGENTMESH_APP", json_mode=False)
    mesh = load_app(spec, json_mode=False)
    assert mesh is not None
    if name not in mesh.agents:
        fail(
            f"no agent {name!r} in {spec}; known agents: {', '.join(sorted(mesh.agents))}",
            json_mode=False,
        )
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=True)],
    )
    for noisy in ("aiokafka", "httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from agentmesh.agents._worker import AgentWorker

    model = None
    if settings.llm:
        from agentmesh.agents.providers import model_from_spec

        try:
            model = model_from_spec(settings.llm)
        except ValueError as exc:
            fail(f"AGENTMESH_LLM: {exc}", json_mode=False)
    worker = AgentWorker(mesh, name, settings, model=model)
    asyncio.run(_serve(worker))


async def _serve(worker: object) -> None:
    from agentmesh.agents._worker import AgentWorker

    assert isinstance(worker, AgentWorker)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    # `kill -USR1 <pid>`: what is every task of a stuck agent waiting on?
    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
    await worker.run()


def _dump_tasks() -> None:
    out = sys.stderr
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=out)
        task.print_stack(limit=30, file=out)
    out.flush()


@run_app.command("supervisor")
def run_supervisor_command(
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Governance policy file (YAML); defaults to AGENTMESH_POLICY, else built-in "
            "defaults (each task's own budget, no review rules).",
        ),
    ] = None,
    loglevel: Annotated[
        str, typer.Option("--loglevel", help="crit, error, warn, info or debug")
    ] = "info",
) -> None:
    """Govern the mesh: budgets, loops, circuit breakers, review gating and the audit chain.

    A faust-streaming worker in the consumer group <namespace>.supervisor; start more to
    scale out by partitions. Its state lives in faust tables backed by changelog topics,
    so a restarted supervisor (even after kill -9) resumes with exact ledgers.
    """
    from agentmesh.core.policy import PolicyError, load_policy

    settings = get_settings()
    try:
        loaded = load_policy(policy or settings.policy)
    except PolicyError as exc:
        fail(str(exc), json_mode=False)
    from agentmesh.supervisor import run_supervisor

    run_supervisor(settings, loaded, loglevel=loglevel)


@run_app.command("gateway")
def run_gateway_command(
    host: Annotated[
        str | None, typer.Option(help="Listen address (AGENTMESH_GATEWAY_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (AGENTMESH_GATEWAY_PORT).")] = None,
) -> None:
    """Serve the HTTP API, the reviewer page (/) and its OpenAPI document (/docs).

    Tokens and roles come from AGENTMESH_GATEWAY_TOKENS_FILE or AGENTMESH_GATEWAY_TOKENS;
    review decisions are signed with the Ed25519 key in AGENTMESH_GATEWAY_SIGNING_KEY_FILE
    (created under AGENTMESH_HOME/gateway when unset).
    """
    from agentmesh.gateway import AuthError, GatewayConfig, Signer, TokenStore, create_app

    settings = get_settings()
    config = GatewayConfig()
    try:
        tokens = TokenStore.load(config.tokens_file, config.tokens)
    except AuthError as exc:
        fail(str(exc), json_mode=False)
    key_file = config.signing_key_file or settings.home / "gateway" / "signing-key.pem"
    try:
        signer = Signer.load_or_create(key_file)
    except (OSError, ValueError) as exc:
        fail(f"signing key {key_file}: {exc}", json_mode=False)
    from agentmesh.core.policy import PolicyError

    try:
        app = create_app(settings, config, tokens=tokens, signer=signer)
    except PolicyError as exc:  # the policy decides submitted tasks' budgets
        fail(str(exc), json_mode=False)
    err_console.print(
        f"gateway for namespace {settings.namespace} on http://{host or config.host}:"
        f"{port or config.port} (signing key {signer.key_id})"
    )
    from agentmesh.gateway import redact_access_log

    redact_access_log()
    import uvicorn  # agentmesh-gateway's dependency: after it, so a missing gateway is named

    uvicorn.run(app, host=host or config.host, port=port or config.port, log_level="info")
