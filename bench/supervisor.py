"""Events per second one supervisor process folds, against a bare faust counter, on a real broker.

``.venv/bin/python -m bench.supervisor [--events 20000] [--reps 3] [--json]``: in every
repetition, a fresh namespace's ``<ns>.events`` (6 partitions) is filled with N Avro
``AgentEvent`` records of a busy mesh (half model calls with tokens and cost, a quarter tool
calls, a quarter ``step_finished`` with one handoff, over 500 tasks) before any consumer
starts. Then two faust workers read that same backlog from the beginning, one after the
other, each in a process of its own:

(a) a bare faust app whose one agent counts the events per key in a changelog-backed table
    (same ``read_committed`` transport and client settings as the supervisor);
(b) agentmesh's supervisor with budgets, loop limits, breakers and tenant spend limits on
    (none ever reached): decode, fold into the task's ledger, breaker and spend signals;
(c) a faust agent that only iterates the events: the ceiling of any faust stream here.

Each times its fold from the first event to the N-th (start-up and the consumer group's
rebalance are outside the window). The cases take turns, like ``bench.codec``; the report
gives the medians, the ratios (b)/(a) and (b)/(c), and whether (b) reaches the goal of
20,000 events/s per process. ``--tasks`` sets how many tasks the events belong to: the
supervisor stores each task's ledger once per batch of events, so fewer, busier tasks fold
faster. Needs the broker and registry: ``.venv/bin/agentmesh infra up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, partition_count
from agentmesh.supervisor._topology import ensure_supervisor_topics
from bench._hop_driver import UnreachableError, check_reachable, delete_namespace
from bench._stats import Measurement, format_table, positive_int
from bench._supervisor_child import RESULT
from bench._supervisor_load import Mix, fill_events, make_events

__all__ = ["GOAL_EVENTS_PER_S", "Config", "Report", "main", "run"]

GOAL_EVENTS_PER_S = 20_000
_ROOT = Path(__file__).resolve().parent.parent  # where `bench` is importable from
CASES = {
    "a": ("baseline", "(a) bare faust table counter"),
    "b": ("supervisor", "(b) agentmesh supervisor"),
    "c": ("floor", "(c) faust stream, nothing done"),
}


@dataclass(frozen=True)
class Config:
    """One run's sizes and where it runs."""

    settings: Settings  # its namespace is the prefix: repetition r uses `<prefix>.r<r>`
    events: int
    reps: int
    tasks: int = 500
    partitions: int = 6
    keep_topics: bool = False
    loglevel: str = "info"
    start_timeout_s: float = 120.0


@dataclass(frozen=True)
class Run:
    """One case's timed fold in one repetition."""

    events: int
    elapsed_s: float
    cpu_s: float
    failed: int = 0  # events whose fold raised (faust restarted the agent and skipped them)
    crashes: tuple[str, ...] = ()  # the worker log's agent crash reasons

    @property
    def per_s(self) -> float:
        return self.events / self.elapsed_s


