"""`agentmesh run supervisor` as a real process: its probes and its stop within the grace."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentmesh.core import Settings
from tests.integration.test_probe_agent import PROBE, probe_url, wait_status
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


async def test_supervisor_probes_follow_its_start_and_drain(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets:\n  default: {}\n")
    supervisor = SupervisorProcess(settings, policy, tmp_path)
    supervisor.env.update({**PROBE, "AGENTMESH_DRAIN_GRACE_S": "10"})
    supervisor.start()
    url = await probe_url(supervisor)
    async with httpx.AsyncClient(timeout=5) as client:
        early = await client.get(f"{url}/readyz")
        alive = await client.get(f"{url}/healthz")
    assert (early.status_code, alive.status_code) == (503, 200)
    ready = await wait_status(f"{url}/readyz", 200, timeout=90)
    assert ready.json() == {
        "ready": True,
        "checks": {"partitions": "ok", "tables": "ok", "registry": "ok"},
    }
    async with httpx.AsyncClient(timeout=5) as client:
        metrics = await client.get(f"{url}/metrics")
    assert "process_cpu_seconds" in {f.name for f in text_string_to_metric_families(metrics.text)}
    start = time.monotonic()
    assert supervisor.terminate(timeout=20) == 0
    assert time.monotonic() - start < 10 + 2
