"""A slice of a namespace's topics, copied into a fresh namespace to run agents against.

What is copied: the task submissions, every agent's inbox, the events, review requests and
decisions, dead letters, claim-checked bodies and recordings, for a time range, from given
offsets, or for one task; records keep their partition, key, headers and timestamp, so an
agent run in the sandbox sees what the mesh saw. What is not: agents' journals, state and
done markers (a sandbox agent must do the work again, not recognise it as done), the control
topic (a kill switch of production would halt the sandbox) and the supervisor's internals.

The source is only read (with a reader that never commits and never joins a group); every
write goes to topics under the destination namespace, which must not exist yet. Avro records
carry their schema id: each writer schema is registered under the destination topic's subject
and the id in the record rewritten when the registry gives another.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agentmesh.contracts import MAGIC_BYTE, SchemaRegistry, Topics
from agentmesh.core._settings import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    TopicSpec,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)

__all__ = ["SliceError", "SliceReport", "SliceSpec", "copy_slice", "parse_offsets"]

_COPIED = ("tasks", "events", "review.requests", "review.decisions", "dlq", "claims", "recordings")
_INBOX = re.compile(r"agent\.[a-z][a-z0-9_-]*")
_STALL_S = 60.0


class SliceError(ValueError):
    """The slice cannot be made as asked (the message says how to fix it)."""


@dataclass(frozen=True)
class SliceSpec:
    """What to copy: from where to where, and which records."""

    into: str
    since: datetime | None = None
    until: datetime | None = None
    task_id: str | None = None
    # (topic suffix, partition) → first offset to copy, e.g. ("events", 0) → 120
    from_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass
class SliceReport:
    """What was copied, per source topic."""

    source: str
    into: str
    copied: dict[str, int] = field(default_factory=dict)
    schemas: int = 0

    @property
    def total(self) -> int:
        return sum(self.copied.values())


def parse_offsets(text: str) -> dict[tuple[str, int], int]:
    """``events:0=120,events:1=80`` → {("events", 0): 120, ("events", 1): 80}."""
    found: dict[tuple[str, int], int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"([a-z][a-z0-9._-]*):(\d+)=(\d+)", part)
        if match is None:
            raise SliceError(
                f"{part!r} is not TOPIC:PARTITION=OFFSET (the topic without its namespace, "
                "e.g. events:0=120 or agent.writer:2=15)"
            )
        found[(match[1], int(match[2]))] = int(match[3])
    return found


async def copy_slice(
    settings: Settings, spec: SliceSpec, progress: Callable[[str], None] | None = None
) -> SliceReport:
    """Copy the slice of ``settings.namespace`` that ``spec`` names into ``spec.into``."""
    say = progress or (lambda _: None)
    source, conn = settings.namespace, KafkaConnection.from_settings(settings)
    if spec.into == source:
        raise SliceError("--into must name another namespace than the source's")
    chosen = await _plan(conn, source, spec.into)
    report = SliceReport(source, spec.into)
    registry = SchemaRegistry(settings.registry_url)
    reader = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="slice"))
    writer = make_producer(conn)
    await reader.start()
    await writer.start()
    try:
        schemas = _Schemas(registry)
        for topic, partitions in chosen.items():
            suffix = topic[len(source) + 1 :]
            copy = _Copy(reader, writer, schemas, spec, suffix)
            report.copied[topic] = await copy.run(topic, f"{spec.into}.{suffix}", partitions)
            say(f"{topic}: {report.copied[topic]:,} records")
        await writer.flush()
        report.schemas = len(schemas.mapped)
    finally:
        await writer.stop()
        await reader.stop()
        await registry.close()
    return report


async def _plan(conn: KafkaConnection, source: str, into: str) -> dict[str, int]:
    """The source topics to copy (name → partitions); the destination topics made for them."""
    admin = make_admin(conn)
    await admin.start()
    try:
        names = await admin.list_topics()
        taken = sorted(t for t in names if t.startswith(f"{into}."))
        if taken:
            raise SliceError(
                f"namespace {into!r} is not fresh ({len(taken)} topics, e.g. {taken[0]}): "
                "choose a new one, or delete its topics first"
            )
        wanted = sorted(t for t in names if _copied(t, source))
        if not wanted:
            raise SliceError(f"namespace {source!r} has no mesh topics to copy")
        described = await admin.describe_topics(wanted)
    finally:
        await admin.close()
    chosen = {d["topic"]: len(d["partitions"]) for d in described}
    specs = [TopicSpec(f"{into}.{t[len(source) + 1 :]}", n) for t, n in chosen.items()]
    await ensure_topics(conn, specs)
    return chosen


def _copied(topic: str, source: str) -> bool:
    if not topic.startswith(f"{source}."):
        return False
    suffix = topic[len(source) + 1 :]
    return suffix in _COPIED or _INBOX.fullmatch(suffix) is not None


class _Schemas:
    """Writer schemas registered under the destination subjects, by source schema id."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.mapped: dict[tuple[str, int], int] = {}

    async def rewrite(self, subject: str, value: bytes) -> bytes:
        if len(value) < 5 or value[0] != MAGIC_BYTE:
            return value  # not a registry-framed record: copied as it is
        (source_id,) = struct.unpack(">I", value[1:5])
        target = self.mapped.get((subject, source_id))
        if target is None:
            schema = await self.registry.fetch(source_id)
            target = await self.registry.register(subject, schema)
            self.mapped[(subject, source_id)] = target
        if target == source_id:
            return value
        return value[:1] + struct.pack(">I", target) + value[5:]


