"""Carrying out what reviewers (or the clock) decided about parked work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from agentmesh.contracts import (
    CLAIM_HEADER,
    RELEASED_AT_HEADER,
    REVIEW_ID_HEADER,
    EditRejected,
    ReviewRequest,
    TaskFailed,
    rewrite_handoff,
)
from agentmesh.core.policy import Extension, Policy
from agentmesh.supervisor._ledger import TaskLedger, extend, shared_extension
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

    async def act(self, task_id: str, actions: Sequence[ReviewAction], cause: str) -> None:
        # One decision releases every task-level item at once: the task's ledger is resumed
        # (and extended) once for all of them, and the branches share the extension.
        released = [a for a in actions if isinstance(a, Release) and a.request.kind in TASK_LEVEL]
        shares = await self._resume(task_id, released, cause) if released else {}
        for action in actions:
            with parked(action):  # what is decided joins the parked work's trace
                await self._act(task_id, action, cause, shares)

    async def _act(
        self, task_id: str, action: ReviewAction, cause: str, shares: dict[str, Extension]
    ) -> None:
        if isinstance(action, Release):
            await self._release(task_id, action, cause, shares.get(action.request.review_id))
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

    async def _resume(
        self, task_id: str, released: list[Release], cause: str
    ) -> dict[str, Extension]:
        """Resume the task whose task-level items one decision released; for approved budget
        items, extend its ledger once (the policy's extension) and split that extension among
        the parked handoffs (review id → share), as a fan-out splits what remains: together
        the branches may spend what the task's limit grew by, not that many times it."""
        stored: TaskLedger | None = self.ledgers.get(task_id)
        # A copy, stored once the outputs about it went out: if one fails and the decision
        # is tried again, it is extended and resumed again from the stored ledger.
        ledger = TaskLedger(task_id=task_id) if stored is None else stored.clone()
        budget = [a.request for a in released if a.request.kind == "budget"]
        # Whether the ledger is stopped, at its limit or short of it (an agent parks a branch
        # whose own share ran out while the task as a whole has some left), the approval is
        # more budget: in the ledger once per decision (the items' ids say it was paid), as
        # in the released handoffs. Stopped by a loop or hop limit: resumed, hops moved.
        first = released[0]
        ids = sorted(r.review_id for r in budget)
        if budget and ledger.extend(self.policy, ids):
            await self._extended(task_id, ledger, first, cause, kind="budget", reviews=ids)
        elif ledger.status == "stopped" and ledger.resume(self.policy):
            await self._extended(task_id, ledger, first, cause, kind=first.request.kind, reviews=[])
        approved = f"review {first.request.review_id} approved by {', '.join(first.reviewers)}"
        await self.out.command("task", task_id, "resume", approved, cause=cause)
        self.ledgers[task_id] = ledger
        # A claim ticket is not a handoff: its budget travels in the claimed bytes, unchanged.
        rewritable = [r.review_id for r in budget if not _claimed(r)]
        return dict(zip(rewritable, shared_extension(self.policy, len(rewritable)), strict=True))

    async def _release(
        self, task_id: str, action: Release, cause: str, share: Extension | None
    ) -> bool:
        req = action.request
        budget_fn = None
        if share is not None:
            policy = self.policy
            budget_fn = lambda b: extend(b, policy, share)  # noqa: E731
        try:
            _no_edit_of_claimed(_claimed(req), action.edited_payload_json)
            value = await rewrite_handoff(
                self.out.review_codec.registry,
                req.parked_value,
                payload_json=action.edited_payload_json,
                budget_fn=budget_fn,
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
        self,
        task_id: str,
        ledger: TaskLedger,
        action: Release,
        cause: str,
        *,
        kind: str,
        reviews: list[str],
    ) -> None:
        details: dict[str, Any] = {
            "by": list(action.reviewers),
            "kind": kind,
            "budget": ledger.budget.model_dump(mode="json"),
        }
        if reviews:
            details["reviews"] = reviews  # the parked items that share the extension
        await self.out.audit(
            "budget_extended", cause=cause, subject=task_id, task_id=task_id, details=details
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


def _claimed(req: ReviewRequest) -> bool:
    return any(h.key == CLAIM_HEADER for h in req.parked_headers)


def _no_edit_of_claimed(claimed: bool, edited: str | None) -> None:
    if claimed and edited is not None:
        raise EditRejected("a claim-checked (large) payload cannot be edited on release")
