"""Tasks per second into the mesh from one process: the Submitter against the per-call path.

``.venv/bin/python -m bench.submit [--reps 3] [--json]`` makes agent ``intake`` exist in a fresh
namespace (inbox topic, registered schema), then, in turns, ``--reps`` times each, puts new
tasks (task record and first handoff, one transaction each task at least) into Kafka:

(a) the baseline: ``submit_task`` as it was before the Submitter (a new transactional
    producer, an admin round trip and schema lookups per task), one task after another;
(b) ``submit_task`` today (a Submitter opened and closed per task);
(c) one open ``Submitter``, each ``submit`` awaited before the next (a commit per task);
(d) one open ``Submitter``, ``submit_many``: tasks in flight together share commits;
(e) the gateway (``agentmesh run gateway`` with ``AGENTMESH_APP``, so input is checked by
    the agent's model), ``POST /v1/tasks`` sent by hey (else wrk) at ``--concurrency``;
(f) ``agentmesh task submit --file`` as a process, start-up included.

Every task is checked against the agent's input model first. The report gives every run,
the median tasks/s of each case, the ratio of each to (a), and whether (d) reaches the goal
of 1,000 tasks/s from one process. Nothing reads the tasks: the measure ends at the commit.
Needs the broker and registry: ``.venv/bin/agentmesh infra up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from agentmesh.agents import Submitter
from agentmesh.contracts import SchemaRegistry
from agentmesh.core import Settings
from bench._gateway_server import MESH, GatewayStartFailed, make_agent_exist, serving
from bench._gateway_tool import LoadFailed, LoadTool, ToolUnavailable, find_tool
from bench._hop_driver import UnreachableError, check_reachable, delete_namespace
from bench._stats import format_table, positive_int
from bench._submit_cases import APP, CASES, Context, Timing

__all__ = ["GOAL_TASKS_PER_S", "Config", "Report", "main", "run"]

GOAL_TASKS_PER_S = 1_000.0
"""What one process should put into the mesh (case d)."""


def progress(message: str) -> None:
    print(f"[bench.submit] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Config:
    """Tasks per run of each case, repetitions, and where it runs."""

    settings: Settings
    sizes: dict[str, int]  # case → tasks per run; a case left out is not measured
    reps: int
    concurrency: int = 64
    keep_topics: bool = False


@dataclass(frozen=True)
class Report:
    config: Config
    runs: dict[str, list[Timing]]
    start_s: float  # opening a Submitter: start-up that (c) and (d) pay once
    tool: LoadTool | None

    def median(self, key: str) -> float:
        return statistics.median(t.tasks_per_s for t in self.runs[key])

    def ratio(self, key: str) -> float:
        """How many times the baseline's rate, at the medians."""
        return self.median(key) / self.median("a")

    @property
    def failures(self) -> dict[str, dict[str, int]]:
        return {
            f"rep {i} {CASES[key][0]}": t.failures
            for key, timings in self.runs.items()
            for i, t in enumerate(timings, 1)
            if t.failures
        }

    @property
    def goal_met(self) -> bool | None:
        return self.median("d") >= GOAL_TASKS_PER_S if "d" in self.runs else None

    def as_dict(self) -> dict[str, Any]:
        rows = [
            {
                "case": key,
                "name": CASES[key][0],
                "tasks_per_run": self.config.sizes[key],
                "tasks_per_s": self.median(key),
                "ms_per_task": 1e3 / self.median(key),
                "ratio_to_a": self.ratio(key),
                "runs_tasks_per_s": [t.tasks_per_s for t in timings],
            }
            for key, timings in self.runs.items()
        ]
        return {
            "benchmark": "submit",
            "reps": self.config.reps,
            "concurrency": self.config.concurrency,
            "submitter_start_ms": self.start_s * 1e3,
            "rows": rows,
            "goal_tasks_per_s": GOAL_TASKS_PER_S,
            "goal_met": self.goal_met,
            "failures": self.failures,
            "tool": self.tool.describe() if self.tool else None,
            "namespace": self.config.settings.namespace,
        }


def run(config: Config, tool: LoadTool | None) -> Report:
    """Prepare the namespace, run the cases in turns, clean up."""
    settings = config.settings
    try:
        with tempfile.TemporaryDirectory(prefix="bench-submit-") as scratch:
            return asyncio.run(_measure(config, tool, Path(scratch)))
    finally:
        if not config.keep_topics:
            with contextlib.suppress(Exception):
                gone = asyncio.run(delete_namespace(settings))
                progress(f"deleted {len(gone)} topics of {settings.namespace}")


async def _measure(config: Config, tool: LoadTool | None, scratch: Path) -> Report:
    settings = config.settings
    await check_reachable(settings)
    progress(f"namespace {settings.namespace}: creating agent 'intake' (inbox and schema)")
    await make_agent_exist(settings)
    registry = SchemaRegistry(settings.registry_url)
    started = time.perf_counter()
    submitter = Submitter(settings, MESH, registry, submitted_by="bench")
    await submitter.start()
    start_s = time.perf_counter() - started
    try:
        with _gateway(config, tool, scratch) as server:
            ctx = Context(settings, registry, submitter, scratch, server, tool, config.concurrency)
            runs = await _turns(config, ctx)
    finally:
        await submitter.stop()
        await registry.close()
    return Report(config, runs, start_s, tool)


@contextlib.contextmanager
def _gateway(config: Config, tool: LoadTool | None, scratch: Path) -> Iterator[Any]:
    if "e" not in config.sizes or tool is None:
        yield None
        return
    progress("starting `python -m agentmesh.cli run gateway` (AGENTMESH_APP set)")
    with serving(config.settings, scratch, app=APP) as server:
        progress(f"gateway ready at {server.url} (pid {server.pid})")
        yield server


