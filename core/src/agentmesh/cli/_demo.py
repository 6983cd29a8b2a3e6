"""``agentmesh demo``: the whole mesh on this machine, with a demo task (what `make run` runs)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.markup import escape

from agentmesh.cli._apps import forget_demo, load_app, remember_demo
from agentmesh.cli._output import RichReporter, err_console, fail, out_console, shell_command
from agentmesh.core import Settings, get_settings

if TYPE_CHECKING:
    from agentmesh.cli._launcher import AgentProcesses
    from agentmesh.contracts import AgentEvent
    from agentmesh.core.views import TaskTimeline

__all__ = ["demo"]

DEFAULT_APP = "agentmesh_examples.research:mesh"


def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit when the demo task ends (0 if it completed).")
    ] = False,
    app: Annotated[
        str | None, typer.Option("--app", help="The mesh (default: the sample research mesh).")
    ] = None,
    entry: Annotated[str, typer.Option(help="The agent that receives the task.")] = "planner",
    input_json: Annotated[
        str | None,
        typer.Option("--input", help="Task payload JSON (default: the app's DEMO_INPUT)."),
    ] = None,
    timeout_s: Annotated[float, typer.Option(help="How long the demo task may take.")] = 300.0,
) -> None:
    """Run the whole mesh locally and put a demo task through it.

    Brings up the local Kafka broker and schema registry unless AGENTMESH_KAFKA_BOOTSTRAP is
    set, starts every agent, the supervisor and the gateway as its own OS process (logs under
    AGENTMESH_DATA_DIR/demo), submits the task, shows its progress live (hops, tokens, cost)
    and prints the result. The app's module may offer DEMO_INPUT (the task when --input is
    not given) and DEMO_POLICY (the policy file when AGENTMESH_POLICY is not set); the sample
    research mesh offers both.
    Without --once it keeps the mesh running for more tasks until Ctrl-C, then stops
    everything it started.
    """
    settings = get_settings()
    spec = app or settings.app or DEFAULT_APP
    mesh = load_app(spec, json_mode=False)
    assert mesh is not None
    extras = _demo_extras(spec)
    payload = _demo_payload(spec, input_json, extras)
    if settings.policy is None and "DEMO_POLICY" in extras:
        settings = settings.model_copy(update={"policy": extras["DEMO_POLICY"]})
    started_infra = _infra_up(settings)
    from agentmesh.cli._launcher import AgentProcesses, LaunchError

    gateway = _gateway_env()
    procs = AgentProcesses(
        spec,
        list(mesh.agents),
        settings,
        settings.local_dir / "demo",
        supervisor=True,
        gateway_env=gateway.env,
    )
    code = 1
    try:
        code = asyncio.run(
            _run(settings, procs, spec, entry=entry, payload=payload, timeout_s=timeout_s)
        )
        if code == 0:
            gateway.announce()
        if code == 0 and not once:
            remember_demo(settings, spec)
            _serve_until_interrupted(procs, entry)
    except KeyboardInterrupt:
        err_console.print("interrupted")
    except LaunchError as exc:  # a process refused to start: its own words say why
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
    finally:
        forget_demo(settings)
        err_console.print("stopping agents ...")
        procs.stop()
        if started_infra:
            from agentmesh.infra import LocalInfra

            LocalInfra(settings).down(only=started_infra)
            err_console.print(f"stopped {', '.join(started_infra)}")
    raise typer.Exit(code)


class _DemoGateway:
    """The gateway `make run` starts: a free port, and fresh tokens printed for the user."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.tokens = {role: secrets.token_urlsafe(18) for role in ("admin", "reviewer")}
        self.env = {
            "AGENTMESH_GATEWAY_PORT": str(port),
            "AGENTMESH_GATEWAY_TOKENS": ";".join(
                f"demo-{role}:{token}:{role}" for role, token in self.tokens.items()
            ),
        }

    def announce(self) -> None:
        url = f"http://127.0.0.1:{self.port}"
        out_console.print(
            f"gateway: {url} (reviewer page), {url}/docs (API); tokens for this run: "
            f"reviewer {self.tokens['reviewer']}, admin {self.tokens['admin']}",
            highlight=False,
        )


def _demo_extras(spec: str) -> dict[str, Any]:
    """What the app's module offers the demo: ``DEMO_INPUT`` (the task) and ``DEMO_POLICY``."""
    import importlib

    module = importlib.import_module(spec.partition(":")[0])
    return {k: getattr(module, k) for k in ("DEMO_INPUT", "DEMO_POLICY") if hasattr(module, k)}