class _Copy:
    """One topic's records, partition by partition, from the slice's start to its end."""

    def __init__(
        self,
        reader: AIOKafkaConsumer,
        writer: AIOKafkaProducer,
        schemas: _Schemas,
        spec: SliceSpec,
        suffix: str,
    ) -> None:
        self.reader, self.writer, self.schemas = reader, writer, schemas
        self.spec, self.suffix = spec, suffix
        self.key = None if spec.task_id is None else spec.task_id.encode()
        # Claim-checked bodies are keyed by their claim, not by task: copied whole.
        self.by_task = self.key is not None and suffix != "claims"

    async def run(self, topic: str, target: str, partitions: int) -> int:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.reader.assign(tps)
        ends = await self.reader.end_offsets(tps)
        starts = await self._starts(tps)
        copied = 0
        for tp in tps:
            if starts[tp] < ends[tp]:
                self.reader.seek(tp, starts[tp])
                copied += await self._partition(tp, target, ends[tp])
        return copied

    async def _starts(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        tps = list(tps)
        starts: dict[TopicPartition, int] = dict(await self.reader.beginning_offsets(tps))
        if self.spec.since is not None:
            stamp = int(self.spec.since.timestamp() * 1000)
            found = await self.reader.offsets_for_times(dict.fromkeys(tps, stamp))
            ends = await self.reader.end_offsets(tps)
            starts = {tp: ends[tp] if at is None else at.offset for tp, at in found.items()}
        for tp in tps:
            given = self.spec.from_offsets.get((self.suffix, tp.partition))
            if given is not None:
                starts[tp] = max(starts[tp], given)
        return starts

    async def _partition(self, tp: TopicPartition, target: str, end: int) -> int:
        until = None if self.spec.until is None else int(self.spec.until.timestamp() * 1000)
        subject = Topics.subject(target)
        copied, deadline = 0, time.monotonic() + _STALL_S
        while await self.reader.position(tp) < end:
            batch = (await self.reader.getmany(tp, timeout_ms=500)).get(tp, [])
            if batch:
                deadline = time.monotonic() + _STALL_S
            elif time.monotonic() > deadline:
                raise SliceError(
                    f"{tp.topic}[{tp.partition}] gave no record for {_STALL_S:.0f} s before "
                    f"offset {end}: is the broker reachable? {copied} records were copied"
                )
            for rec in batch:
                if rec.offset >= end or (until is not None and rec.timestamp > until):
                    return copied
                if self.by_task and rec.key != self.key:
                    continue
                value = (
                    None if rec.value is None else await self.schemas.rewrite(subject, rec.value)
                )
                await self.writer.send(
                    target,
                    value,
                    key=rec.key,
                    partition=tp.partition,
                    timestamp_ms=rec.timestamp,
                    headers=list(rec.headers or ()),
                )
                copied += 1
        return copied
