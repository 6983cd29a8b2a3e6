"""``agentmesh replay``: what the mesh did, replayed for debugging."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from agentmesh.cli._apps import AppOption, load_app, running_demo_app
from agentmesh.cli._output import JsonOption, err_console, fail, out_console, print_json
from agentmesh.core import get_settings

__all__ = ["replay_app"]

replay_app = typer.Typer(
    help="Replay what the mesh did: a task's whole story, its re-run against new code (or a "
    "fork from one of its steps), or a slice of the topics copied into a sandbox namespace.",
    no_args_is_help=True,
)


@replay_app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    json_mode: JsonOption = False,
) -> None:
    """Print the task as a tree of steps (fan-out and fan-in visible): each step's input,
    every model and tool call with what it asked and answered (from <ns>.recordings), what it
    handed on, its tokens, cost and time; then every supervisor decision about the task."""
    from agentmesh.cli._story import print_story
    from agentmesh.core.views._story import read_story

    settings = get_settings()
    try:
        story = asyncio.run(read_story(settings, task_id))
    except LookupError as exc:
        fail(str(exc), json_mode=json_mode)
    if not story.roots:
        fail(
            f"nothing recorded for task {task_id} in namespace {settings.namespace}",
            json_mode=json_mode,
        )
    if json_mode:
        print_json(story.as_json())
        return
    print_story(story)


@replay_app.command("run")
def run_again(
    task_id: Annotated[str, typer.Argument(help="The recorded task's id.")],
    app: AppOption = None,
    live_from: Annotated[
        str | None,
        typer.Option(
            "--live-from",
            help="Fork: recorded answers before this step (a handoff id, or its number in "
            "the order `replay run` lists), the mesh's model and tools called for real from "
            "it on (metered and budgeted); prints the new outcome beside the original.",
        ),
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Re-run every recorded step of the task through the mesh (--app, default the
    configured one) in this process, with each step's recorded input and every model and
    tool answer served from <ns>.recordings: nothing is called, paid or written (a call the
    recording does not have is refused and reported). Says per step whether the code did the
    same thing (model requests, tool calls, handoffs, result); at the first divergence names
    the step, the agent and what differs, and exits 1 (also when a step's handoffs could not
    be compared: recorded before steps kept their outcome, and the events expired)."""
    from agentmesh.agents._replay import replay_task
    from agentmesh.core.policy import load_policy
    from agentmesh.core.views import read_timeline
    from agentmesh.core.views._recordings import read_recordings

    settings = get_settings()
    mesh = load_app(app or settings.app or running_demo_app(settings), json_mode=json_mode)
    if mesh is None:
        fail("name the mesh to run: --app pkg.module:mesh (or AGENTMESH_APP)", json_mode=json_mode)
    policy = None if settings.policy is None else load_policy(settings.policy)

    async def replay() -> Any:
        recordings = await read_recordings(settings, task_id)
        events = (await read_timeline(settings, task_id)).events
        if not any(r.kind == "step_input" for r in recordings):
            fail(
                f"task {task_id} has no recorded steps in {settings.namespace}", json_mode=json_mode
            )
        return await replay_task(mesh, task_id, recordings, events, policy)

    if live_from is not None:
        _fork(settings, mesh, task_id, live_from, policy, json_mode)
        return
    report = asyncio.run(replay())
    _print_replay(report, json_mode)
    raise typer.Exit(0 if report.first_divergence is None else 1)


