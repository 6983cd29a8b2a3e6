"""Approving a budget stop: the extension the policy grants, and approvals refused when it
could not let the work go on."""

from __future__ import annotations

import orjson

from agentmesh.contracts import (
    AgentEvent,
    AuditRecord,
    Budget,
    LlmCall,
    ReviewDecision,
    ReviewRequest,
    shown_sha256,
    utcnow,
)
from agentmesh.core.policy import Policy
from agentmesh.supervisor import ReviewBook, TaskLedger
from agentmesh.supervisor._reviews import Refuse, Reject, Release


def _policy(extension: dict[str, object] | None = None) -> Policy:
    budgets: dict[str, object] = {"default": {"max_tokens": 300}}
    if extension is not None:
        budgets["extension"] = extension
    return Policy.model_validate({"budgets": budgets})


def _stopped_at(tokens: int, policy: Policy) -> TaskLedger:
    ledger = TaskLedger(task_id="t", submitted_at=utcnow(), budget=Budget(max_tokens=300))
    body = LlmCall(
        call_id="h:0", provider="p", model="m", input_tokens=tokens, output_tokens=0, latency_ms=1
    )
    assert ledger.event(AgentEvent(task_id="t", agent="a", instance="i", seq=0, body=body), policy)
    assert ledger.status == "stopped"
    return ledger


def _request() -> ReviewRequest:
    return ReviewRequest(
        review_id="r1",
        task_id="t",
        agent="researcher",
        kind="budget",
        reason="budget: tokens used 0, allowed 0",
        target_topic="ns.agent.researcher",
        parked_value=b"\x00",
        payload_json="{}",
    )


def _decision(decision: str) -> ReviewDecision:
    return ReviewDecision(
        review_id="r1",
        task_id="t",
        decision=decision,
        reviewer="alice",
        reason="ok",
        shown_sha256=shown_sha256(_request()),
    )


def test_an_extension_that_names_some_fields_keeps_the_defaults_of_the_others() -> None:
    # The sample policy's extension names steps, cost, hops and the deadline, not tokens.
    partial = _policy({"steps": 20, "cost_usd": 0.25, "hops": 5, "deadline_s": 300})
    assert partial.budgets.extension.tokens == _policy().budgets.extension.tokens == 10_000
    assert partial.budgets.extension.steps == 20


def test_approving_is_refused_when_the_extension_cannot_cover_what_the_task_used() -> None:
    policy = _policy({"tokens": 0})
    ledger = _stopped_at(932, policy)
    assert ledger.usage() == "tokens 932 of 300, steps 1, cost 0 USD, hops 0"
    why = ledger.approval_blocked(policy, utcnow())
    assert why is not None
    assert why == (
        "approving cannot let the work go on (tokens: used 932, approving would allow 300 "
        "(300 + 0 from budgets.extension.tokens)): reject it, or raise budgets.extension in "
        "the policy and approve again"
    )
    book = ReviewBook(task_id="t")
    book.requested(_request(), policy, utcnow())
    (refused,) = book.decision(_decision("approve"), why)
    assert isinstance(refused, Refuse)
    assert refused.why == why
    assert "r1" in book.pending  # still parked, for a rejection or a better policy
    (rejected,) = book.decision(_decision("reject"), why)
    assert isinstance(rejected, Reject)


def test_an_extension_that_covers_the_overrun_lets_the_approval_through() -> None:
    policy = _policy()
    ledger = _stopped_at(932, policy)
    assert ledger.approval_blocked(policy, utcnow()) is None
    book = ReviewBook(task_id="t")
    book.requested(_request(), policy, utcnow())
    (released,) = book.decision(_decision("approve"), None)
    assert isinstance(released, Release)


def test_a_too_small_extension_is_refused_too() -> None:
    policy = _policy({"tokens": 500})  # 300 + 500 is still below the 932 used
    why = _stopped_at(932, policy).approval_blocked(policy, utcnow())
    assert why is not None
    assert "tokens: used 932, approving would allow 800 (300 + 500 from" in why


