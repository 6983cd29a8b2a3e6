import socket
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.core import get_settings
from tests.ports import free_port

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


def test_task_submit_finds_the_running_demos_mesh_and_only_that() -> None:
    import subprocess

    from agentmesh.cli._apps import forget_demo, remember_demo, running_demo_app

    settings = get_settings()
    assert running_demo_app(settings) is None  # no demo ran
    remember_demo(settings, "agentmesh_examples.research:mesh")
    assert running_demo_app(settings) == "agentmesh_examples.research:mesh"
    other = settings.model_copy(update={"namespace": "elsewhere"})
    assert running_demo_app(other) is None  # a demo of another namespace is not this one's
    marker = settings.local_dir / "demo" / "mesh.json"
    record = orjson.loads(marker.read_bytes())
    dead = subprocess.Popen(["true"])
    dead.wait()
    marker.write_bytes(orjson.dumps({**record, "pid": dead.pid}))
    assert running_demo_app(settings) is None  # the demo stopped without cleaning up
    forget_demo(settings)
    assert not marker.exists()


def test_without_a_mesh_task_submit_says_how_to_name_one() -> None:
    result = runner.invoke(app, ["task", "submit", "planner", "--input", "{}"])
    assert result.exit_code == 1
    assert "which mesh? pass --app" in result.output


def test_suggested_commands_run_from_the_users_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from agentmesh.cli._output import shell_command

    script = Path(sys.prefix) / "bin" / "agentmesh"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the shell of someone who ran `make run`
    monkeypatch.delenv("UV", raising=False)
    monkeypatch.chdir(Path(sys.prefix).parent)
    assert shell_command() == str(script.relative_to(Path(sys.prefix).parent))
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")  # an activated environment
    assert shell_command() == "agentmesh"
    monkeypatch.setenv("UV", "/usr/bin/uv")  # under `uv run`, PATH is uv's, not the shell's
    assert shell_command() == str(script.relative_to(Path(sys.prefix).parent))
