"""Approving a budget stop on the real broker: an approval that could not let the work go on
is refused and the work stays parked; a rejection dead-letters it with the task's totals."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import AuditRecord, ReviewDecision, ReviewRequest, SchemaRegistry, Topics
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
        await send_decision(s, _decision(request, "approve"))

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

        # Still parked: a rejection is what ends it, and the dead letter tells the truth.
        await send_decision(s, _decision(request, "reject"))
        (dead,) = [d for d in await dead_letters(s, 1) if d.task_id == task.task_id]
    assert dead.error_message.startswith("rejected by alice: too expensive; the task used ")
    assert "steps 4 of 3" in dead.error_message
