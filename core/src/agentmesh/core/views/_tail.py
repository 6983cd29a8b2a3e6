"""Reading any topic of the mesh as records people and scripts can read: ``agentmesh tail``.

agentmesh's own topics are decoded with their contract (events, audit, dead letters, review
requests and decisions, control, tasks); any other topic written with a registry serializer
is decoded with its writer schema, and anything else is shown as raw bytes.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from aiokafka import TopicPartition
from fastavro import schemaless_reader

from agentmesh.contracts import (
    CATALOG,
    HEADER_SIZE,
    Codec,
    Contract,
    ControlCommand,
    DecodeError,
    RegistryUnavailableError,
    SchemaRegistry,
    SchemaStore,
    Topics,
    UnknownMagicByteError,
)
from agentmesh.contracts._wire import read_header
from agentmesh.core._settings import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_consumer,
    partition_count,
    partition_for,
)

__all__ = [
    "Start",
    "TailRecord",
    "TailSpec",
    "TopicMissing",
    "dumps_line",
    "jsonable",
    "parse_since",
    "record_time",
    "resolve_topic",
    "tail_kafka",
]

Start = Literal["beginning", "end"] | datetime
"""Where reading starts: the beginning, the end (live), or the first record at/after a time."""

# Short names people type for agentmesh's own topics.
_ALIASES = {
    "tasks": "task",
    "events": "event",
    "control": "control",
    "reviews": "review-request",
    "review.requests": "review-request",
    "decisions": "review-decision",
    "review.decisions": "review-decision",
    "dlq": "dead-letter",
    "audit": "audit",
}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATIONS = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TopicMissing(LookupError):
    """The topic does not exist on the cluster."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``10m``, ``2h``, ``1h30m``, ``45s``, ``3d`` ago, or an ISO 8601 time (a time without
    a zone is local time; a bare date is its midnight). Returns an aware UTC datetime."""
    value = text.strip()
    now = now or datetime.now(UTC)
    compact = value.replace(" ", "").lower()
    if compact and _DURATIONS.fullmatch(compact):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(compact))
        return now - timedelta(seconds=seconds)
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30s, 10m, 2h, 1h30m, 3d) nor an ISO "
            "8601 time (2025-01-31T14:00:00Z, 2025-01-31 14:00, 2025-01-31)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # local time, as people mean it
    return stamp.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TailSpec:
    """A topic and, for agentmesh's own topics, the contract its values are."""

    topic: str
    name: str  # the catalog name ("event", "audit", ...) or "topic" for any other topic
    model: type[Contract] | None


def resolve_topic(namespace: str, name: str) -> TailSpec:
    """``events``, ``audit``, ``dlq``, ``control``, ``tasks``, ``review.requests``,
    ``review.decisions`` (short or with the namespace prefix), or any topic name."""
    topics = Topics(namespace)
    by_name = {spec.name: spec for spec in CATALOG if spec.topic is not None}
    alias = _ALIASES.get(name)
    if alias is not None:
        spec = by_name[alias]
        assert spec.topic is not None
        return TailSpec(spec.topic(topics), spec.name, spec.model)
    for spec in by_name.values():
        assert spec.topic is not None
        if spec.topic(topics) == name:
            return TailSpec(name, spec.name, spec.model)
    return TailSpec(name, "topic", None)


