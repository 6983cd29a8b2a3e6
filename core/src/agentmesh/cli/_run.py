"""``agentmesh run agent NAME``: one agent as its own process."""

from __future__ import annotations

import asyncio
import logging
import os
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

    Start more processes with the same NAME to scale out by partitions (at most one per
    partition of the inbox: a replica beyond that warns and stays unready). SIGTERM or Ctrl-C
    finishes the step in flight, commits its transaction, leaves the group and exits 0 within
    AGENTMESH_DRAIN_GRACE_S; past it, the open transaction is aborted (its work is redone by
    the partition's next owner) and the exit code is 1. kill -9 loses nothing either.
    With AGENTMESH_PROBE_PORT set, serves /healthz, /readyz and /metrics on that port.
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
    if not asyncio.run(_serve(worker, settings.drain_grace_s)):
        fail(
            f"agent {name}: the step in flight did not finish within the drain grace of "
            f"{settings.drain_grace_s:g} s (AGENTMESH_DRAIN_GRACE_S); its transaction was "
            "aborted, so nothing of it is visible, and the partition's next owner redoes it",
            json_mode=False,
        )


async def _serve(worker: object, grace_s: float) -> bool:
    """Run ``worker`` until it stops; False if a drain ran out of grace (work aborted)."""
    from agentmesh.agents._readiness import agent_checks
    from agentmesh.agents._worker import AgentWorker
    from agentmesh.core.probe import start_probe_server

    assert isinstance(worker, AgentWorker)
    settings = worker.settings
    try:
        probe = await start_probe_server(
            settings, agent_checks(worker), f"agent {worker.agent.name}"
        )
    except OSError as exc:  # the port is taken, or the address is not this machine's
        fail(str(exc), json_mode=False)
    stopping = asyncio.Event()

    def stop() -> None:
        if probe is not None:
            probe.drain()
        worker.stop()
        stopping.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    # `kill -USR1 <pid>`: what is every task of a stuck agent waiting on?
    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
    run = asyncio.create_task(worker.run(), name=f"agent-{worker.agent.name}")
    signalled = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait([run, signalled], return_when=asyncio.FIRST_COMPLETED)
        drained = await _drain(run, grace_s)
    finally:
        signalled.cancel()
        if probe is not None:
            await probe.stop()
    if drained:
        run.result()  # a worker that failed: its error
    return drained


_ABORT_S = 5.0  # after the grace: aborting the open transaction and leaving the group


async def _drain(run: asyncio.Task[None], grace_s: float) -> bool:
    """Wait ``grace_s`` for ``run`` to finish; then cancel it, which aborts its transaction."""
    done, _ = await asyncio.wait([run], timeout=grace_s)
    if done:
        return True
    log = logging.getLogger(__name__)
    log.error("drain grace of %g s over with a step in flight: aborting its transaction", grace_s)
    run.cancel()
    done, _ = await asyncio.wait([run], timeout=_ABORT_S)
    if not done:  # asyncio.run would wait for it forever: the broker times the rest out
        log.error("still not stopped %g s after the drain grace; exiting now", _ABORT_S)
        os._exit(1)
    return False


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
    so a restarted supervisor (even after kill -9) resumes with exact ledgers. With
    AGENTMESH_PROBE_PORT set, serves /healthz, /readyz and /metrics on that port; SIGTERM
    stops it within AGENTMESH_DRAIN_GRACE_S.
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