@dataclass(frozen=True)
class Report:
    """Every run of both cases, and what they read."""

    runs: dict[str, list[Run]]
    mix: Mix
    config: Config
    load_average: tuple[float, float, float]  # at the start: other work on the machine

    def measurement(self, key: str) -> Measurement:
        return Measurement(CASES[key][1], tuple(r.elapsed_s / r.events for r in self.runs[key]))

    def cpu_us_per_event(self, key: str) -> float:
        return statistics.median(r.cpu_s / r.events * 1e6 for r in self.runs[key])

    @property
    def ratio(self) -> float:
        """(b)'s events/s over (a)'s, at the medians."""
        return self.measurement("b").times_faster_than(self.measurement("a"))

    @property
    def cpu_ratio(self) -> float:
        """(b)'s events per CPU-second over (a)'s: steadier when other processes compete."""
        return self.cpu_us_per_event("a") / self.cpu_us_per_event("b")

    @property
    def of_floor(self) -> float:
        """(b)'s events/s as a fraction of (c)'s: how much of faust's ceiling it reaches."""
        return self.measurement("b").times_faster_than(self.measurement("c"))

    @property
    def goal_met(self) -> bool:
        return self.measurement("b").ops_per_s >= GOAL_EVENTS_PER_S

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable form printed by ``--json``."""
        rows = []
        for key in CASES:
            m = self.measurement(key)
            rows.append(
                {
                    "case": key,
                    "name": m.name,
                    "events_per_s": m.ops_per_s,
                    "us_per_event": m.median_s * 1e6,
                    "cpu_us_per_event": self.cpu_us_per_event(key),
                    "spread": m.spread,
                    "runs_events_per_s": [r.per_s for r in self.runs[key]],
                    "failed_events": [r.failed for r in self.runs[key]],
                    "agent_crashes": [list(r.crashes) for r in self.runs[key]],
                }
            )
        return {
            "benchmark": "supervisor",
            "events": self.config.events,
            "timed_events_per_run": self.config.events - 1,
            "reps": self.config.reps,
            "partitions": self.config.partitions,
            "loglevel": self.config.loglevel,
            "mix": self.mix.as_dict(),
            "rows": rows,
            "ratio_b_over_a": self.ratio,
            "cpu_ratio_b_over_a": self.cpu_ratio,
            "ratio_b_over_c": self.of_floor,
            "load_average": list(self.load_average),
            "goal": {"events_per_s": GOAL_EVENTS_PER_S, "met": self.goal_met},
            "namespace": self.config.settings.namespace,
            "bootstrap": self.config.settings.bootstrap,
        }


def progress(message: str) -> None:
    print(f"[bench.supervisor] {message}", file=sys.stderr, flush=True)


async def run(config: Config) -> Report:
    """Fill a namespace per repetition, time (a) then (b) on its backlog, return the report."""
    await check_reachable(config.settings)
    load = os.getloadavg()
    progress(f"making {config.events:,} events over {config.tasks} tasks")
    events = make_events(config.events, config.tasks)
    runs: dict[str, list[Run]] = {key: [] for key in CASES}
    mix: Mix | None = None
    with tempfile.TemporaryDirectory(prefix="bench-supervisor-") as scratch:
        for rep in range(1, config.reps + 1):
            settings = config.settings.model_copy(
                update={"namespace": f"{config.settings.namespace}.r{rep}"}
            )
            try:
                mix = await _fill(settings, config, events)
                for key, (case, name) in CASES.items():
                    progress(f"rep {rep}/{config.reps}: {name}: starting")
                    result = await _run_child(case, settings, config, Path(scratch))
                    runs[key].append(result)
                    progress(
                        f"rep {rep}/{config.reps}: {name}: {result.per_s:,.0f} events/s "
                        f"({result.events:,} in {result.elapsed_s:.2f} s, "
                        f"{result.cpu_s / result.events * 1e6:.0f} CPU us/event)"
                    )
                    for note in _crash_notes(f"{name}, rep {rep}", result):
                        progress(note)
            finally:
                if not config.keep_topics:
                    with contextlib.suppress(Exception):
                        await delete_namespace(settings)
    assert mix is not None
    return Report(runs, mix, config, load)


async def _fill(settings: Settings, config: Config, events: Sequence[Any]) -> Mix:
    conn = KafkaConnection.from_settings(settings)
    topic = Topics(settings.namespace).events
    if await partition_count(conn, topic, timeout_s=0.5) > 0:
        raise RuntimeError(f"{topic} exists already; the benchmark needs a fresh namespace")
    await ensure_supervisor_topics(conn, settings, partitions=config.partitions)
    progress(f"filling {topic} with {len(events):,} events")
    return await fill_events(settings, list(events))


async def _run_child(case: str, settings: Settings, config: Config, scratch: Path) -> Run:
    """Run one case's worker until it reports its fold; stop it; return its timing."""
    log = scratch / f"{settings.namespace}.{case}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        # faust makes `<app id>-data` in the working directory unless told otherwise.
        "APP_DATADIR": str(scratch / "{conf.name}-data"),
    }
    argv = [
        sys.executable,
        "-m",
        "bench._supervisor_child",
        case,
        "--namespace",
        settings.namespace,
        "--events",
        str(config.events),
        "--bootstrap",
        settings.bootstrap,
        "--registry-url",
        settings.registry_url,
        "--partitions",
        str(config.partitions),
        "--loglevel",
        config.loglevel,
    ]
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=err, env=env
        )
    try:
        timeout = config.start_timeout_s + config.events / 500
        try:
            result = await asyncio.wait_for(_result(proc), timeout)
        except TimeoutError:
            result = None
        if result is None:
            raise RuntimeError(
                f"{case} worker gave no result (exit code {proc.returncode}):\n"
                + log.read_text(errors="replace")[-4000:]
            )
        # faust's shutdown (commit, changelog flush, leaving the group) is not timed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 30)
        crashes = tuple(
            line.partition("Crashed reason=")[2][:300]
            for line in log.read_text(errors="replace").splitlines()
            if "Crashed reason=" in line
        )
        result = dataclasses.replace(result, crashes=crashes)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
    return result


