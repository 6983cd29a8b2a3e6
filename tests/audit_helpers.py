"""Building genuine audit chains in memory (the real ChainWriter, no broker) to tamper with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from agentmesh.contracts import AuditRecord
from agentmesh.supervisor import CheckpointSigner, Link, record_hash
from agentmesh.supervisor._auditor import ChainWriter, CheckpointOptions


class _Codec:
    """Keeps records as JSON: the writer's codec is only asked to encode."""

    def encode(self, record: AuditRecord) -> bytes:
        return record.model_dump_json().encode()


@dataclass
class MemoryChain:
    """What a ChainWriter sent, per partition."""

    sent: dict[int, list[AuditRecord]] = field(default_factory=dict)

    async def send(self, topic: str, key: bytes, value: bytes, partition: int) -> None:
        record = AuditRecord.model_validate_json(value)
        self.sent.setdefault(partition, []).append(record)


def writer(
    signer: CheckpointSigner | None,
    *,
    every_records: int = 5,
    every_s: float = 3600.0,
    topic: str = "ns.audit",
) -> tuple[ChainWriter, MemoryChain]:
    memory = MemoryChain()
    options = CheckpointOptions(signer, every_records, every_s)
    chain = ChainWriter(None, topic, _Codec(), memory.send, options)  # type: ignore[arg-type]
    return chain, memory


def intent(n: int, task: str = "task-1") -> bytes:
    return orjson.dumps(
        {
            "audit_id": f"audit-{task}-{n}",
            "decision": "budget_breach",
            "subject": task,
            "task_id": task,
            "actor": "supervisor",
            "at": datetime(2026, 1, 1, 12, 0, n % 60, tzinfo=UTC).isoformat(),
            "details": {"n": n},
        }
    )


def genuine_chain(
    signer: CheckpointSigner | None,
    records: int,
    *,
    every_records: int = 5,
    partition: int = 0,
    topic: str = "ns.audit",
) -> list[AuditRecord]:
    """``records`` decisions, with a checkpoint after every ``every_records`` of them."""
    chain, memory = writer(signer, every_records=every_records, topic=topic)
    chain._heads[partition] = chain._new_head()  # a new chain: nothing to read back

    async def run() -> None:
        for n in range(records):
            await chain.append(partition, intent(n, f"task-{partition}"))

    asyncio.run(run())
    return memory.sent[partition]


def rehashed(record: AuditRecord, **changes: object) -> AuditRecord:
    """``record`` changed, with a hash that matches its new content (a careful forger)."""
    changed = record.model_copy(update=changes)
    return changed.model_copy(update={"sha256": record_hash(changed)})


def links(records: list[AuditRecord]) -> list[Link]:
    return [Link.of(offset, rec) for offset, rec in enumerate(records)]
