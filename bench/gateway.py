"""Request latency of the gateway's task submission, with a real HTTP load tool.

``.venv/bin/python -m bench.gateway [--requests 2000] [--concurrency 8] [--reps 3] [--json]``
starts ``agentmesh run gateway`` as a subprocess, on a free port of this machine, for a fresh
namespace whose one entry agent exists (inbox topic and registered schema, as after its
first task). Then hey (else wrk; either is found or installed, see ``bench._gateway_tool``)
sends, in turns, ``--reps`` times each:

(a) ``GET /healthz``: the baseline, the same server, tool, connections and concurrency, with
    no Kafka and no registry behind it: what HTTP, uvicorn and FastAPI cost by themselves;
(b) ``POST /v1/tasks`` with a small valid input and the submitter's token: every request is
    a new task, validated against the agent's registered input schema, its task record and
    first handoff written in one Kafka transaction before the 202.

Each run reports the tool's p50 and p99 latency and requests/s; the report gives every run,
the medians and the ratios (b)/(a). Both cases are warmed up first (untimed). The gateway is
stopped and the namespace's topics are deleted at the end. Needs the broker and registry:
``.venv/bin/agentmesh infra up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from agentmesh.core import Settings
from bench._gateway_server import AGENT, GatewayStartFailed, Server, make_agent_exist, serving
from bench._gateway_tool import (
    LoadFailed,
    LoadRun,
    LoadTool,
    Request,
    ToolUnavailable,
    find_tool,
    run_load,
)
from bench._hop_driver import UnreachableError, check_reachable, delete_namespace
from bench._stats import format_table, positive_int

__all__ = ["CASES", "Config", "Report", "main", "run"]

CASES = {
    "a": "(a) GET /healthz",
    "b": "(b) POST /v1/tasks",
}
EXPECTED = {"a": 200, "b": 202}
INPUT = {"order": "o-1001", "amount": 12.5}


def progress(message: str) -> None:
    print(f"[bench.gateway] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Config:
    """One run's sizes, tool and where it runs."""

    settings: Settings
    requests: int
    concurrency: int
    reps: int
    warmup: int
    tool: Literal["auto", "hey", "wrk"] = "auto"
    keep_topics: bool = False


@dataclass(frozen=True)
class Run:
    rep: int
    case: str
    result: LoadRun

    def as_dict(self) -> dict[str, Any]:
        return {"rep": self.rep, "case": self.case, **self.result.as_dict()}


