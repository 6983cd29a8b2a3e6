"""`agentmesh contracts generate | check` on a mesh's payload schemas: models and files agree."""

import textwrap
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from agentmesh.cli import app

runner = CliRunner()

APP = """
from pathlib import Path
from agentmesh.agents import Context, Mesh, agent
from agentmesh.contracts import Contract

class Ask(Contract):
    avro_name = "Ask"
    question: str
    {extra}

@agent("asker")
async def asker(payload: Ask, ctx: Context) -> None:
    return None

mesh = Mesh([asker], schema_dir=Path(__file__).parent / "schemas")
"""


def write_app(tmp_path: Path, module: str, extra: str = "") -> str:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(APP.format(extra=extra)))
    return f"{module}:mesh"


def test_generate_writes_versions_and_check_catches_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_app(tmp_path, "ask_v1")
    generated = runner.invoke(app, ["contracts", "generate", "--app", spec, "--json"])
    assert generated.exit_code == 0
    assert orjson.loads(generated.stdout)["written"] == [
        str(tmp_path / "schemas" / "asker.input" / "v1.avsc")
    ]

    changed = write_app(tmp_path, "ask_v2", extra="depth: int = 1")  # same schema_dir, new field
    check = runner.invoke(app, ["contracts", "check", "--app", changed, "--json"])
    assert check.exit_code == 1
    (message,) = orjson.loads(check.stdout)["drift"]
    assert "asker.input: Ask changed since v1; run `agentmesh contracts generate`" in message

    assert runner.invoke(app, ["contracts", "generate", "--app", changed]).exit_code == 0
    assert (
        runner.invoke(
            app, ["contracts", "check", str(tmp_path / "schemas"), "--app", changed]
        ).exit_code
        == 0
    )


def test_incompatible_change_fails_check_with_the_field_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    assert (
        runner.invoke(app, ["contracts", "generate", "--app", write_app(tmp_path, "a1")]).exit_code
        == 0
    )
    # A new required field without a default: old data cannot be read by the new schema.
    broken = write_app(tmp_path, "a2", extra="depth: int")
    assert runner.invoke(app, ["contracts", "generate", "--app", broken]).exit_code == 0
    check = runner.invoke(app, ["contracts", "check", str(tmp_path / "schemas"), "--app", broken])
    assert check.exit_code == 1
    assert "field 'depth' was added in v2 without a default" in check.stdout
