"""The supervisor's folds without a broker: ledgers, breakers, review books, the audit chain."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agentmesh.contracts import (
    AgentEvent,
    AuditRecord,
    Budget,
    EmittedHandoff,
    LlmCall,
    ReviewDecision,
    ReviewRequest,
    StepFinished,
    TaskSubmitted,
    shown_sha256,
    utcnow,
)
from agentmesh.core.policy import Policy, PolicyError, load_policy, match_handoff, match_tool_call
from agentmesh.supervisor import GENESIS, Breaker, ReviewBook, TaskLedger, record_hash, verify_chain
from agentmesh.supervisor._reviews import Escalate, Refuse, Reject, Release


def _llm(task: str, tokens: int, cost: str | None = None, replayed: bool = False) -> AgentEvent:
    body = LlmCall(
        call_id="c",
        provider="p",
        model="m",
        input_tokens=tokens,
        output_tokens=0,
        cost_usd=Decimal(cost) if cost else None,
        latency_ms=1,
        replayed=replayed,
    )
    return AgentEvent(task_id=task, agent="a", instance="i", seq=0, body=body)


def _handoff_step(task: str, payload_hash: str, hop: int) -> AgentEvent:
    body = StepFinished(
        handoff_id="h",
        outcome="handoff",
        duration_ms=1,
        handoffs=[
            EmittedHandoff(
                handoff_id="x", to_agent="b", hop=hop, payload_hash=payload_hash, size_bytes=1
            )
        ],
    )
    return AgentEvent(task_id=task, agent="a", instance="i", seq=0, body=body)


def test_the_tightest_of_submission_and_policy_budget_wins() -> None:
    policy = Policy.model_validate(
        {
            "budgets": {
                "default": {"max_steps": 10},
                "tenants": {"acme": {"budget": {"max_steps": 3}}},
            }
        }
    )
    ledger = TaskLedger(task_id="t")
    task = TaskSubmitted(
        task_id="t", tenant="acme", entry_agent="a", input_json="{}", budget=Budget(max_tokens=50)
    )
    assert ledger.submitted(task, policy) is None
    assert (ledger.budget.max_steps, ledger.budget.max_tokens) == (3, 50)


def test_a_breach_is_reported_once_and_replayed_calls_are_not_counted() -> None:
    policy = Policy.model_validate({"budgets": {"default": {"max_tokens": 100}}})
    ledger = TaskLedger(task_id="t")
    assert ledger.event(_llm("t", 60), policy) is None
    assert ledger.event(_llm("t", 60, replayed=True), policy) is None  # journal, not paid
    breach = ledger.event(_llm("t", 60), policy)
    assert breach is not None
    assert (breach.kind, breach.limit, breach.used) == ("budget", "tokens", "120")
    assert ledger.event(_llm("t", 60), policy) is None  # stopped already
    assert (ledger.tokens, ledger.steps, ledger.status) == (180, 3, "stopped")


def test_offsets_make_the_fold_idempotent() -> None:
    ledger = TaskLedger(task_id="t")
    ledger.mark("events", 41)
    assert ledger.seen("events", 41)
    assert ledger.seen("events", 7)
    assert not ledger.seen("events", 42)
    assert not ledger.seen("tasks", 0)


def test_the_same_handoff_too_often_is_a_loop_and_hops_are_limited() -> None:
    policy = Policy.model_validate({"loops": {"max_repeats": 2}})
    ledger = TaskLedger(task_id="t")
    assert ledger.event(_handoff_step("t", "h1", 1), policy) is None
    assert ledger.event(_handoff_step("t", "h2", 2), policy) is None
    assert ledger.event(_handoff_step("t", "h1", 3), policy) is None
    loop = ledger.event(_handoff_step("t", "h1", 4), policy)
    assert loop is not None
    assert loop.kind == "loop"
    # Stopped: a straggling repeat does not stop it (and audit it) a second time.
    assert ledger.event(_handoff_step("t", "h1", 5), policy) is None
    assert ledger.status == "stopped"
    hops = TaskLedger(task_id="u", budget=Budget(max_hops=2), submitted_at=utcnow())
    breach = hops.event(_handoff_step("u", "z", 3), Policy())
    assert breach is not None
    assert (breach.kind, breach.limit) == ("loop", "hops")


def test_approving_a_budget_review_extends_the_budget_and_resumes() -> None:
    policy = Policy.model_validate(
        {"budgets": {"default": {"max_steps": 1}, "extension": {"steps": 5}}}
    )
    ledger = TaskLedger(task_id="t")
    ledger.event(_llm("t", 1), policy)
    assert ledger.event(_llm("t", 1), policy) is not None
    assert ledger.extend(policy, ["r1", "r2"])
    assert (ledger.status, ledger.budget.max_steps) == ("running", 6)
    # The same decision again (a retry, a redelivery) extends nothing more.
    assert not ledger.extend(policy, ["r2"])
    assert (ledger.extensions, ledger.budget.max_steps) == (1, 6)
    assert ledger.event(_llm("t", 1), policy) is None


def test_cost_review_rule_stops_the_task_once() -> None:
    policy = Policy.model_validate(
        {"reviews": {"rules": [{"name": "pricey", "min_cost_usd": "0.10"}]}}
    )
    ledger = TaskLedger(task_id="t")
    breach = ledger.event(_llm("t", 1, cost="0.2"), policy)
    assert breach is not None
    assert breach.kind == "cost_review"


def test_breaker_opens_on_failure_rate_half_opens_after_cooldown_and_probe_decides() -> None:
    policy = Policy.model_validate(
        {"breakers": {"min_calls": 4, "failure_rate": 0.5, "cooldown_s": 10, "window_s": 60}}
    ).breakers
    b = Breaker(key="tool:x")
    assert b.record(0, 2, 1, policy) is None  # 3 calls: too few for a verdict
    opened = b.record(1, 0, 1, policy)
    assert opened is not None
    assert (opened.old, opened.new) == ("closed", "open")
    assert b.tick(5, policy) is None
    half = b.tick(11, policy)
    assert half is not None
    assert half.new == "half_open"
    reopened = b.record(12, 0, 1, policy)
    assert reopened is not None
    assert reopened.new == "open"
    b.tick(30, policy)
    closed = b.record(31, 1, 0, policy)
    assert closed is not None
    assert (closed.new, b.window) == ("closed", [])


def test_old_outcomes_leave_the_window() -> None:
    policy = Policy.model_validate(
        {"breakers": {"min_calls": 2, "failure_rate": 0.5, "window_s": 10}}
    ).breakers
    b = Breaker(key="tool:x")
    assert b.record(0, 0, 1, policy) is None
    assert b.record(100, 1, 0, policy) is None  # the failure 100 s ago no longer counts
    assert b.state == "closed"


def _request(kind: str = "tool_call", approvals: int = 2, review_id: str = "r1") -> ReviewRequest:
    return ReviewRequest(
        review_id=review_id,
        task_id="t",
        agent="a",
        kind=kind,
        reason="rule",
        target_topic="ns.agent.a",
        parked_value=b"\x00\x01",
        payload_json="{}",
        required_approvals=approvals,
        on_timeout="escalate",
    )


def _decide(reviewer: str, decision: str = "approve", review_id: str = "r1") -> ReviewDecision:
    return ReviewDecision(
        review_id=review_id,
        task_id="t",
        decision=decision,
        reviewer=reviewer,
        reason="ok",
        shown_sha256=shown_sha256(_request()),  # every request here shows "{}"
    )


def test_n_of_m_counts_distinct_reviewers_and_a_second_decision_changes_nothing() -> None:
    book = ReviewBook(task_id="t")
    assert book.requested(_request(), Policy(), utcnow()) == []
    assert book.decision(_decide("alice")) == []
    assert book.decision(_decide("alice")) == []
    (release,) = book.decision(_decide("bob"))
    assert isinstance(release, Release)
    assert release.reviewers == ("alice", "bob")
    assert book.decision(_decide("carol", "reject")) == []  # decided already
    assert book.requested(_request(), Policy(), utcnow()) == []  # redelivered request


def test_task_level_reviews_are_decided_together() -> None:
    book = ReviewBook(task_id="t")
    book.requested(_request("budget", 1, "r1"), Policy(), utcnow())
    book.requested(_request("budget", 1, "r2"), Policy(), utcnow())
    actions = book.decision(_decide("alice", "reject", "r2"))
    assert all(isinstance(a, Reject) for a in actions)
    assert sorted(a.request.review_id for a in actions if isinstance(a, Reject)) == ["r1", "r2"]


def test_policy_can_send_budget_breaches_straight_to_the_dead_letter_topic() -> None:
    policy = Policy.model_validate({"budgets": {"on_breach": "dead_letter"}})
    (action,) = ReviewBook(task_id="t").requested(_request("budget", 1), policy, utcnow())
    assert isinstance(action, Reject)
    assert "dead-letter" in action.reason


def test_timeouts_escalate_then_reject() -> None:
    policy = Policy.model_validate({"reviews": {"timeout_s": 60, "max_escalations": 1}})
    book = ReviewBook(task_id="t")
    now = utcnow()
    book.requested(_request(), policy, now)
    assert book.tick(now, policy) == []
    (esc,) = book.tick(now + timedelta(seconds=61), policy)
    assert isinstance(esc, Escalate)
    assert esc.request.escalations == 1
    (rej,) = book.tick(now + timedelta(seconds=200), policy)
    assert isinstance(rej, Reject)
    assert "timed out" in rej.reason


def _chain(n: int) -> list[tuple[int, AuditRecord]]:
    out: list[tuple[int, AuditRecord]] = []
    prev = GENESIS
    for i in range(n):
        draft = AuditRecord(
            chain="c",
            seq=i,
            prev_sha256=prev,
            sha256="",
            actor="supervisor",
            decision="budget_breach",
            subject=f"t{i}",
            details_json="{}",
        )
        rec = draft.model_copy(update={"sha256": record_hash(draft)})
        out.append((i, rec))
        prev = rec.sha256
    return out


def test_an_intact_chain_verifies_and_tampering_is_found() -> None:
    chain = _chain(4)
    assert verify_chain(chain) == []
    altered = list(chain)
    altered[1] = (1, altered[1][1].model_copy(update={"subject": "someone else"}))
    assert [p.offset for p in verify_chain(altered)] == [1]
    removed = [chain[0], chain[2], chain[3]]
    assert {p.offset for p in verify_chain(removed)} == {2}


def test_review_rules_match_by_tool_agent_and_field(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "reviews:\n  rules:\n"
        "    - {name: big, tool: pay, field: {path: amount, gt: 100}, approvals: 2}\n"
        "    - {name: publish, agent: writer, field: {path: draft.publish, equals: true}}\n"
    )
    policy = load_policy(path)
    assert match_tool_call(policy, "pay", {"amount": 150}) is not None
    assert match_tool_call(policy, "pay", {"amount": 50}) is None
    assert match_handoff(policy, "writer", {"draft": {"publish": True}}) is not None
    assert match_handoff(policy, "writer", {"draft": {"publish": False}}) is None


def test_a_bad_policy_file_says_where(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("budgets:\n  defualt: {max_steps: 3}\n")
    with pytest.raises(PolicyError, match=r"budgets\.defualt"):
        load_policy(path)
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.yaml")


def test_tenant_spend_pauses_over_the_limit_until_enough_ages_out() -> None:
    from agentmesh.core.policy import SpendLimit
    from agentmesh.supervisor import TenantSpend

    limit = SpendLimit(usd=Decimal("1.00"), period_s=3600)
    spend = TenantSpend(tenant="acme")
    assert spend.add(0, Decimal("0.60"), limit) is None
    assert spend.add(600, Decimal("0.30"), limit) is None
    until = spend.add(1200, Decimal("0.20"), limit)
    # Over by 0.10: the pause lasts until the first minute's 0.60 leaves the hour.
    assert until == 60 + 3600
    assert spend.add(1300, Decimal("0.01"), limit) is None  # paused already
    assert spend.add(5000, Decimal("0.01"), limit) is None  # the old spend aged out
    assert spend.total() == Decimal("0.01")  # only the newest minute is left


def test_a_loop_is_caught_after_many_distinct_handoffs_and_the_ledger_stays_small() -> None:
    policy = Policy.model_validate({"loops": {"max_repeats": 2}})
    ledger = TaskLedger(task_id="t")
    for i in range(500):
        assert ledger.event(_handoff_step("t", f"distinct-{i}", 1), policy) is None
    assert len(ledger.repeats) <= 64
    assert ledger.event(_handoff_step("t", "again", 1), policy) is None
    assert ledger.event(_handoff_step("t", "again", 1), policy) is None
    loop = ledger.event(_handoff_step("t", "again", 1), policy)
    assert loop is not None
    assert loop.kind == "loop"


def test_folding_into_a_clone_leaves_the_stored_ledger_alone() -> None:
    stored = TaskLedger(task_id="t")
    stored.event(_handoff_step("t", "h", 1), Policy())
    stored.mark("events", 3)
    copy = stored.clone()
    copy.event(_handoff_step("t", "h", 2), Policy())
    copy.event(_llm("t", 5), Policy())
    copy.mark("events", 9)
    assert (stored.repeats, stored.applied, stored.tokens) == ({"b:h": 1}, {"events": 3}, 0)
    assert (copy.repeats, copy.applied, copy.tokens) == ({"b:h": 2}, {"events": 9}, 5)


def test_approving_a_hop_limit_stop_lets_the_task_go_deeper() -> None:
    policy = Policy.model_validate({"budgets": {"extension": {"hops": 2}}})
    ledger = TaskLedger(task_id="t", budget=Budget(max_hops=2), submitted_at=utcnow())
    breach = ledger.event(_handoff_step("t", "a", 3), policy)
    assert breach is not None
    assert (breach.kind, breach.limit) == ("loop", "hops")
    assert ledger.resume(policy)  # a reviewer approved the loop review
    assert (ledger.status, ledger.budget.max_hops) == ("running", 5)
    assert ledger.event(_handoff_step("t", "b", 4), policy) is None  # not stopped again
    assert ledger.event(_handoff_step("t", "c", 5), policy) is None
    again = ledger.event(_handoff_step("t", "d", 6), policy)
    assert again is not None
    assert again.limit == "hops"
    # The allowance survives the budget being worked out again (a late submission).
    task = TaskSubmitted(task_id="t", entry_agent="a", input_json="{}", budget=Budget(max_hops=2))
    ledger.submitted(task, policy)
    assert ledger.budget.max_hops == 5


def test_approving_a_repeated_handoff_loop_keeps_the_hop_limit() -> None:
    policy = Policy.model_validate({"loops": {"max_repeats": 1}})
    ledger = TaskLedger(task_id="t", budget=Budget(max_hops=9), submitted_at=utcnow())
    ledger.event(_handoff_step("t", "h", 1), policy)
    assert ledger.event(_handoff_step("t", "h", 2), policy) is not None
    assert not ledger.resume(policy)
    assert (ledger.status, ledger.repeats, ledger.budget.max_hops) == ("running", {}, 9)


def test_a_decision_folded_before_its_request_is_applied_when_the_request_arrives() -> None:
    book = ReviewBook(task_id="t")
    assert book.decision(_decide("alice")) == []
    assert book.decision(_decide("bob")) == []
    assert len(book.early) == 2
    # Through the table's JSON, as after a restart.
    book = ReviewBook.model_validate_json(book.model_dump_json())
    (release,) = book.requested(_request(approvals=2), Policy(), utcnow())
    assert isinstance(release, Release)
    assert release.reviewers == ("alice", "bob")
    assert (book.pending, book.early) == ({}, [])


def test_an_early_rejection_ends_the_work_and_early_decisions_are_bounded() -> None:
    book = ReviewBook(task_id="t")
    book.decision(_decide("alice", "reject", review_id="r9"))
    (reject,) = book.requested(_request(review_id="r9"), Policy(), utcnow())
    assert isinstance(reject, Reject)
    assert book.decision(_decide("bob", review_id="r9")) == []  # decided: not kept
    for i in range(300):
        book.decision(_decide("alice", review_id=f"unknown-{i}"))
    assert len(book.early) == 256
    assert book.early[0].review_id == "unknown-44"  # the oldest were dropped


def test_a_decision_about_another_payload_than_the_parked_one_does_not_count() -> None:
    book = ReviewBook(task_id="t")
    book.requested(_request(approvals=1), Policy(), utcnow())
    stale = _decide("alice").model_copy(update={"shown_sha256": "f" * 64})
    (refused,) = book.decision(stale)
    assert isinstance(refused, Refuse)
    assert "shown_sha256 differs" in refused.why
    assert "r1" in book.pending  # still parked: the right decision releases it
    (release,) = book.decision(_decide("alice"))
    assert isinstance(release, Release)
