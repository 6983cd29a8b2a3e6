"""Smoke tests of the codec benchmark: it runs and reports. Speed is never asserted here."""

from collections.abc import Callable

import orjson
import pytest

from bench._stats import interleave
from bench.codec import main


def test_codec_benchmark_reports_three_rows_and_the_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--repeats", "1", "--iterations", "20", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    rows = report["rows"]
    # The baseline is avro-python3, or Apache avro if the installer overwrote avro-python3.
    names = [rows[0]["name"].split()[0], rows[1]["name"], rows[2]["name"]]
    assert names == ["fastavro", report["baseline"], "agentmesh Codec"]
    assert all(row["ops_per_s"] > 0 and row["median_us"] > 0 for row in rows)
    assert report["fastavro_speedup_vs_baseline"] > 0
    assert report["codec_time_vs_fastavro"] > 0
    # The record is meant to be a realistic ~1 KB handoff.
    assert 800 <= report["avro_body_bytes"] <= 1200
    assert report["framed_bytes"] == report["avro_body_bytes"] + 5


def test_cases_take_turns_after_one_warm_up_each() -> None:
    calls: list[tuple[str, int]] = []

    def timer(name: str) -> Callable[[int], float]:
        def run(n: int) -> float:
            calls.append((name, n))
            return 1.0

        return run

    results = interleave({"a": timer("a"), "b": timer("b")}, repeats=2, iterations=10, warmup=3)
    assert calls == [("a", 3), ("b", 3), ("a", 10), ("b", 10), ("a", 10), ("b", 10)]
    assert [(m.name, m.runs_s) for m in results] == [("a", (1.0, 1.0)), ("b", (1.0, 1.0))]
