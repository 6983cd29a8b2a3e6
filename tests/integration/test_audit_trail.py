"""The signed audit trail on a real broker: tampering found on the topic and on an export.

Genuine chains are made by the real ChainWriter (with a signing key), then written to a
fresh namespace's audit topic with a raw producer, one scenario per partition, the way
someone with write access (or a broken tool) would: altered, dropped, reordered, inserted,
forged after a checkpoint, and a head deleted with the admin client's deleteRecords.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic, RecordsToDelete
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.contracts import AuditRecord, Codec, SchemaRegistry, Topics
from agentmesh.core import Settings, get_settings
from agentmesh.core.transport import KafkaConnection, make_admin, make_producer
from agentmesh.supervisor import (
    CheckpointSigner,
    check_topic,
    create_key_file,
    load_export,
    load_public_keys,
    read_chains,
)
from agentmesh.supervisor._auditor import ChainWriter, CheckpointOptions
from tests.audit_helpers import genuine_chain, intent, rehashed
from tests.supervisor_helpers import SupervisorProcess

pytestmark = pytest.mark.kafka

BASE_MS = int(time.time() * 1000) - 3_600_000  # record seq n is stored at BASE_MS + n s
CUT = 4  # the cut-off partition loses its first CUT records


def _scenarios(signer: CheckpointSigner, topic: str) -> dict[int, list[AuditRecord]]:
    """What is written to each partition (decisions, a checkpoint after every 5)."""

    def chain(p: int, n: int = 12) -> list[AuditRecord]:
        return genuine_chain(signer, n, every_records=5, partition=p, topic=topic)

    intact = chain(0)  # seq 0-4, checkpoint 5, 6-10, checkpoint 11, 12-13 unsigned
    altered = chain(1)
    altered[3] = altered[3].model_copy(update={"actor": "mallory"})
    dropped = chain(2)
    del dropped[7]
    reordered = chain(3)
    reordered[7], reordered[8] = reordered[8], reordered[7]
    inserted = chain(4)
    inserted.insert(8, rehashed(inserted[8], audit_id="x", subject="made up"))
    forged = chain(5, 16)  # ... checkpoint 11, 12-16, checkpoint 17
    forged.insert(
        12, rehashed(forged[12], audit_id="f", subject="appended by someone else", actor="m")
    )
    return {0: intact, 1: altered, 2: dropped, 3: reordered, 4: inserted, 5: forged, 6: chain(6)}


EXPECTED = {
    0: {("unsigned_tail", 12)},
    1: {("altered", 3), ("unsigned_tail", 12)},
    2: {("dropped", 8), ("unsigned_tail", 12)},
    3: {("reordered", 8), ("unsigned_tail", 12)},
    # seq 8 made up, stored before the genuine seq 8: the next record skips it, and the
    # checkpoint at seq 11 signs a chain with another seq 8.
    4: {("inserted", 8), ("forged", 8), ("unsigned_tail", 12)},
    # appended after checkpoint 11 while the writer went on: checkpoint 17 disagrees.
    5: {("inserted", 12), ("forged", 12), ("unsigned_tail", 18)},
    6: {("cut_off", CUT), ("unsigned_tail", 12)},
}


async def _write(settings: Settings, scenarios: dict[int, list[AuditRecord]]) -> None:
    conn = KafkaConnection.from_settings(settings)
    topic = Topics(settings.namespace).audit
    admin = make_admin(conn)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, len(scenarios), 1)])
        registry = SchemaRegistry(settings.registry_url)
        codec = Codec(AuditRecord, Topics.subject(topic), registry)
        await codec.register()
        producer = make_producer(conn)
        await producer.start()
        try:
            for p, records in scenarios.items():
                for rec in records:
                    value = codec.encode(rec)
                    ts = BASE_MS + rec.seq * 1000
                    await producer.send(topic, value, rec.subject.encode(), p, ts)
            await producer.flush()
        finally:
            await producer.stop()
            await registry.close()
        await admin.delete_records({TopicPartition(topic, 6): RecordsToDelete(CUT)})
    finally:
        await admin.close()


_LAST_STDERR = [""]


def _cli(settings: Settings, *args: str) -> tuple[int, Any]:
    """``agentmesh audit ... --json`` in this process (a subprocess costs seconds here)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
            "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
            "AGENTMESH_NAMESPACE": settings.namespace,
        }.items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        try:
            done = CliRunner().invoke(app, ["audit", *args, "--json"])
        finally:
            get_settings.cache_clear()
    assert done.exit_code in (0, 1), done.output
    _LAST_STDERR[0] = done.stderr
    return done.exit_code, orjson.loads(done.stdout)