async def _result(proc: asyncio.subprocess.Process) -> Run | None:
    assert proc.stdout is not None
    async for line in proc.stdout:
        # The worker's spinner may have left terminal escapes before it on the line.
        _, marker, found_json = line.decode(errors="replace").partition(RESULT)
        if marker:
            found = orjson.loads(found_json)
            return Run(found["events"], found["elapsed_s"], found["cpu_s"], found["failed"])
    return None


def _crash_notes(where: str, run: Run) -> list[str]:
    notes = []
    if run.failed:
        notes.append(
            f"warning: {where}: {run.failed} event(s) raised out of the agent; faust restarted "
            "it and acked them, so they were skipped, never folded"
        )
    notes.extend(f"warning: {where}: agent crashed: {reason}" for reason in run.crashes)
    return notes


def render(report: Report) -> str:
    """The human-readable report: per-run rates, medians, the ratio, the goal."""
    rows = []
    for key in CASES:
        m = report.measurement(key)
        rows.append(
            [
                m.name,
                f"{m.ops_per_s:,.0f}",
                f"{m.median_s * 1e6:.0f}",
                f"{report.cpu_us_per_event(key):.0f}",
                f"{m.spread:.0%}",
                ", ".join(f"{r.per_s:,.0f}" for r in report.runs[key]),
            ]
        )
    table = format_table(
        ["case", "events/s", "us/event", "CPU us/event", "spread", "runs (events/s)"], rows
    )
    c, b = report.config, report.measurement("b")
    verdict = "met" if report.goal_met else "NOT met"
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in report.mix.kinds.items())
    return "\n".join(
        [
            f"fold of {c.events:,} Avro AgentEvents ({kinds}; {report.mix.tasks} tasks) "
            f"from {c.partitions} partitions, one worker process per case",
            f"median of {c.reps} runs, each timed from the first event folded to the last",
            "",
            table,
            "",
            f"(b)/(a) events/s: {report.ratio:.2f}x (median of {c.reps} runs; machines are "
            "noisy: compare ratios)",
            f"(b)/(a) events per CPU-second: {report.cpu_ratio:.2f}x (steadier when other "
            f"processes compete; load average at the start: "
            f"{', '.join(f'{x:.1f}' for x in report.load_average)})",
            f"(b)/(c) events/s: {report.of_floor:.2f}x of what a faust stream that does "
            "nothing reaches on this machine",
            f"goal: >= {GOAL_EVENTS_PER_S:,} events/s per supervisor process: {verdict} "
            f"({b.ops_per_s:,.0f}/s; faust's own ceiling here: "
            f"{report.measurement('c').ops_per_s:,.0f}/s)",
            *(
                note
                for key in CASES
                for i, run in enumerate(report.runs[key], 1)
                for note in _crash_notes(f"{CASES[key][1]}, rep {i}", run)
            ),
        ]
    )


def _events(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.supervisor",
        description="Events/s folded by one agentmesh supervisor process (budgets and "
        "breakers on) against a bare faust agent counting the same events, on a real Kafka "
        "broker. Start one with `.venv/bin/agentmesh infra up`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # The defaults take about 3 minutes in all on a 2-core machine.
    parser.add_argument("--events", type=_events, default=20_000, help="events in the backlog (N)")
    parser.add_argument("--reps", type=positive_int, default=3, help="turns of a, b, c")
    parser.add_argument(
        "--tasks", type=positive_int, default=500, help="tasks the events are spread over"
    )
    parser.add_argument(
        "--loglevel",
        choices=["debug", "info", "warn", "error", "crit"],
        default="info",
        help="of both faust workers (info: what `agentmesh run supervisor` uses); at warn and "
        "above faust's progress spinner turns on every logger's DEBUG records",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    parser.add_argument("--registry-url", help="schema registry URL (default: settings)")
    parser.add_argument(
        "--namespace",
        help="topic prefix: repetition r uses <namespace>.r<r> (default: a fresh "
        "bench-sup-<uuid>, whose topics are deleted at the end; a given namespace's are kept)",
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the fresh namespace's topics too"
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "namespace": args.namespace or f"bench-sup-{uuid.uuid4().hex[:12]}"
    }
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if args.registry_url:
        overrides["schema_registry_url"] = args.registry_url
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 2 when the broker or registry is unreachable."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = Config(
        settings=_settings(args),
        events=args.events,
        reps=args.reps,
        tasks=args.tasks,
        loglevel=args.loglevel,
        keep_topics=args.keep_topics or args.namespace is not None,
    )
    try:
        report = asyncio.run(run(config))
    except UnreachableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