def test_a_budget_item_shows_the_tasks_totals_and_why_approving_would_be_refused() -> None:
    from agentmesh.core.views import fold_reviews
    from agentmesh.supervisor._review_actions import usage

    policy = _policy({"tokens": 0})
    details = {"kind": "budget", **usage(_stopped_at(932, policy), policy)}
    audit = AuditRecord(
        chain="0",
        seq=0,
        prev_sha256="0" * 64,
        sha256="1" * 64,
        actor="supervisor",
        decision="review_requested",
        task_id="t",
        subject="r1",
        details_json=orjson.dumps(details).decode(),
    )
    (item,) = fold_reviews([_request()], [], [audit]).values()
    shown = item.as_json()
    # What a reviewer reads first: the task's totals, then the parked step's own share.
    assert shown["reason"] == (
        "the task used tokens 932 of 300, steps 1, cost 0 USD, hops 0; researcher parked its "
        "step: budget: tokens used 0, allowed 0"
    )
    assert shown["step_reason"] == "budget: tokens used 0, allowed 0"
    assert shown["task_usage"] == "tokens 932 of 300, steps 1, cost 0 USD, hops 0"
    assert shown["limits"] == {
        "max_steps": None,
        "max_tokens": 300,
        "max_cost_usd": None,
        "max_hops": None,
    }
    assert shown["approval_blocked"] == _stopped_at(932, policy).approval_blocked(policy, utcnow())


def test_the_branches_one_approval_releases_share_the_extension_as_a_fan_out_shares() -> None:
    from decimal import Decimal

    from agentmesh.supervisor._ledger import extend, shared_extension

    policy = _policy({"steps": 20, "cost_usd": 0.25, "hops": 5, "deadline_s": 300})
    shares = shared_extension(policy, 3)
    assert [(s.tokens, s.steps) for s in shares] == [(3334, 7), (3333, 7), (3333, 6)]
    assert sum(s.cost_usd for s in shares) == Decimal("0.25")
    assert {(s.hops, s.deadline_s) for s in shares} == {(5, 300)}  # each chain keeps them
    handed = extend(Budget(max_tokens=69, max_hops=2), policy, shares[0])
    assert (handed.max_tokens, handed.max_hops) == (69 + 3334, 7)
    assert shared_extension(policy, 1) == [policy.budgets.extension]


def _audit(decision: str, details: dict[str, object], seq: int = 0) -> AuditRecord:
    return AuditRecord(
        chain="0",
        seq=seq,
        prev_sha256="0" * 64,
        sha256="1" * 64,
        actor="supervisor",
        decision=decision,
        task_id="t",
        subject="r1",
        details_json=orjson.dumps(details).decode(),
    )


def test_a_refused_approval_is_shown_on_the_item_and_no_longer_counts() -> None:
    from agentmesh.core.views import fold_reviews
    from agentmesh.gateway._reviews import decided

    approval = _decision("approve")
    why = "approving cannot let the work go on (tokens: ...)"
    refused = _audit(
        "decision_refused",
        {
            "decision_id": approval.decision_id,
            "decision": "approve",
            "reviewer": "alice",
            "key_id": None,
            "why": why,
        },
    )
    (item,) = fold_reviews([_request()], [approval], [refused]).values()
    shown = item.as_json()
    assert (shown["status"], shown["approvals"]) == ("pending", [])
    assert [(r["decision"], r["reviewer"], r["why"]) for r in shown["refusals"]] == [
        ("approve", "alice", why)
    ]
    # Not "decided": alice may approve again once an operator raised the extension.
    assert decided(item) is None
    # The refusal read before the decision it answers (another topic) holds as well.
    (early,) = fold_reviews([_request()], [], [refused]).values()
    early.apply(approval)
    assert early.as_json()["approvals"] == []
