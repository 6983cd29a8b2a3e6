"""The hop benchmark's arithmetic and failure mode, without a broker. Speed is never asserted."""

import pytest

from agentmesh.core.transport import ConsumerOptions
from bench._hop_cases import StageTimes
from bench._hop_driver import Sample, stage_breakdown
from bench._hop_report import CaseResult, Report, render
from bench._stats import Measurement, percentile
from bench.hop import main


def test_percentile_interpolates_between_the_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert [percentile(values, q) for q in (0, 50, 100)] == [1.0, 2.5, 4.0]
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_what_has_no_answer() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def _row(key: str, latency_ms: float, per_s: float) -> CaseResult:
    return CaseResult(
        key=key,
        name=f"({key})",
        latencies_s=(latency_ms / 1000,),
        drain=Measurement(f"({key})", (1 / per_s,)),
        cpu_s_per_handoff=0.5 / per_s,
        produce_retries=0,
    )


def _report(b_latency_ms: float, b_per_s: float) -> Report:
    return Report(
        rows=(_row("a", 4.0, 10_000), _row("b", b_latency_ms, b_per_s), _row("c", 2.0, 20_000)),
        latency_samples=1,
        load=1,
        repeats=1,
        partitions=6,
        max_batch=500,
        namespace="ns",
        bootstrap="b:1",
        consumer=ConsumerOptions(),
        baseline_stages=None,
    )


def test_ratios_put_b_over_a_and_b_over_c() -> None:
    ratios = _report(b_latency_ms=5.0, b_per_s=8_000).ratios()
    assert {k: round(v, 3) for k, v in ratios.items()} == {
        "latency_p50_b_over_a": 1.25,
        "latency_p99_b_over_a": 1.25,
        "throughput_b_over_a": 0.8,
        "latency_p50_b_over_c": 2.5,
        "latency_p99_b_over_c": 2.5,
        "throughput_b_over_c": 0.4,
    }


def test_goals_hold_at_the_limits_and_fail_past_them() -> None:
    assert _report(b_latency_ms=5.0, b_per_s=8_000).goals() == {
        "latency_p50_within_1.25x_of_a": True,
        "latency_p99_within_1.25x_of_a": True,
        "throughput_within_1.25x_of_a": True,
        "throughput_at_least_5000_per_s": True,
    }
    assert _report(b_latency_ms=5.1, b_per_s=4_000).goals() == {
        "latency_p50_within_1.25x_of_a": False,
        "latency_p99_within_1.25x_of_a": False,
        "throughput_within_1.25x_of_a": False,
        "throughput_at_least_5000_per_s": False,
    }


def test_render_shows_every_case_and_every_goal() -> None:
    text = render(_report(b_latency_ms=6.0, b_per_s=2_000))
    assert [line.split()[0] for line in text.splitlines() if line.startswith("(")] == [
        "(a)",
        "(b)",
        "(c)",
        "(b)/(a):",
        "(b)/(c):",
    ]
    assert text.count("MISSED") == 4


def test_stage_breakdown_pairs_each_hop_with_its_batch() -> None:
    samples = [Sample(sent=0.0, visible=0.010), Sample(sent=1.0, visible=1.012)]
    stages = StageTimes(
        polled=[0.001, 1.001], offsets_sent=[0.004, 1.005], committed=[0.008, 1.010]
    )
    breakdown = stage_breakdown(samples, stages)
    assert breakdown is not None
    assert {k: round(v, 6) for k, v in breakdown.items()} == {
        "send_to_polled_ms": 1.0,
        "polled_to_offsets_sent_ms": 3.5,
        "offsets_sent_to_committed_ms": 4.5,
        "committed_to_visible_ms": 2.0,
    }
    # A hop that took two batches (or none) cannot be split into stages.
    assert stage_breakdown(samples, StageTimes(polled=[0.001], committed=[0.008])) is None


def test_an_unreachable_broker_exits_2_and_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Port 1 on loopback refuses connections at once; nothing is started or written.
    args = ["--bootstrap", "127.0.0.1:1", "--latency-samples", "1", "--load", "1"]
    assert main([*args, "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in err
    assert ".venv/bin/agentmesh infra up" in err
