"""Appends decisions to ``<ns>.audit``: one hash chain per partition, one writer each.

The auditor owns audit partition *p* exactly when it owns partition *p* of the intents
topic (faust's assignment), so every chain has a single writer. Where a chain ends is read
from the audit topic itself when the partition is taken over, never from local state:
after a crash the head is whatever really reached Kafka, and intents delivered again are
recognised by their stable ids among the chain's last records and skipped.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from agentmesh.contracts import AuditRecord, Codec
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer
from agentmesh.supervisor._chain import GENESIS, record_hash

__all__ = ["ChainWriter"]

log = logging.getLogger(__name__)

_TAIL = 1000  # records read back on takeover to recognise redelivered intents


@dataclass
class _Head:
    seq: int = -1
    sha256: str = GENESIS
    recent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def remember(self, audit_id: str) -> None:
        self.recent[audit_id] = None
        while len(self.recent) > _TAIL:
            self.recent.popitem(last=False)


class ChainWriter:
    def __init__(
        self, conn: KafkaConnection, topic: str, codec: Codec[AuditRecord], send: Any
    ) -> None:
        self.conn = conn
        self.topic = topic
        self.codec = codec
        self._send = send
        self._heads: dict[int, _Head] = {}

    def forget(self) -> None:
        """Partitions moved: read every chain's head again before appending to it."""
        self._heads.clear()

    async def append(self, partition: int, intent_json: bytes) -> AuditRecord | None:
        """Append one intent to chain ``partition``; None if it is already there."""
        intent = orjson.loads(intent_json)
        head = self._heads.get(partition)
        if head is None:
            head = self._heads[partition] = await self._read_head(partition)
        if intent["audit_id"] in head.recent:
            return None
        draft = AuditRecord(
            audit_id=intent["audit_id"],
            chain=f"{self.topic}/{partition}",
            seq=head.seq + 1,
            prev_sha256=head.sha256,
            sha256="",
            at=datetime.fromisoformat(intent["at"]),
            actor=intent["actor"],
            decision=intent["decision"],
            task_id=intent.get("task_id"),
            subject=intent["subject"],
            details_json=orjson.dumps(
                intent.get("details") or {}, option=orjson.OPT_SORT_KEYS
            ).decode(),
        )
        record = draft.model_copy(update={"sha256": record_hash(draft)})
        await self._send(self.topic, record.subject.encode(), self.codec.encode(record), partition)
        head.seq, head.sha256 = record.seq, record.sha256
        head.remember(record.audit_id)
        return record

    async def _read_head(self, partition: int) -> _Head:
        head = _Head()
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
        finally:
            await consumer.stop()
        log.info("audit chain %s/%d continues after seq %d", self.topic, partition, head.seq)
        return head
