"""The results of ``bench.hop``: rows per case, the ratios, the goals, as text or JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agentmesh.core.transport import ConsumerOptions
from bench._stats import Measurement, format_table, percentile

__all__ = ["GOAL_MIN_THROUGHPUT", "GOAL_RATIO", "CaseResult", "Report", "render"]

GOAL_RATIO = 1.25  # (b) within this factor of (a), on latency and on throughput
GOAL_MIN_THROUGHPUT = 5_000.0  # handoffs/s of one agent process, validation and tracing on


@dataclass(frozen=True)
class CaseResult:
    """One case: every one-in-flight hop latency, and seconds per handoff of each load run."""

    key: str
    name: str
    latencies_s: tuple[float, ...]
    drain: Measurement
    cpu_s_per_handoff: float  # this process's CPU during the load runs, median
    produce_retries: int  # aiokafka "retrying" warnings during this case's phases

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_s, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_s, 99) * 1000

    @property
    def throughput(self) -> float:
        """Handoffs per second, median of the load runs."""
        return self.drain.ops_per_s

    @property
    def cpu_busy(self) -> float:
        """CPU seconds per wall second of the load runs: near 1.0 means CPU-bound."""
        return self.cpu_s_per_handoff / self.drain.median_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.key,
            "name": self.name,
            "latency_p50_ms": self.p50_ms,
            "latency_p99_ms": self.p99_ms,
            "latency_samples": len(self.latencies_s),
            "throughput_per_s": self.throughput,
            "throughput_runs_per_s": [1.0 / run for run in self.drain.runs_s],
            "throughput_spread": self.drain.spread,
            "cpu_us_per_handoff": self.cpu_s_per_handoff * 1e6,
            "cpu_busy": self.cpu_busy,
            "produce_retries": self.produce_retries,
        }


@dataclass(frozen=True)
class Report:
    """One run of the benchmark: rows (a), (b), (c) in that order."""

    rows: tuple[CaseResult, ...]
    latency_samples: int
    load: int
    repeats: int
    partitions: int
    max_batch: int
    namespace: str
    bootstrap: str
    consumer: ConsumerOptions
    baseline_stages: dict[str, float] | None

    def row(self, key: str) -> CaseResult:
        return next(r for r in self.rows if r.key == key)

    def ratios(self) -> dict[str, float]:
        """(b) over (a) and over (c): above 1 is slower for latency, faster for throughput."""
        a, b, c = self.row("a"), self.row("b"), self.row("c")
        return {
            "latency_p50_b_over_a": b.p50_ms / a.p50_ms,
            "latency_p99_b_over_a": b.p99_ms / a.p99_ms,
            "throughput_b_over_a": b.throughput / a.throughput,
            "latency_p50_b_over_c": b.p50_ms / c.p50_ms,
            "latency_p99_b_over_c": b.p99_ms / c.p99_ms,
            "throughput_b_over_c": b.throughput / c.throughput,
        }

    def goals(self) -> dict[str, bool]:
        r, b = self.ratios(), self.row("b")
        return {
            "latency_p50_within_1.25x_of_a": r["latency_p50_b_over_a"] <= GOAL_RATIO,
            "latency_p99_within_1.25x_of_a": r["latency_p99_b_over_a"] <= GOAL_RATIO,
            "throughput_within_1.25x_of_a": r["throughput_b_over_a"] >= 1 / GOAL_RATIO,
            "throughput_at_least_5000_per_s": b.throughput >= GOAL_MIN_THROUGHPUT,
        }

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable form printed by ``--json``."""
        return {
            "benchmark": "hop",
            "latency_samples_per_repeat": self.latency_samples,
            "load": self.load,
            "repeats": self.repeats,
            "partitions": self.partitions,
            "max_batch": self.max_batch,
            "namespace": self.namespace,
            "bootstrap": self.bootstrap,
            "consumer_options": dataclasses.asdict(self.consumer),
            "rows": [row.as_dict() for row in self.rows],
            "ratios": self.ratios(),
            "goals": self.goals(),
            "baseline_stages_ms": self.baseline_stages,
        }


def render(report: Report) -> str:
    """The human-readable report: the table, the ratios, the goals, where (a)'s time goes."""
    table = format_table(
        [
            "case",
            "p50 ms",
            "p99 ms",
            "handoffs/s",
            "spread",
            "CPU us/handoff",
            "CPU busy",
            "retries",
        ],
        [
            [
                r.name,
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{r.throughput:,.0f}",
                f"{r.drain.spread:.0%}",
                f"{r.cpu_s_per_handoff * 1e6:.0f}",
                f"{r.cpu_busy:.0%}",
                str(r.produce_retries),
            ]
            for r in report.rows
        ],
    )
    r = report.ratios()
    lines = [
        f"one hop, ~1 KB handoff; {report.partitions} partitions per topic, at most "
        f"{report.max_batch} inputs per transaction; consumers fetch_max_wait_ms="
        f"{report.consumer.fetch_max_wait_ms} (agentmesh's ConsumerOptions defaults)",
        f"latency: {len(report.rows[0].latencies_s)} hops one at a time per case; throughput: "
        f"median of {report.repeats} runs of {report.load:,} inputs committed at once",
        "",
        table,
        "",
        f"(b)/(a): latency p50 {r['latency_p50_b_over_a']:.2f}x, "
        f"p99 {r['latency_p99_b_over_a']:.2f}x, throughput {r['throughput_b_over_a']:.2f}x",
        f"(b)/(c): latency p50 {r['latency_p50_b_over_c']:.2f}x, "
        f"p99 {r['latency_p99_b_over_c']:.2f}x, throughput {r['throughput_b_over_c']:.2f}x",
        "",
        "goals:",
        *(f"  {'met ' if ok else 'MISSED'}  {name}" for name, ok in report.goals().items()),
    ]
    if report.baseline_stages is not None:
        lines += [
            "",
            "where (a)'s one-in-flight hop goes (median ms): "
            + ", ".join(
                f"{name.removesuffix('_ms').replace('_', ' ')} {ms:.1f}"
                for name, ms in report.baseline_stages.items()
            ),
        ]
    lines += [
        "spread: (slowest - fastest throughput run) / median; compare ratios, not totals",
        "CPU: this whole process (case, probe, idle clients) during the load runs; "
        "retries: aiokafka produce retries (100 ms each) during the case's phases",
    ]
    return "\n".join(lines)
