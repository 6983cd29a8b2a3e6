"""`agentmesh task submit`'s options and the line format of `--file` (broker-free; the
broker is in tests/integration/test_cli_submit.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.cli._submit import Limits
from agentmesh.cli._submit_file import Refused, Task, parse_line
from agentmesh.core import get_settings

runner = CliRunner()
DEFAULTS: dict[str, Any] = {"agent": "planner", "tenant": "default", "limits": Limits()}


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTMESH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AGENTMESH_APP", raising=False)
    get_settings.cache_clear()


def test_a_line_takes_the_command_lines_defaults_for_what_it_does_not_say() -> None:
    assert parse_line('{"input": {"question": "q"}}', DEFAULTS) == Task(
        "planner", {"question": "q"}, "default", Limits(), None, {}
    )
    line = (
        '{"agent": "writer", "input": {}, "tenant": "acme", "idempotency_key": "k-1", '
        '"budget": {"max_tokens": 500, "max_cost_usd": "0.5"}, "labels": {"run": "7"}}'
    )
    assert parse_line(line, DEFAULTS) == Task(
        "writer",
        {},
        "acme",
        Limits(max_tokens=500, max_cost_usd=Decimal("0.5")),
        "k-1",
        {"run": "7"},
    )


@pytest.mark.parametrize(
    ("text", "error", "field"),
    [
        (
            "{'input': {}}",
            "not JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
            None,
        ),
        ('["planner", {}]', "not a JSON object but list: one task per line", None),
        ('{"agent": "planner"}', "input: Field required", "input"),
        ('{"input": {}, "colour": 1}', "colour: Extra inputs are not permitted", "colour"),
        (
            '{"input": {}, "budget": {"max_tokens": -1}}',
            "budget.max_tokens: Input should be greater than or equal to 0 (got -1)",
            "budget.max_tokens",
        ),
        ('{"input": "why?"}', "input: Input should be a valid dictionary (got 'why?')", "input"),
    ],
)
def test_a_line_that_is_not_a_task_is_refused_naming_the_field(
    text: str, error: str, field: str | None
) -> None:
    with pytest.raises(Refused) as refused:
        parse_line(text, DEFAULTS)
    assert (str(refused.value), refused.value.field) == (error, field)


def test_a_line_without_an_agent_needs_one_on_the_command_line() -> None:
    with pytest.raises(Refused) as refused:
        parse_line('{"input": {}}', {**DEFAULTS, "agent": None})
    assert (str(refused.value), refused.value.field) == (
        'no agent: name it on the line ("agent") or give AGENT',
        "agent",
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["planner"], "give --input JSON (one task) or --file PATH (many)"),
        (["planner", "--input", "{}", "--file", "x"], "give --input JSON (one task) or"),
        (["--input", "{}"], "which agent? give AGENT with --input"),
        (["planner", "--file", "x", "--idempotency-key", "k"], "--idempotency-key names one"),
        (["planner", "--input", "{}", "--max-tokens", "-1"], "--max-tokens: Input should be"),
        (["planner", "--file", "/no/such/file.jsonl"], "--file /no/such/file.jsonl: No such"),
    ],
)
def test_what_cannot_be_submitted_is_said_before_anything_is(args: list[str], error: str) -> None:
    result = runner.invoke(app, ["task", "submit", *args])
    assert result.exit_code == 2, result.output
    assert error in result.output
