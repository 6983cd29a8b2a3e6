"""`agentmesh demo --once`: the sample mesh, every agent its own process, a task to completion."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentmesh.core import Settings
from tests.ports import free_port
from tests.supervisor_helpers import ledgers

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


def test_demo_once_completes_the_research_task(settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
        "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
        "AGENTMESH_NAMESPACE": settings.namespace,
        "AGENTMESH_DATA_DIR": str(tmp_path),
        # A port of its own: two demos both finding the default free would both take it.
        "AGENTMESH_GATEWAY_PORT": str(free_port()),
    }
    out = subprocess.run(
        [sys.executable, "-m", "agentmesh.cli", "demo", "--once", "--timeout-s", "120"],
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "completed in" in out.stdout
    assert "gateway: http://127.0.0.1:" in out.stdout  # with this run's tokens
    assert "Report:" in out.stdout  # the reviewer's approved report is printed
    logs = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert logs == [
        "gateway.log",
        "planner.log",
        "researcher.log",
        "reviewer.log",
        "supervisor.log",
        "writer.log",
    ]
    # The supervisor governed the task: its ledger (in its changelog topic) counted its calls
    # under the demo policy (the demo stops it right after the result, maybe before it
    # folded the very last event).
    (ledger,) = asyncio.run(ledgers(settings)).values()
    assert ledger["status"] in ("running", "completed")
    assert ledger["steps"] > 0
    assert ledger["budget"]["max_steps"] == 60  # from the sample mesh's policy.yaml
    assert "started:" not in out.stderr  # the cluster was given: nothing local was started
