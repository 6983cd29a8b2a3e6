"""Smoke test of the hop benchmark against the real broker: it runs and reports.

Speed is never asserted here: the machine is shared and the numbers are the benchmark's to
report, not the test suite's to judge.
"""

import orjson
import pytest

from agentmesh.core import Settings
from bench.hop import main
from tests.conftest import Cluster

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(120)]


def test_hop_benchmark_reports_three_cases_and_the_ratios(
    cluster: Cluster, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--latency-samples", "3", "--load", "50", "--repeats", "1", "--json"]
    where = ["--bootstrap", cluster.bootstrap, "--registry-url", cluster.registry_url]
    assert main([*args, *where, "--namespace", settings.namespace]) == 0
    report = orjson.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert [row["case"] for row in rows] == ["a", "b", "c"]
    assert [row["latency_samples"] for row in rows] == [3, 3, 3]
    for row in rows:
        assert row["latency_p50_ms"] > 0
        assert row["latency_p99_ms"] >= row["latency_p50_ms"]
        assert row["throughput_per_s"] > 0
        assert row["cpu_us_per_handoff"] > 0
    assert sorted(report["ratios"]) == sorted(
        f"{what}_b_over_{base}"
        for what in ("latency_p50", "latency_p99", "throughput")
        for base in ("a", "c")
    )
    assert all(ratio > 0 for ratio in report["ratios"].values())
    assert sorted(report["goals"]) == [
        "latency_p50_within_1.25x_of_a",
        "latency_p99_within_1.25x_of_a",
        "throughput_at_least_5000_per_s",
        "throughput_within_1.25x_of_a",
    ]
    assert (report["load"], report["repeats"], report["namespace"]) == (
        50,
        1,
        settings.namespace,
    )