def _fork(  # noqa: PLR0917 - the command's own values, passed on
    settings: Any, mesh: Any, task_id: str, live_from: str, policy: Any, json_mode: bool
) -> None:
    from agentmesh.agents._fork import fork_task
    from agentmesh.core.views import read_timeline
    from agentmesh.core.views._recordings import read_recordings

    async def fork() -> Any:
        recordings = await read_recordings(settings, task_id)
        events = (await read_timeline(settings, task_id)).events
        return await fork_task(
            mesh, task_id, recordings, events, live_from=live_from, policy=policy
        )

    try:
        report = asyncio.run(fork())
    except LookupError as exc:
        fail(str(exc), json_mode=json_mode, code=2)
    steps = [
        {
            "handoff_id": s.handoff_id,
            "agent": s.agent,
            "live": s.live,
            "outcome": s.outcome,
            "stopped": s.stopped,
            "usage": s.usage.as_json(),
        }
        for s in report.steps
    ]
    if json_mode:
        print_json(
            {
                "task_id": task_id,
                "fork_at": report.fork_at,
                "steps": steps,
                "original_output": report.original_output,
                "original_usage": report.original_usage.as_json(),
                "output": report.output,
                "usage": report.usage.as_json(),
            }
        )
        return
    for step in report.steps:
        how = "live" if step.live else "recorded"
        spent = f"{step.usage.tokens} tokens, ${step.usage.cost_usd:.6f}" if step.live else ""
        out_console.print(
            f"{step.agent:<14} {step.handoff_id}  {how:<8} {step.outcome}  {spent}",
            highlight=False,
            markup=False,
        )
        if step.stopped:
            out_console.print(f"  {step.stopped}", highlight=False, markup=False)
    before, now = report.original_usage, report.usage
    out_console.print(
        f"original: {report.original_output}  ({before.tokens} tokens, ${before.cost_usd:.6f})",
        highlight=False,
        markup=False,
    )
    out_console.print(
        f"fork:     {report.output}  ({now.tokens} tokens, ${now.cost_usd:.6f} live)",
        highlight=False,
        markup=False,
    )


def _print_replay(report: Any, json_mode: bool) -> None:
    if json_mode:
        print_json(
            {
                "task_id": report.task_id,
                "same": report.first_divergence is None,
                "steps": [
                    {
                        "handoff_id": s.handoff_id,
                        "agent": s.agent,
                        "same": s.same,
                        "differences": s.differences,
                        "output": s.output,
                    }
                    for s in report.steps
                ],
            }
        )
        return
    for step in report.steps:
        verdict = "same" if step.same else "[bold red]DIVERGES[/]"
        out_console.print(f"{step.agent:<14} {step.handoff_id}  {verdict}")
        for difference in step.differences:
            out_console.print(f"  {difference}", highlight=False, markup=False)
    diverged = report.first_divergence
    if diverged is None:
        out_console.print(f"{len(report.steps)} steps replayed: no divergence")
    else:
        out_console.print(f"first divergence: step {diverged.handoff_id} ({diverged.agent})")


@replay_app.command("topic")
def topic(  # noqa: PLR0917 - each option is one CLI flag
    into: Annotated[
        str,
        typer.Option(
            "--into", help="A fresh namespace to copy into (its topics must not exist yet)."
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(help="Only records from this time on: 10m, 2h, 3d ago, or ISO 8601."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only records up to this time (same forms as --since).")
    ] = None,
    from_offsets: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start offsets as TOPIC:PARTITION=OFFSET,... with the topic named without "
            "its namespace (events:0=120,agent.writer:2=15); other partitions start at "
            "--since or the beginning.",
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Only the records of this task (by its id).")
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Copy the mesh's records (tasks, agent inboxes, events, reviews, dead letters, claims,
    recordings) for a time range, from given offsets or for one task, into a fresh namespace,
    schemas included, so agents can be run against them there with
    AGENTMESH_NAMESPACE=<into>. The source namespace is only read."""
    from agentmesh.core.replay import SliceError, SliceSpec, copy_slice, parse_offsets
    from agentmesh.core.views import parse_since

    settings = get_settings()
    try:
        spec = SliceSpec(
            into=into,
            since=None if since is None else parse_since(since),
            until=None if until is None else parse_since(until),
            task_id=task,
            from_offsets=parse_offsets(from_offsets or ""),
        )
    except ValueError as exc:
        fail(str(exc), json_mode=json_mode, code=2)

    def progress(line: str) -> None:
        if not json_mode:
            err_console.print(f"copied {line}", highlight=False)

    try:
        report = asyncio.run(copy_slice(settings, spec, progress))
    except SliceError as exc:
        fail(str(exc), json_mode=json_mode, code=2)
    except Exception as exc:  # noqa: BLE001 - reported with what to check, not a traceback
        fail(f"copying {settings.namespace} into {into} failed: {exc}", json_mode=json_mode)
    if json_mode:
        print_json(
            {
                "ok": True,
                "source": report.source,
                "into": report.into,
                "records": report.total,
                "copied": report.copied,
                "schemas_registered": report.schemas,
            }
        )
        return
    out_console.print(
        f"copied {report.total:,} records from {len(report.copied)} topics of "
        f"{report.source} into {report.into} ({report.schemas} schemas registered); run "
        f"agents there with AGENTMESH_NAMESPACE={report.into}",
        highlight=False,
    )
