"""Steps per second `agentmesh replay run` re-runs, against the same tasks run live.

``.venv/bin/python -m bench.replay [--tasks 200] [--reps 3] [--json]``: every repetition
submits N demo tasks of the sample research mesh into a fresh namespace and runs its four
agents in this process on the scripted model until every task has completed (case (a), the
live mesh: Kafka transactions, the journal, recordings, the scripted model); then it reads
the recordings and events back once and re-runs every recorded step of every task with the
recorded answers, in process (case (b), what ``agentmesh replay run`` does per task). Both
are counted in steps (inputs an agent handled) per second; the report gives the medians and
the ratio (b)/(a). Needs the broker and registry: ``.venv/bin/agentmesh infra up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agentmesh.agents import Submission, Submitter
from agentmesh.agents._replay import replay_task
from agentmesh.agents._worker import AgentWorker
from agentmesh.contracts import AgentEvent, Codec, DecodeError, Recording, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, read_tail
from agentmesh_examples import research
from bench._hop_driver import UnreachableError, check_reachable, delete_namespace
from bench._stats import positive_int

__all__ = ["main"]

AGENTS = ("planner", "researcher", "writer", "reviewer")


@dataclass(frozen=True)
class Rep:
    live_steps: int
    live_s: float
    replayed_steps: int
    replay_s: float
    diverged: int

    @property
    def live_per_s(self) -> float:
        return self.live_steps / self.live_s

    @property
    def replay_per_s(self) -> float:
        return self.replayed_steps / self.replay_s


def progress(message: str) -> None:
    print(f"[bench.replay] {message}", file=sys.stderr, flush=True)


async def _live(settings: Settings, tasks: int) -> tuple[int, float]:
    """Submit ``tasks`` demo tasks, run the mesh until all completed: (steps, seconds)."""
    async with Submitter(settings, research.mesh) as submitter:
        batch = [Submission("planner", research.DEMO_INPUT) for _ in range(tasks)]
        for outcome in await submitter.submit_many(batch):
            if isinstance(outcome, BaseException):
                raise outcome
    workers = [AgentWorker(research.mesh, name, settings) for name in AGENTS]
    running = [asyncio.create_task(w.run()) for w in workers]
    start = time.perf_counter()
    try:
        while True:
            events = await _events(settings)
            done = sum(e.body.kind == "task_completed" for e in events)
            if done >= tasks:
                elapsed = time.perf_counter() - start
                return sum(e.body.kind == "step_finished" for e in events), elapsed
            progress(f"live: {done}/{tasks} tasks completed")
            await asyncio.sleep(1.0)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*running, return_exceptions=True)


async def _read(settings: Settings, topic: str, codec: Codec[Any]) -> list[Any]:
    found: list[Any] = []
    async for rec in read_tail(KafkaConnection.from_settings(settings), topic):
        with contextlib.suppress(DecodeError):
            found.append(await codec.decode(rec.value or b""))
    return found


async def _events(settings: Settings) -> list[AgentEvent]:
    topic = Topics(settings.namespace).events
    registry = SchemaRegistry(settings.registry_url)
    try:
        return await _read(settings, topic, Codec(AgentEvent, Topics.subject(topic), registry))
    finally:
        await registry.close()


async def _replayed(settings: Settings) -> tuple[int, float, int]:
    """Every recorded step of every task re-run: (steps, seconds, tasks that diverged)."""
    topic = Topics(settings.namespace).recordings
    registry = SchemaRegistry(settings.registry_url)
    try:
        recordings = await _read(settings, topic, Codec(Recording, Topics.subject(topic), registry))
    finally:
        await registry.close()
    events = await _events(settings)
    by_task: dict[str, tuple[list[Recording], list[AgentEvent]]] = defaultdict(lambda: ([], []))
    for rec in recordings:
        by_task[rec.task_id][0].append(rec)
    for event in events:
        by_task[event.task_id][1].append(event)
    steps, diverged = 0, 0
    start = time.perf_counter()
    for task_id, (recs, evs) in by_task.items():
        report = await replay_task(research.mesh, task_id, recs, evs)
        steps += len(report.steps)
        diverged += report.first_divergence is not None
    return steps, time.perf_counter() - start, diverged


async def run(settings: Settings, tasks: int, reps: int) -> list[Rep]:
    await check_reachable(settings)
    found: list[Rep] = []
    for rep in range(1, reps + 1):
        here = settings.model_copy(update={"namespace": f"{settings.namespace}.r{rep}"})
        try:
            live_steps, live_s = await _live(here, tasks)
            progress(f"rep {rep}: live {live_steps:,} steps in {live_s:.1f} s")
            steps, replay_s, diverged = await _replayed(here)
            progress(f"rep {rep}: replayed {steps:,} steps in {replay_s:.1f} s")
            found.append(Rep(live_steps, live_s, steps, replay_s, diverged))
        finally:
            with contextlib.suppress(Exception):
                await delete_namespace(here)
    return found


def render(reps: list[Rep], tasks: int) -> dict[str, Any]:
    live = statistics.median(r.live_per_s for r in reps)
    replay = statistics.median(r.replay_per_s for r in reps)
    return {
        "benchmark": "replay",
        "tasks": tasks,
        "reps": len(reps),
        "live_steps_per_s": live,
        "replay_steps_per_s": replay,
        "ratio_replay_over_live": replay / live,
        "runs": [
            r.__dict__ | {"live_per_s": r.live_per_s, "replay_per_s": r.replay_per_s} for r in reps
        ],
        "diverged_tasks": [r.diverged for r in reps],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replay",
        description="Steps/s re-run by `agentmesh replay run` (recorded answers, in process) "
        "against the same demo tasks run live through the mesh on the scripted model. Start "
        "the broker with `.venv/bin/agentmesh infra up`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tasks", type=positive_int, default=200, help="demo tasks per rep")
    parser.add_argument("--reps", type=positive_int, default=3, help="repetitions")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    settings = Settings(namespace=f"bench-replay-{uuid.uuid4().hex[:10]}")
    try:
        reps = asyncio.run(run(settings, args.tasks, args.reps))
    except UnreachableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = render(reps, args.tasks)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return 1 if any(report["diverged_tasks"]) else 0
    print(
        f"{args.tasks} demo tasks of the sample mesh, median of {len(reps)} reps\n"
        f"(a) live through the mesh:   {report['live_steps_per_s']:,.0f} steps/s\n"
        f"(b) replay run, in process:  {report['replay_steps_per_s']:,.0f} steps/s\n"
        f"(b)/(a): {report['ratio_replay_over_live']:.1f}x (machines are noisy: compare "
        f"ratios); tasks that diverged on replay: {report['diverged_tasks']}"
    )
    return 1 if any(report["diverged_tasks"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