def _found(result: dict[str, Any]) -> dict[int, set[tuple[str, int]]]:
    return {
        p["partition"]: {(f["kind"], f["seq"]) for f in p["findings"]} for p in result["partitions"]
    }


@pytest.fixture
def keys(tmp_path: Path) -> tuple[CheckpointSigner, Path]:
    signer = create_key_file(tmp_path / "keys" / "signing-key.pem")
    return signer, tmp_path / "keys" / "signing-key.pub.pem"


def test_tampering_is_found_on_the_topic_and_on_its_export(
    settings: Settings, keys: tuple[CheckpointSigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    scenarios = _scenarios(signer, Topics(settings.namespace).audit)
    asyncio.run(_write(settings, scenarios))

    code, on_topic = _cli(settings, "verify", "--key", str(public))
    assert code == 1
    assert on_topic["signatures_checked"] is True
    assert _found(on_topic) == EXPECTED
    assert [p["partition"] for p in on_topic["partitions"] if p["ok"]] == [0]
    cut = next(f for f in on_topic["partitions"][6]["findings"] if f["kind"] == "cut_off")
    assert cut["message"].startswith(f"cut off at seq {CUT}:")

    out = tmp_path / "export"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("agentmesh.supervisor._audit_export.PROGRESS_EVERY", 10)
        code, exported = _cli(settings, "export", "--out", str(out), "--key", str(public))
    assert code == 0
    assert "partition 5: 20 records…" in _LAST_STDERR[0]
    assert [p["records"] for p in exported["manifest"]["partitions"]] == [
        14,
        14,
        13,
        14,
        15,
        20,
        14 - CUT,
    ]
    assert (out / "keys" / f"{signer.key_id}.pub.pem").read_bytes() == public.read_bytes()
    code, offline = _cli(settings, "verify", "--dir", str(out), "--key", str(public))
    assert code == 1
    assert _found(on_topic) == _found(offline), "the same findings with no Kafka"


def test_an_intact_trail_verifies_its_unsigned_tail_warns_and_a_wrong_key_is_refused(
    settings: Settings, keys: tuple[CheckpointSigner, Path], tmp_path: Path
) -> None:
    signer, public = keys
    topic = Topics(settings.namespace).audit
    asyncio.run(_write_one(settings, genuine_chain(signer, 12, every_records=5, topic=topic)))

    code, result = _cli(settings, "verify", "--key", str(public))
    assert (code, result["ok"]) == (0, True)
    (finding,) = result["partitions"][0]["findings"]
    assert (finding["kind"], finding["severity"]) == ("unsigned_tail", "warning")
    assert finding["message"].startswith("unsigned tail: 2 records after seq 10")

    code, plain = _cli(settings, "verify")
    assert (code, plain["signatures_checked"], plain["partitions"][0]["findings"]) == (0, False, [])

    other = create_key_file(tmp_path / "other" / "key.pem")
    code, wrong = _cli(settings, "verify", "--key", str(tmp_path / "other" / "key.pub.pem"))
    assert code == 1
    assert {f["kind"] for f in wrong["partitions"][0]["findings"]} == {
        "unknown_key",
        "unsigned_tail",
    }
    assert other.key_id != signer.key_id

    # An export cut by time verifies as starting there; one with its tail dropped does not.
    since = datetime.fromtimestamp((BASE_MS + 6_500) / 1000, UTC).isoformat()
    out = tmp_path / "since"
    code, _ = _cli(settings, "export", "--out", str(out), "--since", since, "--key", str(public))
    assert code == 0
    keyring = load_public_keys([public])
    (partial,) = load_export(out).check(keyring)
    assert partial.ok
    assert partial.findings[0].message == "cut off at seq 7 (export starts here)"

    whole = tmp_path / "whole"
    assert _cli(settings, "export", "--out", str(whole), "--key", str(public))[0] == 0
    lines = (whole / "partition-0.jsonl").read_bytes().splitlines(keepends=True)
    (whole / "partition-0.jsonl").write_bytes(b"".join(lines[:9]))  # seq 0-8 left
    code, cut = _cli(settings, "verify", "--dir", str(whole), "--key", str(public))
    assert code == 1
    assert ("tail_dropped", 10) in _found(cut)[0]

    (whole / "partition-0.jsonl").write_bytes(
        b"".join(lines).replace(b'"actor":"supervisor"', b'"actor":"someone"', 1)
    )
    (altered,) = load_export(whole).check(keyring)
    assert [(f.kind, f.seq) for f in altered.findings if f.severity == "failure"] == [
        ("altered", 0)
    ]


async def _write_one(settings: Settings, records: list[AuditRecord]) -> None:
    conn = KafkaConnection.from_settings(settings)
    topic = Topics(settings.namespace).audit
    admin = make_admin(conn)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AuditRecord, Topics.subject(topic), registry)
    await codec.register()
    producer = make_producer(conn)
    await producer.start()
    try:
        for rec in records:
            ts = BASE_MS + rec.seq * 1000
            await producer.send(topic, codec.encode(rec), rec.subject.encode(), 0, ts)
        await producer.flush()
    finally:
        await producer.stop()
        await registry.close()


@pytest.mark.slow
async def test_the_supervisor_signs_what_it_audits_within_the_interval(
    settings: Settings, keys: tuple[CheckpointSigner, Path], tmp_path: Path
) -> None:
    _, public = keys  # verify knows no other key: the checkpoints are signed with this one
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets: {}\n")
    sup = SupervisorProcess(settings, policy, tmp_path)
    sup.env["AGENTMESH_AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "keys" / "signing-key.pem")
    sup.env["AGENTMESH_AUDIT_CHECKPOINT_INTERVAL_S"] = "1"
    sup.start()
    try:
        await sup.wait_ready()
        for action in ("pause", "resume"):
            args = (action, "--all", "--reason", "drill", "--by", "ops-dana")
            issued = await asyncio.to_thread(_control, settings, *args)
            assert issued.exit_code == 0, issued.output

        async def signed() -> dict[str, Any] | None:
            code, result = await asyncio.to_thread(_cli, settings, "verify", "--key", str(public))
            parts = [p for p in result["partitions"] if p["records"]]
            audited = sum(p["records"] - p["checkpoints"] for p in parts)
            done = code == 0 and audited == 2 and all(not p["findings"] for p in parts)
            return dict(result) if done else None

        deadline = time.monotonic() + 60
        while (result := await signed()) is None:
            assert time.monotonic() < deadline, "the two kill switches were never signed"
            await asyncio.sleep(1)
        parts = [p for p in result["partitions"] if p["records"]]
        assert all(p["signed_through"] == p["last_seq"] - 1 for p in parts), parts
    finally:
        sup.terminate()


def _control(settings: Settings, *args: str) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTMESH_KAFKA_BOOTSTRAP", settings.bootstrap)
        mp.setenv("AGENTMESH_SCHEMA_REGISTRY_URL", settings.registry_url)
        mp.setenv("AGENTMESH_NAMESPACE", settings.namespace)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, ["control", *args, "--json"])
        finally:
            get_settings.cache_clear()


async def test_a_writer_taking_a_chain_over_counts_what_the_last_checkpoint_left_unsigned(
    settings: Settings, keys: tuple[CheckpointSigner, Path]
) -> None:
    signer, _ = keys
    conn = KafkaConnection.from_settings(settings)
    topic = Topics(settings.namespace).audit
    admin = make_admin(conn)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AuditRecord, Topics.subject(topic), registry)
    await codec.register()
    producer = make_producer(conn)
    await producer.start()

    async def send(topic: str, key: bytes, value: bytes, partition: int) -> None:
        await (await producer.send(topic, value, key, partition))

    def writer() -> ChainWriter:
        return ChainWriter(conn, topic, codec, send, CheckpointOptions(signer, 4, 3600.0))

    try:
        first = writer()
        for n in range(6):  # seq 0-3, checkpoint 4, seq 5-6: two unsigned
            await first.append(0, intent(n))
        second = writer()  # a restart: the head and what is unsigned come from the topic
        assert await second.append(0, intent(5)) is None, "a redelivered intent is skipped"
        for n in range(6, 8):
            await second.append(0, intent(n))
    finally:
        await producer.stop()
        await registry.close()
    chain = [rec for _, rec in (await read_chains(conn, settings))[0]]
    assert [r.decision == "checkpoint" for r in chain] == [
        *[False] * 4,
        True,
        *[False] * 4,
        True,
    ], "signed after the 4th record since the last checkpoint, two of them before the restart"
    (report,) = await check_topic(conn, settings, {signer.key_id: signer.public_key})
    assert (report.ok, report.signed_through, report.findings) == (True, 8, [])