def _demo_payload(spec: str, input_json: str | None, extras: dict[str, Any]) -> Any:
    """The task to submit: --input, else the app's DEMO_INPUT."""
    if input_json:
        try:
            return orjson.loads(input_json)
        except orjson.JSONDecodeError as exc:
            fail(f"--input is not valid JSON: {exc}", json_mode=False, code=2)
    if "DEMO_INPUT" not in extras:
        fail(f"{spec} has no DEMO_INPUT: pass the task with --input JSON", json_mode=False, code=2)
    return extras["DEMO_INPUT"]


def _gateway_env() -> _DemoGateway:
    import socket

    from agentmesh.gateway import GatewayConfig

    wanted = GatewayConfig().port
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
            port = wanted
        except OSError:
            probe.bind(("127.0.0.1", 0))  # the usual port is taken: any free one
            port = probe.getsockname()[1]
    return _DemoGateway(port)


def _infra_up(settings: Settings) -> list[str]:
    from agentmesh.infra import InfraError, LocalInfra

    try:
        with RichReporter() as reporter:
            return LocalInfra(settings, reporter).up().started
    except InfraError as exc:
        fail(str(exc), json_mode=False)


async def _run(
    settings: Settings,
    procs: AgentProcesses,
    spec: str,
    *,
    entry: str,
    payload: Any,
    timeout_s: float,
) -> int:
    from agentmesh.agents import load_mesh
    from agentmesh.agents._submit import submit_task
    from agentmesh.cli._task import describe
    from agentmesh.contracts import SchemaRegistry
    from agentmesh.core.views import read_timeline

    err_console.print(f"starting {', '.join(procs.names)} (one process each) ...")
    procs.start()
    await procs.wait_ready()
    registry = SchemaRegistry(settings.registry_url)
    try:
        task = await submit_task(
            settings, load_mesh(spec), entry, payload, registry, submitted_by="demo"
        )
    finally:
        await registry.close()
    out_console.print(f"submitted task {task.task_id} to {entry}", highlight=False)
    start = time.monotonic()

    def show(t: TaskTimeline, e: AgentEvent) -> None:
        out_console.print(
            f"{time.monotonic() - start:6.2f}s {e.agent:<10} {describe(e)[:56]:<56} "
            f"[dim]hops {t.hops} tokens {t.tokens} ${t.cost_usd:.6f}[/]",
            highlight=False,
            soft_wrap=True,
        )

    timeline = await read_timeline(
        settings, task.task_id, until_finished=True, timeout_s=timeout_s, on_event=show
    )
    return _report(timeline, time.monotonic() - start, procs)


def _report(t: TaskTimeline, elapsed: float, procs: AgentProcesses) -> int:
    if t.output_json is None:
        reason = (
            t.failure or f"no result within the timeout (dead agents: {procs.dead() or 'none'})"
        )
        err_console.print(f"[bold red]demo task did not complete:[/] {reason}", highlight=False)
        return 1
    output = orjson.loads(t.output_json)
    out_console.rule("result")
    text = output.get("text") if isinstance(output, dict) else None
    out_console.print(
        text
        if isinstance(text, str)
        else orjson.dumps(output, option=orjson.OPT_INDENT_2).decode(),
        highlight=False,
    )
    out_console.rule()
    out_console.print(
        f"completed in {elapsed:.2f}s (submit to result): {t.hops} hops, {t.steps} steps, "
        f"{t.llm_calls} LLM calls, {t.tool_calls} tool calls, {t.tokens} tokens, "
        f"${t.cost_usd:.6f}",
        highlight=False,
    )
    cli = shell_command()
    out_console.print(
        f"next: `{cli} task show {t.task_id}` for the timeline; agent logs in "
        f"{procs.log_dir}; `{cli} contracts asyncapi --app {procs.app}` for every topic",
        highlight=False,
    )
    return 0


def _serve_until_interrupted(procs: AgentProcesses, entry: str) -> None:
    err_console.print(
        f"the mesh keeps running: submit more with `{shell_command()} task submit {entry} --input "
        '\'{"question": "..."}\'`; Ctrl-C stops everything'
    )
    while True:
        time.sleep(1)
        dead = procs.dead()
        if dead:
            err_console.print(f"[bold red]agent(s) exited:[/] {dead}\n{procs.tail(dead[0])}")
            return
