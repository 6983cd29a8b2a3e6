"""Timing helpers shared by the benchmarks: per-op timers, interleaved repeats, a table.

A benchmark names its cases, hands each one to :func:`interleave` as a :data:`Timer`, and
prints the resulting :class:`Measurement` medians and the ratios between them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Measurement",
    "Timer",
    "atime_per_op",
    "format_table",
    "interleave",
    "measurement_table",
    "percentile",
    "positive_int",
    "time_per_op",
]

Timer = Callable[[int], float]
"""Runs one case ``n`` times back to back and returns the seconds per operation."""


def time_per_op(fn: Callable[[], object], iterations: int) -> float:
    """Seconds per call of ``fn``, over ``iterations`` back-to-back calls."""
    # The garbage collector stays on (timeit turns it off): a codec that allocates more pays
    # for its garbage in production too, and that belongs in the comparison.
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations


async def atime_per_op(fn: Callable[[], Awaitable[object]], iterations: int) -> float:
    """Like :func:`time_per_op` for a coroutine function, all awaited in one running loop."""
    start = time.perf_counter()
    for _ in range(iterations):
        await fn()
    return (time.perf_counter() - start) / iterations


@dataclass(frozen=True, slots=True)
class Measurement:
    """The seconds per operation of one case, one value per repeat."""

    name: str
    runs_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """The median seconds per operation: robust to the odd run a noisy neighbour spoiled."""
        return statistics.median(self.runs_s)

    @property
    def ops_per_s(self) -> float:
        """Operations per second at the median."""
        return 1.0 / self.median_s

    @property
    def spread(self) -> float:
        """(slowest - fastest run) / median: how far to trust this row."""
        return (max(self.runs_s) - min(self.runs_s)) / self.median_s

    def times_faster_than(self, other: Measurement) -> float:
        """How many of this case's operations fit in the time of one of ``other``'s."""
        return other.median_s / self.median_s

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, in microseconds."""
        return {
            "name": self.name,
            "median_us": self.median_s * 1e6,
            "ops_per_s": self.ops_per_s,
            "spread": self.spread,
            "runs_us": [run * 1e6 for run in self.runs_s],
        }


def interleave(
    timers: Mapping[str, Timer], *, repeats: int, iterations: int, warmup: int
) -> list[Measurement]:
    """Time every case ``repeats`` times, taking turns: a, b, c, a, b, c, ...

    Taking turns spreads machine noise (other processes, CPU frequency changes) over all cases
    alike, so the ratios between them are steadier than their absolute times. Each case first
    runs ``warmup`` times untimed, to fill caches and finish any lazy set-up.
    """
    for timer in timers.values():
        timer(warmup)
    runs: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            runs[name].append(timer(iterations))
    return [Measurement(name, tuple(times)) for name, times in runs.items()]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others (numbers) right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, rows)])


def measurement_table(rows: Sequence[Measurement]) -> str:
    """The usual table of a benchmark: median time and rate per case, and the spread of runs."""
    return format_table(
        ["case", "us/op", "ops/s", "spread"],
        [
            [row.name, f"{row.median_s * 1e6:.1f}", f"{row.ops_per_s:,.0f}", f"{row.spread:.0%}"]
            for row in rows
        ],
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def positive_int(text: str) -> int:
    """An ``argparse`` type for counts such as ``--repeats`` and ``--iterations``."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
