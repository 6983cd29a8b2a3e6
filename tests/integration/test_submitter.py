"""agentmesh.agents.Submitter against the real broker: many tasks through one producer,
refusals that name the field and stop nothing else, topics made ready once per agent."""

from __future__ import annotations

from typing import Any

import pytest

from agentmesh.agents import Submission, Submitter, UnknownAgentError
from agentmesh.contracts import TaskSubmitted, Topics
from agentmesh.core import Settings
from agentmesh.core.submission import InputRejected, Problem
from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics
from tests.apps import governed
from tests.runtime_helpers import inbox_of
from tests.supervisor_helpers import decoded

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def refund(i: int) -> dict[str, Any]:
    return {"order": f"o-{i}", "amount": i}


async def test_many_submissions_land_whole_and_bad_ones_stop_nothing(settings: Settings) -> None:
    batch = [Submission("payer", refund(i)) for i in range(300)]
    batch[10] = Submission("payer", {"order": "o-x", "amount": "lots"})
    batch[20] = Submission("nobody", refund(20))
    batch[30] = Submission("payer", {**refund(30), "colour": "red"})
    async with Submitter(settings, governed.mesh, submitted_by="test") as submitter:
        results = await submitter.submit_many(batch)
    refused = {i: r for i, r in enumerate(results) if isinstance(r, Exception)}
    assert sorted(refused) == [10, 20, 30]
    assert isinstance(refused[10], InputRejected)
    assert refused[10].problems == (
        Problem(
            "input.amount",
            "Input should be a valid number, unable to parse string as a number (got 'lots')",
        ),
    )
    assert isinstance(refused[20], UnknownAgentError)
    assert isinstance(refused[30], InputRejected)
    assert refused[30].field == "input.colour"
    accepted = [r for r in results if isinstance(r, TaskSubmitted)]
    assert len(accepted) == 297
    topics = Topics(settings.namespace)
    on_tasks = await decoded(settings, topics.tasks, TaskSubmitted, 297)
    handoffs = await inbox_of(settings, governed.mesh, "payer", 297)
    assert sorted(t.task_id for t in on_tasks) == sorted(t.task_id for t in accepted)
    assert sorted(h.task_id for h in handoffs) == sorted(t.task_id for t in accepted)
    assert {t.submitted_by for t in on_tasks} == {"test"}


async def test_the_same_key_is_the_same_task_and_topics_are_made_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[list[str]] = []

    async def counting(conn: KafkaConnection, specs: list[TopicSpec]) -> list[str]:
        made.append([s.name for s in specs])
        return await ensure_topics(conn, specs)

    monkeypatch.setattr("agentmesh.agents._submitter.ensure_topics", counting)
    async with Submitter(settings, governed.mesh) as submitter:
        first = await submitter.submit("payer", refund(1), idempotency_key="order-1")
        again = await submitter.submit("payer", refund(1), idempotency_key="order-1")
        for i in range(2, 12):
            await submitter.submit("payer", refund(i))
        with pytest.raises(InputRejected) as bad_key:
            await submitter.submit("payer", refund(99), idempotency_key="order\n99")
    assert first.task_id == again.task_id
    assert bad_key.value.field == "idempotency_key"
    topics = Topics(settings.namespace)
    assert made == [[topics.tasks, topics.agent("payer")]]
