"""Signed audit checkpoints without a broker: when they are written, and what verify finds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentmesh.contracts import AuditRecord
from agentmesh.core import Settings
from agentmesh.supervisor import (
    Checkpoint,
    CheckpointClock,
    CheckpointSigner,
    PartitionReport,
    SigningKeyError,
    check_partition,
    record_hash,
    signing_key,
    verify_chain,
)
from tests.audit_helpers import genuine_chain, intent, links, writer

SIGNER = CheckpointSigner(Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.public_key}


def _kinds(report: PartitionReport) -> list[tuple[str, int | None]]:
    return [(f.kind, f.seq) for f in report.findings]


def _rehashed(record: AuditRecord, **changes: object) -> AuditRecord:
    changed = record.model_copy(update=changes)
    return changed.model_copy(update={"sha256": record_hash(changed)})


# -- when checkpoints are written ---------------------------------------------------------


def test_the_clock_is_due_after_n_records_or_t_seconds_whichever_first() -> None:
    clock = CheckpointClock(every_records=3, every_s=10.0)
    assert not clock.due(now=1000.0), "nothing written: nothing to sign, however long"
    clock.wrote(now=0.0)
    clock.wrote(now=1.0)
    assert not clock.due(now=2.0)
    clock.wrote(now=2.0)
    assert clock.due(now=2.0), "the third record makes it due at once"
    clock.signed()
    assert not clock.due(now=500.0)
    clock.wrote(now=100.0)
    assert not clock.due(now=109.9)
    assert clock.due(now=110.0), "ten seconds after the first unsigned record"


def test_the_writer_signs_after_every_n_records() -> None:
    records = genuine_chain(SIGNER, 7, every_records=3)
    assert [r.decision for r in records] == [
        *["budget_breach"] * 3,
        "checkpoint",
        *["budget_breach"] * 3,
        "checkpoint",
        "budget_breach",
    ]
    cp = Checkpoint.from_json(orjson.loads(records[3].details_json))
    assert (cp.chain, cp.partition, cp.seq, cp.head_sha256, cp.key_id) == (
        "ns.audit/0",
        0,
        2,
        records[2].sha256,
        SIGNER.key_id,
    )
    assert cp.check(KEYS) == "ok"
    assert records[3].prev_sha256 == records[2].sha256, "a checkpoint is a link of the chain"
    assert verify_chain(list(enumerate(records))) == []


def test_the_timer_signs_after_t_seconds_only_when_something_new_was_written() -> None:
    chain, memory = writer(SIGNER, every_records=1000, every_s=0.05)
    chain._heads[0] = chain._new_head()
    chain._heads[1] = chain._new_head()

    async def run() -> None:
        await chain.append(0, intent(0))
        assert await chain.checkpoint_due() == [], "not yet: 50 ms have not passed"
        await asyncio.sleep(0.06)
        (written,) = await chain.checkpoint_due()
        assert (written.decision, written.seq) == ("checkpoint", 1)
        await asyncio.sleep(0.06)
        assert await chain.checkpoint_due() == [], "nothing new since: no new checkpoint"

    asyncio.run(run())
    assert list(memory.sent) == [0], "partition 1 had nothing written, so nothing signed"


def test_a_writer_without_a_key_writes_no_checkpoints() -> None:
    records = genuine_chain(None, 12, every_records=3)
    assert {r.decision for r in records} == {"budget_breach"}


# -- what verify finds ----------------------------------------------------------------------


def test_an_intact_signed_chain_is_ok_and_its_unsigned_tail_a_warning() -> None:
    records = genuine_chain(SIGNER, 12, every_records=5)  # checkpoints at seq 5 and 11
    report = check_partition(0, links(records), keys=KEYS)
    assert report.ok
    assert (report.checkpoints, report.signed_through) == (2, 10)
    assert _kinds(report) == [("unsigned_tail", 12)]
    assert report.findings[0].severity == "warning"
    assert "unsigned tail: 2 records after seq 10" in report.findings[0].message


def test_alter_drop_reorder_and_insert_are_each_named() -> None:
    records = genuine_chain(SIGNER, 10, every_records=20)  # no checkpoint: links only
    altered = [*records]
    altered[3] = altered[3].model_copy(update={"actor": "mallory"})
    assert _kinds(check_partition(0, links(altered), keys=None)) == [("altered", 3)]

    rehashed = [*records]
    rehashed[3] = _rehashed(records[3], actor="mallory")
    assert _kinds(check_partition(0, links(rehashed), keys=None)) == [("altered", 3)]

    dropped = records[:4] + records[6:]
    report = check_partition(0, links(dropped), keys=None)
    assert _kinds(report) == [("dropped", 6)]
    assert "seq 4-5 missing" in report.findings[0].message
    one = check_partition(0, links(records[:4] + records[5:]), keys=None)
    assert "seq 4 missing between offsets 3 and 4" in one.findings[0].message

    swapped = [*records[:4], records[5], records[4], *records[6:]]
    assert _kinds(check_partition(0, links(swapped), keys=None)) == [("reordered", 5)]

    forged = _rehashed(records[4], subject="forged", audit_id="x")
    inserted = [*records[:4], forged, *records[4:]]
    assert _kinds(check_partition(0, links(inserted), keys=None)) == [("inserted", 4)]


def test_a_forged_append_is_an_unsigned_tail_until_a_checkpoint_disagrees() -> None:
    chain, memory = writer(SIGNER, every_records=3)
    chain._heads[0] = chain._new_head()

    async def run(first: int, last: int) -> None:
        for n in range(first, last):
            await chain.append(0, intent(n))

    asyncio.run(run(0, 3))  # seq 0-2, checkpoint at 3
    genuine = list(memory.sent[0])
    forged = _rehashed(
        genuine[0], seq=4, prev_sha256=genuine[-1].sha256, audit_id="f", subject="forged"
    )
    before = check_partition(0, links([*genuine, forged]), keys=KEYS)
    assert before.ok, "appended after the last checkpoint: not yet told from the writer's"
    assert _kinds(before) == [("unsigned_tail", 4)]

    asyncio.run(run(3, 6))  # the writer goes on from its own head: seq 4-6, checkpoint 7
    after = check_partition(0, links([*genuine, forged, *memory.sent[0][4:]]), keys=KEYS)
    assert not after.ok
    assert ("inserted", 4) in _kinds(after)
    assert ("forged", 4) in _kinds(after), "the later checkpoint signs another seq 4"


def test_a_cut_off_head_is_not_called_altered() -> None:
    records = genuine_chain(SIGNER, 12, every_records=5)
    report = check_partition(0, links(records)[4:], keys=KEYS)
    assert _kinds(report)[0] == ("cut_off", 4)
    assert report.findings[0].message.startswith("cut off at seq 4")
    assert "altered" not in {f.kind for f in report.findings}
    partial = check_partition(0, links(records)[4:], keys=KEYS, starts_at=4)
    assert partial.ok
    assert partial.findings[0].message == "cut off at seq 4 (export starts here)"


def test_a_tail_dropped_after_a_checkpoint_is_found_from_the_checkpoints_kept_apart() -> None:
    records = genuine_chain(SIGNER, 12, every_records=5)
    cp = Checkpoint.from_json(orjson.loads(records[11].details_json))
    report = check_partition(0, links(records[:8]), keys=KEYS, extra_checkpoints=[(11, cp)])
    assert ("tail_dropped", 10) in _kinds(report)
    assert "checkpoint at offset 11 signs seq 10, but the chain ends at seq 7" in str(
        [f.message for f in report.findings]
    )


def test_a_wrong_key_and_a_bad_signature_are_refused() -> None:
    records = genuine_chain(SIGNER, 6, every_records=5)
    other = CheckpointSigner(Ed25519PrivateKey.generate())
    wrong = check_partition(0, links(records), keys={other.key_id: other.public_key})
    assert not wrong.ok
    assert _kinds(wrong)[0] == ("unknown_key", 4), "the seq a checkpoint signs"

    details = orjson.loads(records[5].details_json)
    details["seq"] = 3  # a signed statement changed
    bad = _rehashed(records[5], details_json=orjson.dumps(details).decode())
    report = check_partition(0, links([*records[:5], bad]), keys=KEYS)
    assert _kinds(report)[0] == ("bad_signature", 3)


def test_the_signing_key_comes_from_the_file_then_the_env_then_home(tmp_path: Path) -> None:
    local = Settings(kafka_bootstrap="127.0.0.1:19092", home=tmp_path)
    made = signing_key(local, create_local=True)
    assert made is not None
    assert (tmp_path / "audit" / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert signing_key(local) is not None
    assert signing_key(local).key_id == made.key_id  # type: ignore[union-attr]
    remote = Settings(kafka_bootstrap="kafka.prod:9092", home=tmp_path / "elsewhere")
    assert signing_key(remote, create_local=True) is None, "a remote cluster: no key is made"
    with pytest.raises(SigningKeyError, match="cannot read"):
        signing_key(Settings(audit_signing_key_file=tmp_path / "no.pem"))
    pem = (tmp_path / "audit" / "signing-key.pem").read_text()
    from_env = signing_key(Settings(kafka_bootstrap="kafka.prod:9092", audit_signing_key=pem))
    assert from_env is not None
    assert from_env.key_id == made.key_id


def test_checkpoint_bytes_do_not_depend_on_time() -> None:
    signed = SIGNER.sign("ns.audit/0", 0, 4, "ab" * 32, "2026-01-01T00:00:00+00:00")
    time.sleep(0.001)
    again = Checkpoint.from_json(signed.to_json())
    assert again == signed
    assert again.check(KEYS) == "ok"


def test_a_supervisor_for_a_remote_cluster_refuses_to_start_without_a_key(
    tmp_path: Path,
) -> None:
    from agentmesh.core.policy import load_policy
    from agentmesh.supervisor import run_supervisor

    remote = Settings(kafka_bootstrap="kafka.prod.example:9092", home=tmp_path)
    with pytest.raises(SystemExit, match="no key to sign audit checkpoints with") as stopped:
        run_supervisor(remote, load_policy(None))
    assert "AGENTMESH_AUDIT_SIGNING_KEY_FILE" in str(stopped.value)
    assert not (tmp_path / "audit").exists(), "no key is made for a remote cluster"


def test_infra_up_makes_the_local_key_once(tmp_path: Path) -> None:
    from agentmesh.cli._infra import _audit_signing_key

    local = Settings(kafka_bootstrap=None, home=tmp_path)
    first = _audit_signing_key(local)
    assert first is not None
    assert (tmp_path / "audit" / "signing-key.pub.pem").exists()
    assert _audit_signing_key(local) == first, "the second run keeps the key"


def test_a_revoked_writer_forgets_its_chains_only_after_the_write_on_its_way() -> None:
    chain, memory = writer(SIGNER, every_records=1)
    chain._heads[0] = chain._new_head()
    sent = memory.send

    async def slow_send(topic: str, key: bytes, value: bytes, partition: int) -> None:
        await asyncio.sleep(0.05)
        await sent(topic, key, value, partition)

    chain._send = slow_send

    async def run() -> None:
        appending = asyncio.create_task(chain.append(0, intent(0)))
        await asyncio.sleep(0.01)  # the record is being sent; its checkpoint comes next
        await chain.forget_after_writes()
        assert appending.done()
        assert chain._heads == {}

    asyncio.run(run())
    assert [r.decision for r in memory.sent[0]] == ["budget_breach", "checkpoint"]
