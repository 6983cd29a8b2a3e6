"""`agentmesh infra up | status | down` as a user runs them, on ports of their own."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from tests.ports import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def agentmesh(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "agentmesh.cli", *args, "--json"],
        env=env,
        capture_output=True,
        timeout=240,
        check=False,
    )
    return out.returncode, orjson.loads(out.stdout)


def processes_under(data_dir: Path) -> list[int]:
    marker = f"-Dagentmesh.service={data_dir}"
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(arg.startswith(marker) for arg in cmdline):
            found.append(proc.info["pid"])
    return found


def test_up_is_idempotent_status_is_healthy_and_down_leaves_nothing(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AGENTMESH_KAFKA_BOOTSTRAP", "AGENTMESH_SCHEMA_REGISTRY_URL")
    }
    env |= {
        "AGENTMESH_DATA_DIR": str(tmp_path),
        "AGENTMESH_KAFKA_PORT": str(free_port()),
        "AGENTMESH_KAFKA_CONTROLLER_PORT": str(free_port()),
        "AGENTMESH_REGISTRY_PORT": str(free_port()),
    }
    try:
        code, up = agentmesh(env, "infra", "up")
        assert (code, up["ok"], up["started"]) == (0, True, ["kafka", "schema-registry"])
        assert up["bootstrap"] == f"127.0.0.1:{env['AGENTMESH_KAFKA_PORT']}"

        code, again = agentmesh(env, "infra", "up")
        assert (code, again["started"]) == (0, [])

        code, status = agentmesh(env, "infra", "status")
        states = [s["state"] for s in status["services"]]
        assert (code, states) == (0, ["healthy", "healthy"])
        assert len(processes_under(tmp_path)) == 2
    finally:
        code, down = agentmesh(env, "infra", "down")
    assert (code, sorted(down["stopped"])) == (0, ["kafka", "schema-registry"])
    assert processes_under(tmp_path) == []
    code, status = agentmesh(env, "infra", "status")
    assert code == 3
