"""`agentmesh task submit --file` as a person runs it (a subprocess) against the real
broker, straight to Kafka and through a gateway: every line's outcome in order, bad lines
refused naming the field, the good ones submitted all the same."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from agentmesh.agents import Submitter
from agentmesh.contracts import TaskSubmitted, Topics
from agentmesh.core import Settings
from agentmesh_examples import research
from tests.gateway_helpers import TOKENS, serving
from tests.integration.test_cli_review_tail import cli
from tests.runtime_helpers import wait_for
from tests.supervisor_helpers import decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

APP = "agentmesh_examples.research:mesh"
LINES = [
    '{"input": {"question": "why is the sky blue?"}}',
    '{"input": {"question": ""}}',
    "",  # blank lines are not tasks: skipped, still counted
    "not json",
    '{"input": {"question": "q", "max_subquestions": 99}}',
    '{"input": {"question": "again?"}, "idempotency_key": "k-1", "tenant": "acme"}',
    '{"agent": "nobody", "input": {}}',
    '{"input": {"question": "again?"}, "idempotency_key": "k-1", "tenant": "acme"}',
]
REFUSED = {
    2: "input.question",
    4: None,
    5: "input.max_subquestions",
    7: "agent",
}


def _outcomes(out: str) -> dict[int, dict[str, object]]:
    records = [orjson.loads(line) for line in out.splitlines()]
    assert [r["line"] for r in records] == sorted(r["line"] for r in records)
    return {r["line"]: r for r in records}


async def test_a_file_of_tasks_straight_to_kafka(settings: Settings, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(LINES) + "\n")
    submit = ("task", "submit", "planner", "--file", str(tasks), "--json")
    code, out, err = await cli(settings, *submit, "--app", APP)
    assert code == 2, err
    outcomes = _outcomes(out)
    assert sorted(outcomes) == [1, 2, 4, 5, 6, 7, 8]
    assert {n: r["field"] for n, r in outcomes.items() if not r["ok"]} == REFUSED
    assert outcomes[6]["task_id"] == outcomes[8]["task_id"]  # same key, same task
    assert "7 lines: 3 submitted, 4 refused, 0 not written" in err
    on_topic = await decoded(settings, Topics(settings.namespace).tasks, TaskSubmitted, 3)
    assert sorted(t.task_id for t in on_topic) == sorted(
        str(outcomes[n]["task_id"]) for n in (1, 6, 8)
    )


async def test_a_file_of_tasks_through_a_gateway(settings: Settings, tmp_path: Path) -> None:
    async with Submitter(settings, research.mesh) as submitter:  # the planner's inbox exists
        await submitter.submit("planner", {"question": "setup"})
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(LINES) + "\n")
    s = settings.model_copy(update={"app": APP})  # the gateway checks with the models
    async with serving(s, tmp_path) as url, httpx.AsyncClient(base_url=url) as c:

        async def ready() -> bool:
            return (await c.get("/readyz")).status_code == 200

        await wait_for(ready, timeout=30)
        submit = ("task", "submit", "planner", "--file", str(tasks), "--json")
        code, out, err = await cli(settings, *submit, "--gateway", url, "--token", TOKENS["sam"])
    assert code == 2, err
    outcomes = _outcomes(out)
    assert sorted(outcomes) == [1, 2, 4, 5, 6, 7, 8]
    assert sorted(n for n, r in outcomes.items() if not r["ok"]) == sorted(REFUSED)
    assert "input.question" in str(outcomes[2]["error"])
    assert outcomes[6]["task_id"] == outcomes[8]["task_id"]
