"""Smoke test of the replay benchmark against the real broker: it runs and reports.

Speed is never asserted here; the benchmark reports it."""

import orjson
import pytest

from bench.replay import main
from tests.conftest import Cluster

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


def test_replay_benchmark_reports_both_rates_and_no_divergence(
    cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTMESH_KAFKA_BOOTSTRAP", cluster.bootstrap)
    monkeypatch.setenv("AGENTMESH_SCHEMA_REGISTRY_URL", cluster.registry_url)
    assert main(["--tasks", "3", "--reps", "1", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert (report["tasks"], report["reps"], report["diverged_tasks"]) == (3, 1, [0])
    (run,) = report["runs"]
    assert run["live_steps"] == run["replayed_steps"] > 0
    assert report["ratio_replay_over_live"] == pytest.approx(
        report["replay_steps_per_s"] / report["live_steps_per_s"]
    )