@dataclass(frozen=True, slots=True)
class TailRecord:
    """One record as read: where it was, and its value as decoded as it could be."""

    topic: str | None
    partition: int | None
    offset: int | None
    timestamp: datetime | None
    key: str | None
    value: Contract | dict[str, Any] | list[Any] | str | int | float | bool | None
    schema_id: int | None = None
    raw: bytes | None = None  # set when the value could not be decoded
    error: str | None = None  # why it could not be decoded with its contract
    stream_id: str | None = None  # the gateway's resume position (Server-Sent Events id)

    @property
    def model(self) -> Contract | None:
        return self.value if isinstance(self.value, Contract) else None

    def as_json(self) -> dict[str, Any]:
        """One JSON object per record (``--json``): coordinates, then the value."""
        out: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "key": self.key,
            "value": jsonable(self.value),
        }
        if self.schema_id is not None:
            out["schema_id"] = self.schema_id
        if self.raw is not None:
            out["value_bytes"] = len(self.raw)
            out["value_hex"] = self.raw.hex()
        if self.error is not None:
            out["error"] = self.error
        if self.stream_id is not None:
            out["id"] = self.stream_id
        return out

    def task_id(self) -> str | None:
        """The task this record is about, when it says."""
        value = self.value
        if isinstance(value, ControlCommand):
            return value.target if value.scope == "task" else None
        if isinstance(value, Contract):
            found = getattr(value, "task_id", None)
            return found if isinstance(found, str) else None
        if isinstance(value, dict) and isinstance(value.get("task_id"), str):
            return str(value["task_id"])
        return None

    def is_about(self, task_id: str) -> bool:
        return self.task_id() == task_id or (self.task_id() is None and self.key == task_id)


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode()
    return str(obj)  # Decimal, UUID, ...


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (bytes as base64, decimals as strings)."""
    if isinstance(value, Contract):
        value = value.model_dump(mode="python")
    return orjson.loads(orjson.dumps(value, default=_default))


def dumps_line(data: Any) -> str:
    """One line of JSON (no newline inside)."""
    return orjson.dumps(data, default=_default).decode()


class _Decoder:
    """Decodes values of one topic: its contract first, else the writer schema, else raw."""

    def __init__(self, spec: TailSpec, registry: SchemaStore) -> None:
        self.registry = registry
        self.codec = (
            None if spec.model is None else Codec(spec.model, Topics.subject(spec.topic), registry)
        )

    async def decode(
        self, value: bytes
    ) -> tuple[Contract | dict[str, Any] | None, int | None, bytes | None, str | None]:
        """(value, schema id, raw bytes if undecodable, error)."""
        error = None
        if self.codec is not None:
            try:
                return await self.codec.decode(value), None, None, None
            except DecodeError as exc:
                error = f"not a valid {self.codec.model.__name__}: {exc}"
        try:
            schema_id = read_header(value)
            writer = await self.registry.parsed_schema(schema_id)
            body = io.BytesIO(value)
            body.seek(HEADER_SIZE)
            datum = schemaless_reader(body, writer, None)
        except RegistryUnavailableError:
            raise
        except UnknownMagicByteError as exc:
            plain = _plain_json(value)  # not framed: plain JSON (faust tables) or bytes
            if plain is not None:
                return plain, None, None, error
            return None, None, value, error or f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - anything else: show the bytes
            return None, None, value, error or f"{type(exc).__name__}: {exc}"
        data = jsonable(datum)
        return (data if isinstance(data, dict) else {"value": data}), schema_id, None, error


def _plain_json(value: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else {"value": data}


def _key(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.hex()


async def tail_kafka(
    settings: Settings,
    spec: TailSpec,
    on_record: Callable[[TailRecord], Awaitable[None] | None],
    *,
    start: Start,
    follow: bool,
    task_id: str | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Read ``spec.topic`` from ``start``; stop at its end as it was when called unless
    ``follow``. Records of one task on a topic keyed by task id are read from that task's
    partition only; ``on_ready`` is called once reading positions are fixed.

    Returns how many records were passed to ``on_record``.
    """
    conn = KafkaConnection.from_settings(settings)
    count = await partition_count(conn, spec.topic, timeout_s=2.0)
    if count <= 0:
        raise TopicMissing(
            f"topic {spec.topic} does not exist (namespace {settings.namespace}; "
            "`agentmesh tail` takes events, audit, dlq, control, tasks, review.requests, "
            "review.decisions or a full topic name)"
        )
    partitions = list(range(count))
    if task_id is not None and spec.name in _KEYED_BY_TASK:
        partitions = [partition_for(task_id.encode(), count)]
    tps = [TopicPartition(spec.topic, p) for p in partitions]
    registry = SchemaRegistry(settings.registry_url)
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="tail"))
    await consumer.start()
    try:
        consumer.assign(tps)
        await _seek(consumer, tps, start)
        for tp in tps:
            await consumer.position(tp)  # resolve the seek now: nothing after this is missed
        ends = None if follow else await consumer.end_offsets(tps)
        if on_ready is not None:
            on_ready()
        reader = _Reader(_Decoder(spec, registry), spec.topic, task_id, on_record)
        while True:
            left = tps
            if ends is not None:
                left = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
                if not left:
                    break
            batch = await consumer.getmany(*left, timeout_ms=500)
            for tp, records in batch.items():
                end = None if ends is None else ends[tp]
                await reader.take([r for r in records if end is None or r.offset < end])
    finally:
        await consumer.stop()
        await registry.close()
    return reader.shown


# Topics whose records are keyed by task id: one task's records are on one partition.
_KEYED_BY_TASK = ("event", "task", "dead-letter")


@dataclass
class _Reader:
    decoder: _Decoder
    topic: str
    task_id: str | None
    on_record: Callable[[TailRecord], Awaitable[None] | None]
    shown: int = 0

    async def take(self, records: list[Any]) -> None:
        for rec in records:
            record = await _record(self.decoder, self.topic, rec)
            if self.task_id is not None and not record.is_about(self.task_id):
                continue
            self.shown += 1
            result = self.on_record(record)
            if result is not None:
                await result


async def _record(decoder: _Decoder, topic: str, rec: Any) -> TailRecord:
    stamp = datetime.fromtimestamp(rec.timestamp / 1000, UTC) if rec.timestamp else None
    value, schema_id, raw, error = (
        (None, None, None, "tombstone (no value)")
        if rec.value is None
        else await decoder.decode(rec.value)
    )
    return TailRecord(
        topic=topic,
        partition=rec.partition,
        offset=rec.offset,
        timestamp=stamp,
        key=_key(rec.key),
        value=value,
        schema_id=schema_id,
        raw=raw,
        error=error,
    )


async def _seek(consumer: Any, tps: list[TopicPartition], start: Start) -> None:
    if start == "beginning":
        await consumer.seek_to_beginning(*tps)
    elif start == "end":
        await consumer.seek_to_end(*tps)
    else:
        assert isinstance(start, datetime)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, int(start.timestamp() * 1000)))
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])


def record_time(record: TailRecord) -> datetime | None:
    """When the record's own content says it happened (else the Kafka timestamp)."""
    value = record.value
    if isinstance(value, Contract):
        for name in ("at", "failed_at", "decided_at", "requested_at", "issued_at", "submitted_at"):
            found = getattr(value, name, None)
            if isinstance(found, datetime):
                return found
    return record.timestamp
