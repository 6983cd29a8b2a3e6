import socket
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from agentmesh import get_settings
from agentmesh.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTMESH_HOME", str(tmp_path / "home"))
    for var in ("AGENTMESH_KAFKA_BOOTSTRAP", "AGENTMESH_SCHEMA_REGISTRY_URL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()


def test_help_explains_the_infra_commands() -> None:
    result = runner.invoke(app, ["infra", "--help"])
    assert result.exit_code == 0
    for word in ("up", "down", "status", "AGENTMESH_KAFKA_PORT", "Maven Central"):
        assert word in result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_status_of_nothing_running_is_json_and_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMESH_KAFKA_PORT", str(free_port()))
    monkeypatch.setenv("AGENTMESH_REGISTRY_PORT", str(free_port()))
    result = runner.invoke(app, ["infra", "status", "--json"])
    assert result.exit_code == 3
    body = orjson.loads(result.stdout)
    assert (body["ok"], [s["state"] for s in body["services"]]) == (False, ["stopped", "stopped"])


def test_busy_port_is_a_clear_error_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("AGENTMESH_REGISTRY_PORT", str(port))
        monkeypatch.setenv("AGENTMESH_KAFKA_PORT", str(free_port()))
        monkeypatch.setenv("AGENTMESH_KAFKA_CONTROLLER_PORT", str(free_port()))
        result = runner.invoke(app, ["infra", "up", "--json"])
    assert result.exit_code == 1
    body = orjson.loads(result.stdout)
    assert body["ok"] is False
    assert f"port {port} (schema-registry HTTP API, AGENTMESH_REGISTRY_PORT)" in body["error"]
