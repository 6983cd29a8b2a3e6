"""Appends decisions to ``<ns>.audit``: one hash chain per partition, one writer each.

The auditor owns audit partition *p* exactly when it owns partition *p* of the intents
topic (faust's assignment), so every chain has a single writer. Where a chain ends is read
from the audit topic itself when the partition is taken over, never from local state:
after a crash the head is whatever really reached Kafka, and intents delivered again are
recognised by their stable ids among the chain's last records and skipped.

With a signing key, the writer also appends a signed checkpoint to each chain after
``audit_checkpoint_records`` records or ``audit_checkpoint_interval_s`` seconds, whichever
comes first (:mod:`agentmesh.supervisor._checkpoints`). Checkpoints go out through the same
producer as the records, so they have the same delivery guarantee: flushed before faust
commits the intents that caused them. One that is lost in a crash is made up for by the
next, which covers everything before it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from agentmesh.contracts import AuditRecord, Codec
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer
from agentmesh.supervisor._chain import GENESIS, record_hash
from agentmesh.supervisor._checkpoints import CheckpointClock, CheckpointSigner, signing_key

__all__ = ["ChainWriter", "CheckpointOptions", "schedule_checkpoints"]

log = logging.getLogger(__name__)

_TAIL = 1000  # records read back on takeover to recognise redelivered intents
_CHECKPOINT_IDS = uuid.UUID("0b9f3c2e-6a0d-4f57-8a43-5d8b1c7e2f61")


@dataclass
class _Head:
    clock: CheckpointClock
    seq: int = -1
    sha256: str = GENESIS
    recent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def remember(self, audit_id: str) -> None:
        self.recent[audit_id] = None
        while len(self.recent) > _TAIL:
            self.recent.popitem(last=False)


@dataclass(frozen=True, slots=True)
class CheckpointOptions:
    """Who signs checkpoints, and how often (None: no checkpoints are written)."""

    signer: CheckpointSigner | None
    every_records: int = 1000
    every_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckpointOptions:
        signer = signing_key(settings)
        if signer is None:
            log.warning("no audit signing key: the audit chains get no signed checkpoints")
        return cls(signer, settings.audit_checkpoint_records, settings.audit_checkpoint_interval_s)


def schedule_checkpoints(
    app: Any, writer: Callable[[], ChainWriter | None], every_s: float
) -> None:
    """Check every second (or every ``every_s``, if shorter) for chains due a checkpoint."""

    async def _due() -> None:
        chain = writer()
        if chain is not None:
            await chain.checkpoint_due()

    app.timer(min(1.0, every_s))(_due)


class ChainWriter:
    def __init__(
        self,
        conn: KafkaConnection,
        topic: str,
        codec: Codec[AuditRecord],
        send: Any,
        checkpoints: CheckpointOptions | None = None,
    ) -> None:
        self.conn = conn
        self.topic = topic
        self.codec = codec
        self._send = send
        self._heads: dict[int, _Head] = {}
        self.checkpoints = checkpoints or CheckpointOptions(signer=None)
        # The audit agent appends and the timer signs: one at a time, so a checkpoint
        # always sits right after the head it covers.
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Partitions moved: read every chain's head again before appending to it."""
        self._heads.clear()

    async def forget_after_writes(self, within_s: float = 10.0) -> None:
        """Like :meth:`forget`, once a record or checkpoint on its way has been handed to
        the producer: the partition's next owner must not read the chain's end before it
        (a checkpoint the timer is sending would otherwise fork the chain)."""
        try:
            async with asyncio.timeout(within_s):
                async with self._lock:
                    self._heads.clear()
        except TimeoutError:
            log.warning("audit writes still in progress after %.0f s; forgetting anyway", within_s)
            self._heads.clear()

    async def append(self, partition: int, intent_json: bytes) -> AuditRecord | None:
        """Append one intent to chain ``partition``; None if it is already there."""
        intent = orjson.loads(intent_json)
        async with self._lock:
            head = self._heads.get(partition)
            if head is None:
                head = self._heads[partition] = await self._read_head(partition)
            if intent["audit_id"] in head.recent:
                # A checkpoint that failed to go out last time is still due.
                await self._checkpoint_if_due(partition, head)
                return None
            record = await self._link(
                partition,
                head,
                audit_id=intent["audit_id"],
                at=datetime.fromisoformat(intent["at"]),
                actor=intent["actor"],
                decision=intent["decision"],
                task_id=intent.get("task_id"),
                subject=intent["subject"],
                details=intent.get("details") or {},
            )
            head.clock.wrote()
            await self._checkpoint_if_due(partition, head)
            return record

    async def checkpoint_due(self) -> list[AuditRecord]:
        """Sign every chain this writer holds that is due (the timer calls this)."""
        written: list[AuditRecord] = []
        async with self._lock:
            for partition, head in list(self._heads.items()):
                cp = await self._checkpoint_if_due(partition, head)
                if cp is not None:
                    written.append(cp)
        return written

    async def _checkpoint_if_due(self, partition: int, head: _Head) -> AuditRecord | None:
        signer = self.checkpoints.signer
        if signer is None or not head.clock.due() or self._heads.get(partition) is not head:
            return None
        chain = f"{self.topic}/{partition}"
        now = datetime.now(UTC)
        signed = signer.sign(chain, partition, head.seq, head.sha256, now.isoformat())
        record = await self._link(
            partition,
            head,
            audit_id=uuid.uuid5(_CHECKPOINT_IDS, f"{chain}|{head.seq}|{head.sha256}").hex,
            at=now,
            actor="supervisor",
            decision="checkpoint",
            task_id=None,
            subject=chain,
            details=signed.to_json(),
        )
        head.clock.signed()
        return record

    async def _link(self, partition: int, head: _Head, **fields: Any) -> AuditRecord:
        details = fields.pop("details")
        draft = AuditRecord(
            chain=f"{self.topic}/{partition}",
            seq=head.seq + 1,
            prev_sha256=head.sha256,
            sha256="",
            details_json=orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode(),
            **fields,
        )
        record = draft.model_copy(update={"sha256": record_hash(draft)})
        await self._send(self.topic, record.subject.encode(), self.codec.encode(record), partition)
        head.seq, head.sha256 = record.seq, record.sha256
        head.remember(record.audit_id)
        return record

    def _new_head(self) -> _Head:
        opts = self.checkpoints
        return _Head(CheckpointClock(opts.every_records, opts.every_s))

    async def _read_head(self, partition: int) -> _Head:
        head = self._new_head()
        tp = TopicPartition(self.topic, partition)
        consumer = make_consumer(
            self.conn, options=ConsumerOptions(group_id=None, client_suffix="audit-head")
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            begin = (await consumer.beginning_offsets([tp]))[tp]
            if end > begin:
                consumer.seek(tp, max(begin, end - _TAIL))
                while await consumer.position(tp) < end:
                    batch = await consumer.getmany(tp, timeout_ms=500)
                    for rec in batch.get(tp, []):
                        audit = await self.codec.decode(rec.value)
                        head.seq, head.sha256 = audit.seq, audit.sha256
                        head.remember(audit.audit_id)
                        # Records since the last checkpoint are still to be signed (when
                        # they were written is unknown: they count from now).
                        if audit.decision == "checkpoint":
                            head.clock.signed()
                        else:
                            head.clock.wrote()
        finally:
            await consumer.stop()
        log.info("audit chain %s/%d continues after seq %d", self.topic, partition, head.seq)
        return head