@dataclass(frozen=True)
class Report:
    """Every run of both cases."""

    config: Config
    tool: LoadTool
    runs: list[Run]

    def of(self, key: str) -> list[LoadRun]:
        return [r.result for r in self.runs if r.case == key]

    def median(self, key: str, what: Literal["p50_s", "p99_s", "requests_per_s"]) -> float:
        return statistics.median(float(getattr(r, what)) for r in self.of(key))

    def ratio(self, what: Literal["p50_s", "p99_s", "requests_per_s"]) -> float:
        """(b) over (a), at the medians."""
        return self.median("b", what) / self.median("a", what)

    def ratios_per_rep(self, what: Literal["p50_s", "p99_s", "requests_per_s"]) -> list[float]:
        """(b) over (a) of each repetition: the two runs next to each other in time."""
        return [
            float(getattr(b, what)) / getattr(a, what)
            for a, b in zip(self.of("a"), self.of("b"), strict=True)
        ]

    @property
    def failures(self) -> dict[str, dict[str, int]]:
        """Unexpected statuses and transport errors, per run that had any."""
        found = {}
        for r in self.runs:
            if wrong := r.result.unexpected(EXPECTED[r.case]):
                found[f"rep {r.rep} {CASES[r.case]}"] = wrong
        return found

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable form printed by ``--json``."""
        c = self.config
        rows = [
            {
                "case": key,
                "name": name,
                "p50_ms": self.median(key, "p50_s") * 1e3,
                "p99_ms": self.median(key, "p99_s") * 1e3,
                "requests_per_s": self.median(key, "requests_per_s"),
            }
            for key, name in CASES.items()
        ]
        return {
            "benchmark": "gateway",
            "tool": {"name": self.tool.name, "version": self.tool.version, "path": self.tool.path},
            "requests": c.requests,
            "concurrency": c.concurrency,
            "reps": c.reps,
            "warmup": c.warmup,
            "runs": [r.as_dict() for r in self.runs],
            "rows": rows,
            "ratios": {
                "p50_b_over_a": self.ratio("p50_s"),
                "p99_b_over_a": self.ratio("p99_s"),
                "requests_per_s_b_over_a": self.ratio("requests_per_s"),
            },
            "ratios_per_rep": {
                "p50_b_over_a": self.ratios_per_rep("p50_s"),
                "p99_b_over_a": self.ratios_per_rep("p99_s"),
                "requests_per_s_b_over_a": self.ratios_per_rep("requests_per_s"),
            },
            "failures": self.failures,
            "namespace": c.settings.namespace,
            "bootstrap": c.settings.bootstrap,
        }


def _requests(server: Server) -> dict[str, Request]:
    auth = {"Authorization": f"Bearer {server.token}"}
    return {
        # The same header on both, so that only what the server does differs.
        "a": Request("GET", f"{server.url}/healthz", auth),
        "b": Request(
            "POST",
            f"{server.url}/v1/tasks",
            {**auth, "Content-Type": "application/json"},
            orjson.dumps({"agent": AGENT, "input": INPUT}),
        ),
    }


def run(config: Config, tool: LoadTool) -> Report:
    """Prepare the namespace, start the gateway, run a and b in turns, clean up."""
    settings = config.settings
    asyncio.run(check_reachable(settings))
    runs: list[Run] = []
    try:
        progress(f"namespace {settings.namespace}: creating agent {AGENT!r} (inbox and schema)")
        asyncio.run(make_agent_exist(settings))
        with tempfile.TemporaryDirectory(prefix="bench-gateway-") as scratch:
            progress("starting `python -m agentmesh.cli run gateway`")
            with serving(settings, Path(scratch)) as server:
                progress(f"gateway ready at {server.url} (pid {server.pid})")
                requests = _requests(server)
                rates: dict[str, float] = {}  # the last rate seen: wrk's runs are timed by it
                for key, name in CASES.items():
                    progress(f"warm-up: {name}: {config.warmup:,} requests")
                    warm = run_load(
                        tool, requests[key], requests=config.warmup, concurrency=config.concurrency
                    )
                    rates[key] = warm.requests_per_s
                for rep in range(1, config.reps + 1):
                    for key, name in CASES.items():
                        result = run_load(
                            tool,
                            requests[key],
                            requests=config.requests,
                            concurrency=config.concurrency,
                            rate_hint=rates[key],
                        )
                        rates[key] = result.requests_per_s
                        runs.append(Run(rep, key, result))
                        wrong = result.unexpected(EXPECTED[key])
                        progress(
                            f"rep {rep}/{config.reps}: {name}: p50 {result.p50_s * 1e3:.2f} ms, "
                            f"p99 {result.p99_s * 1e3:.2f} ms, {result.requests_per_s:,.0f}/s"
                            + (f"; UNEXPECTED {wrong}" if wrong else "")
                        )
            progress("gateway stopped")
    finally:
        if not config.keep_topics:
            with contextlib.suppress(Exception):
                gone = asyncio.run(delete_namespace(settings))
                progress(f"deleted {len(gone)} topics of {settings.namespace}")
    return Report(config, tool, runs)


def render(report: Report) -> str:
    """The human-readable report: every run, the medians, the ratios (b)/(a)."""
    c = report.config
    per_run = format_table(
        ["run", "p50 ms", "p99 ms", "requests/s", "responses"],
        [
            [
                f"rep {r.rep} {CASES[r.case]}",
                f"{r.result.p50_s * 1e3:.2f}",
                f"{r.result.p99_s * 1e3:.2f}",
                f"{r.result.requests_per_s:,.0f}",
                ", ".join(f"{n:,}x{code}" for code, n in sorted(r.result.statuses.items()))
                + "".join(f", {n:,}x {what}" for what, n in r.result.errors.items()),
            ]
            for r in report.runs
        ],
    )
    medians = format_table(
        ["case (median)", "p50 ms", "p99 ms", "requests/s"],
        [
            [
                name,
                f"{report.median(key, 'p50_s') * 1e3:.2f}",
                f"{report.median(key, 'p99_s') * 1e3:.2f}",
                f"{report.median(key, 'requests_per_s'):,.0f}",
            ]
            for key, name in CASES.items()
        ],
    )

    def spread(what: Literal["p50_s", "p99_s", "requests_per_s"]) -> str:
        per_rep = report.ratios_per_rep(what)
        return f"{report.ratio(what):.2f}x ({min(per_rep):.2f}-{max(per_rep):.2f}x per rep)"

    lines = [
        f"gateway request latency with {report.tool.describe()}: {c.requests:,} requests per "
        f"run at concurrency {c.concurrency}, keep-alive, {c.reps} reps taking turns, "
        f"after {c.warmup:,} untimed requests per case",
        f"(b) submits a new task per request to agent {AGENT!r}: {orjson.dumps(INPUT).decode()}",
        "",
        per_run,
        "",
        medians,
        "",
        f"(b)/(a) p50: {spread('p50_s')}",
        f"(b)/(a) p99: {spread('p99_s')}",
        f"(b)/(a) requests/s: {spread('requests_per_s')}",
        f"median of {c.reps} runs; the machine is noisy: compare ratios",
    ]
    if report.failures:
        lines += ["", "UNEXPECTED responses or errors (these runs' figures are suspect):"]
        lines += [f"  {run}: {wrong}" for run, wrong in report.failures.items()]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway",
        description="Latency of the gateway's POST /v1/tasks (a new task per request, "
        "written to Kafka) against its GET /healthz, measured by hey (else wrk) on a real "
        "gateway process. Start the broker with `.venv/bin/agentmesh infra up`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # The defaults take about a minute on a 2-core machine (and the tool's install, once).
    parser.add_argument(
        "--requests", type=positive_int, default=2_000, help="requests per run (per case and rep)"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=8, help="connections sending at once"
    )
    parser.add_argument("--reps", type=positive_int, default=3, help="turns of a, b")
    parser.add_argument(
        "--warmup", type=positive_int, default=200, help="untimed requests per case first"
    )
    parser.add_argument(
        "--tool",
        choices=["auto", "hey", "wrk"],
        default="auto",
        help="load tool (auto: hey, else wrk; an installed one first, else install one)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    parser.add_argument("--registry-url", help="schema registry URL (default: settings)")
    parser.add_argument(
        "--namespace",
        help="topic prefix (default: a fresh bench-gw-<uuid>, whose topics are deleted at the "
        "end; a given namespace's topics are kept)",
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the fresh namespace's topics too"
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"namespace": args.namespace or f"bench-gw-{uuid.uuid4().hex[:12]}"}
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if args.registry_url:
        overrides["schema_registry_url"] = args.registry_url
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report.

    Exit status: 0; 1 when some response was not the expected 200/202 (the report says
    which); 2 when the broker or registry is unreachable; 3 when there is no load tool.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = Config(
        settings=_settings(args),
        requests=args.requests,
        concurrency=args.concurrency,
        reps=args.reps,
        warmup=args.warmup,
        tool=args.tool,
        # Never delete the topics of a namespace someone named: they may not be ours alone.
        keep_topics=args.keep_topics or args.namespace is not None,
    )
    try:
        tool = find_tool(config.tool, say=progress)
    except ToolUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    progress(f"load tool: {tool.describe()}")
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