async def _turns(config: Config, ctx: Context) -> dict[str, list[Timing]]:
    """Each case once untimed (small), then every case in turn, ``reps`` times."""
    keys = [k for k in CASES if k in config.sizes]
    for key in keys:
        await CASES[key][1](ctx, min(config.sizes[key], 20))
    runs: dict[str, list[Timing]] = {key: [] for key in keys}
    for rep in range(1, config.reps + 1):
        for key in keys:
            timing = await CASES[key][1](ctx, config.sizes[key])
            runs[key].append(timing)
            wrong = f"; UNEXPECTED {timing.failures}" if timing.failures else ""
            progress(
                f"rep {rep}/{config.reps}: {CASES[key][0]}: {timing.tasks:,} tasks in "
                f"{timing.seconds:.2f} s, {timing.tasks_per_s:,.0f} tasks/s{wrong}"
            )
    return runs


def render(report: Report) -> str:
    """Every run, the medians, the ratios to (a), the goal."""
    per_run = format_table(
        ["run", "tasks", "seconds", "tasks/s"],
        [
            [
                f"rep {i} {CASES[key][0]}",
                f"{t.tasks:,}",
                f"{t.seconds:.2f}",
                f"{t.tasks_per_s:,.0f}",
            ]
            for key, timings in report.runs.items()
            for i, t in enumerate(timings, 1)
        ],
    )
    medians = format_table(
        ["case (median)", "tasks/s", "ms/task", "vs (a)"],
        [
            [
                CASES[key][0],
                f"{report.median(key):,.1f}",
                f"{1e3 / report.median(key):.3f}",
                f"{report.ratio(key):,.1f}x",
            ]
            for key in report.runs
        ],
    )
    lines = [
        f"tasks into the mesh from one process: {report.config.reps} reps taking turns; "
        f"opening a Submitter took {report.start_s * 1e3:.0f} ms (paid once by c and d)",
        "",
        per_run,
        "",
        medians,
        "",
        *_summary(report),
    ]
    if report.failures:
        lines += ["", "UNEXPECTED results (these runs' figures are suspect):"]
        lines += [f"  {run}: {wrong}" for run, wrong in report.failures.items()]
    return "\n".join(lines)


def _summary(report: Report) -> list[str]:
    lines = []
    if "d" in report.runs:
        verdict = "met" if report.goal_met else "NOT met"
        lines.append(
            f"goal: {GOAL_TASKS_PER_S:,.0f} tasks/s from one process: {verdict} "
            f"((d) {report.median('d'):,.0f} tasks/s, {report.ratio('d'):,.1f}x (a))"
        )
    if "e" in report.runs:
        lines.append(
            f"gateway: {report.median('e'):,.0f} tasks/s at concurrency "
            f"{report.config.concurrency} with {report.tool.describe() if report.tool else '?'}"
        )
    lines.append(f"median of {report.config.reps} runs; the machine is noisy: compare ratios")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.submit",
        description="Tasks/s into the mesh: the Submitter (one producer, group commit), the "
        "gateway and `task submit --file`, against the old per-call path. Start the broker "
        "with `.venv/bin/agentmesh infra up`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # The defaults take about two minutes on a 2-core machine.
    sizes = {"a": 40, "b": 40, "c": 300, "d": 5_000, "e": 3_000, "f": 5_000}
    for key, default in sizes.items():
        parser.add_argument(
            f"--tasks-{key}",
            type=int,
            default=default,
            help=f"tasks per run of {CASES[key][0]} (0: leave the case out)",
        )
    parser.add_argument("--reps", type=positive_int, default=3, help="turns of every case")
    parser.add_argument(
        "--concurrency", type=positive_int, default=64, help="requests in flight to the gateway"
    )
    parser.add_argument("--tool", choices=["auto", "hey", "wrk"], default="auto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    parser.add_argument("--registry-url", help="schema registry URL (default: settings)")
    parser.add_argument(
        "--namespace",
        help="topic prefix (default: a fresh bench-sub-<uuid>, whose topics are deleted at "
        "the end; a given namespace's topics are kept)",
    )
    parser.add_argument("--keep-topics", action="store_true")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "namespace": args.namespace or f"bench-sub-{uuid.uuid4().hex[:12]}"
    }
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if args.registry_url:
        overrides["schema_registry_url"] = args.registry_url
    return Settings(**overrides)


def _tool(choice: Literal["auto", "hey", "wrk"]) -> LoadTool | None:
    """hey or wrk for (e); without one, (e) is left out and the progress says so."""
    try:
        tool = find_tool(choice, say=progress)
    except ToolUnavailable as exc:
        progress(f"no load tool, so no gateway case: {exc}")
        return None
    progress(f"load tool: {tool.describe()}")
    return tool


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report.

    Exit status: 0; 1 when some submission failed (the report says which); 2 when the
    broker or registry is unreachable.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # a new topic's leader elections
    sizes = {k: getattr(args, f"tasks_{k}") for k in CASES if getattr(args, f"tasks_{k}") > 0}
    sizes.setdefault("a", 1)  # the baseline every ratio is taken against
    tool = _tool(args.tool) if "e" in sizes else None
    if tool is None:
        sizes.pop("e", None)
    config = Config(
        settings=_settings(args),
        sizes=sizes,
        reps=args.reps,
        concurrency=args.concurrency,
        keep_topics=args.keep_topics or args.namespace is not None,
    )
    try:
        report = run(config, tool)
    except UnreachableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (GatewayStartFailed, LoadFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
