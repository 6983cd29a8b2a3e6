"""Approving a budget stop on the real broker: an approval that could not let the work go on
is refused and the work stays parked; a rejection dead-letters it with the task's totals."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import (
    AuditRecord,
    Budget,
    ReviewDecision,
    ReviewRequest,
    SchemaRegistry,
    Topics,
)
from agentmesh.core import Settings
from agentmesh.core.views import read_ledger
from tests.apps import governed
from tests.integration.test_cli_review_tail import cli, cli_json
from tests.runtime_helpers import dead_letters, running, wait_for
from tests.supervisor_helpers import SupervisorProcess, decoded, send_decision

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

# Approving adds no steps: the stopped task could not take one more.
POLICY = "budgets:\n  default: {max_steps: 3}\n  extension: {steps: 0}\n"


@pytest.fixture
async def governed_settings(settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    s = settings.model_copy(update={"policy": policy})
    sup = SupervisorProcess(s, policy, tmp_path).start()
    await sup.wait_ready()
    yield s
    sup.terminate()


def _decision(request: ReviewRequest, decision: str) -> ReviewDecision:
    return ReviewDecision(
        review_id=request.review_id,
        task_id=request.task_id,
        decision=decision,
        reviewer="alice",
        reason="go on" if decision == "approve" else "too expensive",
        shown_sha256=hashlib.sha256(request.payload_json.encode()).hexdigest(),
    )


async def _audit(s: Settings, task_id: str) -> list[AuditRecord]:
    found = await decoded(s, Topics(s.namespace).audit, AuditRecord, None, timeout=1)
    return [a for a in found if a.task_id == task_id]


async def test_an_approval_that_cannot_let_the_work_go_on_is_refused_and_kept_parked(
    governed_settings: Settings,
) -> None:
    s = governed_settings
    topics = Topics(s.namespace)
    registry = SchemaRegistry(s.registry_url)
    async with running(governed.mesh, ["looper"], s):
        # Submitted without the policy: the supervisor stops the task at its 4th call.
        unbudgeted = s.model_copy(update={"policy": None})
        task = await submit_task(unbudgeted, governed.mesh, "looper", governed.Spin(), registry)
        await registry.close()

        async def parked() -> list[ReviewRequest]:
            found = await decoded(s, topics.review_requests, ReviewRequest, None, timeout=1)
            return [r for r in found if r.task_id == task.task_id]

        await wait_for(parked, timeout=60)
        (request,) = await parked()

        async def flagged() -> bool:
            items = await cli_json(s, "review", "list")
            return any(i["review_id"] == request.review_id and i["approval_blocked"] for i in items)

        # The reviewer approving from the CLI is told the supervisor will likely refuse it.
        await wait_for(flagged, timeout=30)
        code, said, warned = await cli(
            s, "review", "approve", request.review_id, "--reason", "go on", "--by", "alice"
        )
        assert code == 0
        assert said.startswith(f"approved review {request.review_id}")
        assert (
            "the supervisor will likely refuse it: approving cannot let the work go on (steps: "
            "used 4" in " ".join(warned.split())
        )

        async def refused() -> bool:
            return any(a.decision == "decision_refused" for a in await _audit(s, task.task_id))

        await wait_for(refused, timeout=30)
        (record,) = [a for a in await _audit(s, task.task_id) if a.decision == "decision_refused"]
        assert orjson.loads(record.details_json)["why"] == (
            "approving cannot let the work go on (steps: used 4, approving would allow 3 "
            "(3 + 0 from budgets.extension.steps)): reject it, or raise budgets.extension "
            "in the policy and approve again"
        )
        ledger = await read_ledger(s, task.task_id)
        assert ledger is not None
        assert (ledger.status, ledger.steps, ledger.extensions) == ("stopped", 4, 0)
        assert ledger.budget.max_steps == 3
        assert ledger.as_json()["used"]["steps"] == 4
        # `task show` prints the same ledger, its steps counted as the timeline counts them.
        shown = await cli_json(s, "task", "show", task.task_id)
        assert shown["budget"] == ledger.as_json()
        assert shown["steps"] == shown["llm_calls"] + shown["tool_calls"] == 4
        code, text, _ = await cli(s, "task", "show", task.task_id)
        assert code == 0
        assert "budget: stopped (budget: steps used 4, allowed 3)" in text
        assert "budget_extended" not in [a.decision for a in await _audit(s, task.task_id)]
        # The refusal is on the item, which stays pending; the refused vote does not count.
        (item,) = [
            i for i in await cli_json(s, "review", "list") if i["review_id"] == request.review_id
        ]
        assert (item["status"], item["approvals"]) == ("pending", [])
        refusal = (item["refusals"][0]["reviewer"], item["refusals"][0]["why"])
        assert refusal == ("alice", orjson.loads(record.details_json)["why"])
        code, text, _ = await cli(s, "review", "list")
        assert code == 0
        assert "approve by alice refused: approving cannot let the work go on" in " ".join(
            text.split()
        )

        # Still parked: a rejection is what ends it, and the dead letter tells the truth.
        await send_decision(s, _decision(request, "reject"))
        (dead,) = [d for d in await dead_letters(s, 1) if d.task_id == task.task_id]
    assert dead.error_message.startswith("rejected by alice: too expensive; the task used ")
    assert "steps 4 of 3" in dead.error_message


async def test_one_approval_of_a_fan_outs_budget_stop_extends_the_task_once_and_it_completes(
    settings: Settings, tmp_path: Path
) -> None:
    """The demo question with 300 tokens: the planner's three researchers share what it left
    (69, 68, 68 tokens) and each parks its step (its share cannot pay for its next call; the
    task's ledger is at 95 of 300, not over it). One approval releases all three: the task's
    limit grows once by the sample policy's extension (10,000 tokens), the branches share
    it, and the task completes with no budget breach and no second review."""
    from agentmesh_examples import research
    from agentmesh_examples.research import DEFAULT_QUESTION, ResearchQuestion
    from tests.runtime_helpers import events_of, inbox_of

    policy = Path(research.__file__).parent / "policy.yaml"
    s = settings.model_copy(update={"policy": policy})
    sup = SupervisorProcess(s, policy, tmp_path).start()
    await sup.wait_ready()
    topics = Topics(s.namespace)
    try:
        async with running(research.mesh, ["planner", "researcher", "writer", "reviewer"], s):
            registry = SchemaRegistry(s.registry_url)
            question = ResearchQuestion(question=DEFAULT_QUESTION)
            budget = Budget(max_tokens=300)
            task = await submit_task(s, research.mesh, "planner", question, registry, budget=budget)
            await registry.close()

            async def parked() -> list[ReviewRequest]:
                found = await decoded(s, topics.review_requests, ReviewRequest, None, timeout=1)
                return [r for r in found if r.task_id == task.task_id]

            async def three() -> bool:
                return len(await parked()) == 3

            await wait_for(three, timeout=90)
            before = await read_ledger(s, task.task_id)
            assert before is not None
            assert (before.status, before.tokens, before.budget.max_tokens) == ("running", 95, 300)
            first, *_ = await parked()
            assert first.reason.startswith("budget exceeded: tokens used 0 + ")  # its share
            await send_decision(s, _decision(first, "approve"))

            async def completed() -> bool:
                events = await events_of(s, None, timeout=1)
                return any(
                    e.task_id == task.task_id and e.body.kind == "task_completed" for e in events
                )

            await wait_for(completed, timeout=90)
            events = [e for e in await events_of(s, None, timeout=1) if e.task_id == task.task_id]
            shares = await inbox_of(s, research.mesh, "researcher", 6)

            async def folded() -> bool:
                ledger = await read_ledger(s, task.task_id)
                return ledger is not None and ledger.status == "completed"

            await wait_for(folded, timeout=30)
            ledger = await read_ledger(s, task.task_id)
            assert ledger is not None
            decisions = [a.decision for a in await _audit(s, task.task_id)]
            requests = await parked()
    finally:
        sup.terminate()
    # One approval, one extension, no new stop and no second review.
    assert "budget_breach" not in decisions
    assert (decisions.count("budget_extended"), decisions.count("review_released")) == (1, 3)
    assert len(requests) == 3
    assert (ledger.extensions, ledger.budget.max_tokens) == (1, 10_300)
    # The released branches share the extension as a fan-out shares what remains: the
    # planner's 205 tokens and the 10,000 added, in all (each parked copy + its share).
    handed = [h.budget.max_tokens or 0 for h in shares if h.task_id == task.task_id]
    assert sorted(handed[:3]) == [68, 68, 69]
    assert sum(handed[3:]) == 205 + 10_000
    calls = {e.body.call_id: e.body for e in events if e.body.kind == "llm_call"}
    spent = sum(c.input_tokens + c.output_tokens for c in calls.values())
    assert spent == ledger.tokens <= 10_300
