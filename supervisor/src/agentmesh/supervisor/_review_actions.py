"""Carrying out what reviewers (or the clock) decided about parked work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agentmesh.contracts import (
    CLAIM_HEADER,
    RELEASED_AT_HEADER,
    REVIEW_ID_HEADER,
    EditRejected,
    TaskFailed,
    rewrite_handoff,
)
from agentmesh.core.policy import Policy
from agentmesh.supervisor._ledger import TaskLedger, extend
from agentmesh.supervisor._outputs import ACTOR, Outputs, parked_dead_letter
from agentmesh.supervisor._reviews import (
    TASK_LEVEL,
    Escalate,
    Refuse,
    Reject,
    Release,
    ReviewAction,
)
from agentmesh.supervisor._tracing import parked

__all__ = ["ReviewActions", "usage"]


class ReviewActions:
    """Release, reject or escalate parked work; resume or extend its task's ledger."""

    def __init__(self, out: Outputs, ledgers: Any, policy: Policy, dlq_topic: str) -> None:
        self.out = out
        self.ledgers = ledgers
        self.policy = policy
        self.dlq_topic = dlq_topic

    async def act(self, task_id: str, actions: list[ReviewAction], cause: str) -> None:
        for action in actions:
            with parked(action):  # what is decided joins the parked work's trace
                await self._act(task_id, action, cause)

    async def _act(self, task_id: str, action: ReviewAction, cause: str) -> None:
        if isinstance(action, Release):
            await self._release(task_id, action, cause)
        elif isinstance(action, Reject):
            await self._reject(task_id, action, cause)
        elif isinstance(action, Refuse):
            await self.refused(task_id, action, cause)
        elif isinstance(action, Escalate):
            await self.out.review_request(action.request)
            await self.out.audit(
                "review_escalated",
                cause=cause,
                subject=action.request.review_id,
                task_id=task_id,
                details={
                    "escalations": action.request.escalations,
                    "reason": action.request.reason,
                },
            )

    async def refused(self, task_id: str, action: Refuse, cause: str) -> None:
        """A decision that does not count: on the record, so a forgery is seen."""
        dec = action.decision
        await self.out.audit(
            "decision_refused",
            cause=cause,
            subject=dec.review_id,
            task_id=task_id,
            details={
                "decision_id": dec.decision_id,
                "decision": dec.decision,
                "reviewer": dec.reviewer,
                "key_id": dec.key_id,
                "why": action.why,
            },
        )

    async def _release(self, task_id: str, action: Release, cause: str) -> bool:
        req = action.request
        budget_fn = None
        if req.kind in TASK_LEVEL:
            stored: TaskLedger | None = self.ledgers.get(task_id)
            # A copy, stored once the outputs about it went out: if one fails and the
            # decision is tried again, the ledger is still stopped and is resumed again.
            ledger = TaskLedger(task_id=task_id) if stored is None else stored.clone()
            now = datetime.now(UTC)
            # Stopped by this ledger, or parked by the agent as its carried budget ran out
            # (the ledger is then at its limit, not over it): either way the approval is
            # more budget, here as in the released handoff. Once: an extended ledger is
            # neither stopped nor spent, so the task's other parked items add nothing.
            if req.kind == "budget" and (ledger.status == "stopped" or ledger.spent(now)):
                ledger.extend(self.policy, now)
                await self._extended(task_id, ledger, action, cause)
            elif ledger.status == "stopped" and ledger.resume(self.policy):
                await self._extended(task_id, ledger, action, cause)  # more hops
            if req.kind == "budget":
                policy = self.policy
                budget_fn = lambda b: extend(b, policy)  # noqa: E731
            approved = f"review {req.review_id} approved by {', '.join(action.reviewers)}"
            await self.out.command("task", task_id, "resume", approved, cause=cause)
            self.ledgers[task_id] = ledger
        claimed = any(h.key == CLAIM_HEADER for h in req.parked_headers)
        try:
            _no_edit_of_claimed(claimed, action.edited_payload_json)
            value = await rewrite_handoff(
                self.out.review_codec.registry,
                req.parked_value,
                payload_json=action.edited_payload_json,
                # A ticket is not a handoff: its budget travels in the claimed bytes.
                budget_fn=None if claimed else budget_fn,
            )
        except EditRejected as exc:
            await self._reject(task_id, Reject(req, ACTOR, str(exc)), cause)
            return False
        released_at = datetime.now(UTC).isoformat().encode()
        ours = (REVIEW_ID_HEADER, RELEASED_AT_HEADER)
        headers = [(h.key, h.value or b"") for h in req.parked_headers if h.key not in ours]
        headers += [(REVIEW_ID_HEADER, req.review_id.encode()), (RELEASED_AT_HEADER, released_at)]
        await self.out.send(req.target_topic, req.parked_key, value, headers=headers)
        await self.out.audit(
            "review_released",
            cause=cause,
            subject=req.review_id,
            task_id=task_id,
            details={
                "kind": req.kind,
                "reviewers": list(action.reviewers),
                "edited": action.edited_payload_json is not None,
                "target_topic": req.target_topic,
                "reason": action.reason,
            },
        )
        return True

    async def _extended(
        self, task_id: str, ledger: TaskLedger, action: Release, cause: str
    ) -> None:
        await self.out.audit(
            "budget_extended",
            cause=cause,
            subject=task_id,
            task_id=task_id,
            details={
                "by": list(action.reviewers),
                "kind": action.request.kind,
                "budget": ledger.budget.model_dump(mode="json"),
            },
        )

    async def _reject(self, task_id: str, action: Reject, cause: str) -> None:
        req = action.request
        ledger: TaskLedger | None = self.ledgers.get(task_id)
        reason = action.reason
        if ledger is not None and req.kind in TASK_LEVEL:
            # The parked step's own reason speaks of its share; the task's totals are here.
            reason = f"{reason}; the task used {ledger.usage()}"
        await self.out.dead_letter(parked_dead_letter(req, reason, action.by))
        await self.out.command("task", task_id, "cancel", action.reason, cause=cause)
        await self.out.event(
            task_id,
            (self.ledgers.get(task_id) or TaskLedger(task_id=task_id)).tenant,
            TaskFailed(error_class="ReviewRejected", message=action.reason[:2000]),
            cause=f"{cause}:{req.review_id}",
        )
        await self.out.audit(
            "review_rejected",
            cause=cause,
            subject=req.review_id,
            task_id=task_id,
            details={"kind": req.kind, "by": action.by, "reason": action.reason},
        )
        await self.out.audit(
            "dead_lettered",
            cause=cause,
            subject=req.review_id,
            task_id=task_id,
            details={"topic": self.dlq_topic, "stage": "policy", "from": req.target_topic},
        )


def usage(ledger: TaskLedger | None, policy: Policy) -> dict[str, Any]:
    """What the task has used against its limits, for the people who decide: the task's
    totals (a parked step's own reason speaks only of its share of the budget), and why
    approving could not let it go on, if it could not."""
    if ledger is None:
        return {}
    b = ledger.budget
    return {
        "cost_so_far_usd": str(ledger.cost_usd),
        "tokens_so_far": ledger.tokens,
        "steps_so_far": ledger.steps,
        "task_usage": ledger.usage(),
        "limits": {
            "max_steps": b.max_steps,
            "max_tokens": b.max_tokens,
            "max_cost_usd": None if b.max_cost_usd is None else str(b.max_cost_usd),
            "max_hops": b.max_hops,
        },
        "approval_blocked": ledger.approval_blocked(policy, datetime.now(UTC)),
    }


def _no_edit_of_claimed(claimed: bool, edited: str | None) -> None:
    if claimed and edited is not None:
        raise EditRejected("a claim-checked (large) payload cannot be edited on release")
