"""With trusted keys in the policy, the supervisor counts only decisions signed by one of them:
an unsigned decision (anyone who can write to the topic) or one signed by another key is
refused on the audit trail and the work stays parked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentmesh.contracts import ReviewDecision, ReviewRequest, shown_sha256
from agentmesh.core import Settings
from agentmesh.core.policy import PolicyError, load_policy
from agentmesh.gateway import Signer
from agentmesh.supervisor import ReviewBook, Supervisor, SupervisorOptions
from tests.unit.test_supervisor_retries import Recorder, governor_of


class AuditLog(Recorder):
    async def audit(self, decision: str, **kw: Any) -> None:
        self._record("audit", (decision, kw.get("details", {})))


def _policy(tmp_path: Path, trusted: Signer) -> Path:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "gateway.pem").write_bytes(trusted.public_pem)
    policy = tmp_path / "policy.yaml"
    policy.write_text("reviews:\n  trusted_keys: [keys/gateway.pem]\n")  # relative to the file
    return policy


def _request() -> ReviewRequest:
    return ReviewRequest(
        review_id="r1",
        task_id="t1",
        agent="payer",
        kind="tool_call",
        reason="big refund",
        target_topic="unit.agent.payer",
        parked_value=b"\x00",
        payload_json='{"amount": 500}',
    )


def _vote(reviewer: str) -> ReviewDecision:
    return ReviewDecision(
        review_id="r1",
        task_id="t1",
        decision="approve",
        reviewer=reviewer,
        reason="checked",
        shown_sha256=shown_sha256(_request()),
    )


async def test_only_decisions_signed_by_a_trusted_key_count(tmp_path: Path) -> None:
    gateway, other = (Signer.load_or_create(tmp_path / n) for n in ("gw.key", "other.key"))
    policy = load_policy(_policy(tmp_path, gateway))
    assert policy.reviews.trusted_keys == [tmp_path / "keys" / "gateway.pem"]
    options = SupervisorOptions(partitions=1, audit_partitions=1, replication_factor=1)
    sup = Supervisor(Settings(namespace="unit"), policy, options)
    out = AuditLog()
    reviews = {"t1": ReviewBook(task_id="t1")}
    gov = governor_of(sup, out, {}, reviews)
    await gov._fold_reviews("t1", "unit.review.requests", 0, _request())

    forged = gateway.sign(_vote("mallory")).model_copy(update={"reviewer": "alice"})
    for offset, decision in enumerate([_vote("eve"), other.sign(_vote("eve")), forged], start=1):
        await gov._fold_reviews("t1", "unit.review.decisions", offset, decision)
    refused = [d for what, (kind, d) in out.calls if what == "audit" and kind == "decision_refused"]
    assert [(d["reviewer"], d["why"][:24]) for d in refused] == [
        ("eve", "it carries no signature"),
        ("eve", "its signature (key " + other.key_id[:5]),
        ("alice", "its signature (key " + gateway.key_id[:5]),
    ]
    assert "r1" in reviews["t1"].pending  # none of them released it
    assert out.seen("send") == []

    await gov._fold_reviews("t1", "unit.review.decisions", 4, gateway.sign(_vote("alice")))
    assert "r1" not in reviews["t1"].pending
    assert out.seen("send") == ["unit.agent.payer"]  # released to its target


def test_a_trusted_key_that_is_missing_or_not_a_key_is_a_clear_policy_error(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("reviews:\n  trusted_keys: [nowhere.pem]\n")
    with pytest.raises(PolicyError, match=r"cannot read .*nowhere.pem.*GET /v1/keys"):
        load_policy(policy)
    (tmp_path / "nowhere.pem").write_text("not a key")
    with pytest.raises(PolicyError, match="is not a PEM Ed25519 public key"):
        load_policy(policy)
