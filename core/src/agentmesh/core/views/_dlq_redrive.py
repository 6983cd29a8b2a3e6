"""Putting a dead letter's work back on its agent's inbox, once, with its lineage.

Why the redriven handoff gets a key of its own: a step that was dead-lettered counts as
done (its done marker is written with the dead letter), so its idempotency key would make
the agent drop the redrive as a repeat. The redrive's key and handoff id are derived from
the dead letter's id instead: two redrives of one dead letter (again, or at the same time
from two places) carry the same key and the agent runs the first and drops the other, while
they differ from the original and from a redrive of any other dead letter. A redriven step
that fails again is a new dead letter carrying the redrive count in its input's headers, and
past ``MAX_REDRIVES`` it is refused: a redrive never loops.

The handoff and the audit intent for the supervisor's chain writer are written in one
transaction whose id is the dead letter's: both or neither, and a concurrent redrive of the
same dead letter fences the other one's transaction rather than interleaving with it.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.errors import InvalidProducerEpoch, ProducerFenced
from fastavro import schemaless_reader, schemaless_writer

from agentmesh.contracts import (
    HEADER_SIZE,
    REDRIVE_BY_HEADER,
    REDRIVE_COUNT_HEADER,
    REDRIVE_FROM_HEADER,
    REDRIVE_OF_HEADER,
    REDRIVE_REASON_HEADER,
    DecodeError,
    EditRejected,
    SchemaStore,
    Topics,
    new_id,
    read_header,
    rewrite_handoff,
)
from agentmesh.core._settings import Settings
from agentmesh.core.transport import (
    KafkaConnection,
    ProducerOptions,
    make_producer,
    partition_count,
)
from agentmesh.core.views._dlq import (
    MAX_REDRIVES,
    DeadLetterEntry,
    DeadLetterError,
    why_not_redrivable,
)

__all__ = [
    "RedriveRefused",
    "RedriveSuperseded",
    "Redriven",
    "audit_intents_topic",
    "redrive",
    "redrive_key",
]

_REDRIVE_IDS = uuid.UUID("8b6f0c1e-52d4-4f7a-9e3b-6a1d2c4e5f70")
_LINEAGE = {
    REDRIVE_OF_HEADER,
    REDRIVE_FROM_HEADER,
    REDRIVE_BY_HEADER,
    REDRIVE_REASON_HEADER,
    REDRIVE_COUNT_HEADER,
}


class RedriveRefused(DeadLetterError):
    """This dead letter cannot be redriven (as asked); the message says why."""


class RedriveSuperseded(DeadLetterError):
    """A concurrent redrive of the same dead letter took over; this one wrote nothing."""


@dataclass(frozen=True, slots=True)
class Redriven:
    """What a redrive wrote."""

    dead_letter_id: str
    position: str
    topic: str
    partition: int
    offset: int
    idempotency_key: str
    handoff_id: str
    redrive_count: int
    edited: bool
    audited: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "id": self.dead_letter_id,
            "position": self.position,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "idempotency_key": self.idempotency_key,
            "handoff_id": self.handoff_id,
            "redrive_count": self.redrive_count,
            "edited": self.edited,
            "audited": self.audited,
        }


def redrive_key(dead_letter_id: str) -> str:
    """The idempotency key every redrive of this dead letter carries."""
    return f"redrive:{dead_letter_id}"


def audit_intents_topic(namespace: str) -> str:
    """Where the supervisor takes decisions to append to the audit chain (one writer per
    chain); people's redrives are audited through it like the supervisor's own decisions."""
    return Topics(namespace).audit_intents


async def redrive(
    settings: Settings,
    registry: SchemaStore,
    entry: DeadLetterEntry,
    *,
    by: str,
    reason: str,
    payload_json: str | None = None,
    max_redrives: int = MAX_REDRIVES,
) -> Redriven:
    """Write ``entry``'s handoff (its payload replaced by ``payload_json`` if given, checked
    against the handoff's schema) back to its inbox with lineage headers, and audit it."""
    refusal = why_not_redrivable(entry, settings.namespace, max_redrives)
    if refusal is not None:
        raise RedriveRefused(f"dead letter {entry.id} cannot be redriven: {refusal}")
    if not reason.strip():
        raise RedriveRefused("a redrive needs a reason (it is kept with the work and audited)")
    value, handoff_id = await _redriven_value(registry, entry, payload_json)
    count = entry.redrive_count + 1
    conn = KafkaConnection.from_settings(settings)
    intents = audit_intents_topic(settings.namespace)
    # The supervisor creates its intents topic; without one nobody would append the intent.
    audited = await partition_count(conn, intents, timeout_s=1.0) > 0
    plan = Redriven(
        dead_letter_id=entry.id,
        position=entry.position,
        topic=entry.letter.original_topic,
        partition=-1,  # where it lands is known once it is written
        offset=-1,
        idempotency_key=redrive_key(entry.id),
        handoff_id=handoff_id,
        redrive_count=count,
        edited=payload_json is not None,
        audited=audited,
    )
    producer = make_producer(
        conn,
        ProducerOptions(
            transactional_id=f"{settings.namespace}.dlq-redrive.{entry.id}",
            client_suffix="dlq-redrive",
        ),
    )
    await producer.start()
    try:
        return await _write(producer, entry, plan, value, who=(by, reason), intents=intents)
    except (ProducerFenced, InvalidProducerEpoch):
        raise RedriveSuperseded(
            f"another redrive of dead letter {entry.id} started at the same moment and took "
            "over (Kafka fenced this one, which wrote nothing); `agentmesh dlq list` and the "
            "task's events show how it went"
        ) from None
    finally:
        await producer.stop()


async def _write(
    producer: Any,
    entry: DeadLetterEntry,
    plan: Redriven,
    value: bytes,
    *,
    who: tuple[str, str],
    intents: str,
) -> Redriven:
    """The handoff and its audit intent, in one transaction."""
    letter = entry.letter
    headers = _lineage(entry, *who, plan.redrive_count)
    async with producer.transaction():
        sent = await producer.send_and_wait(
            letter.original_topic, value, key=letter.original_key, headers=headers
        )
        written = replace(plan, partition=sent.partition, offset=sent.offset)
        if plan.audited:
            intent = _audit_intent(entry, written, *who)
            key = (letter.task_id or entry.id).encode()
            await producer.send_and_wait(intents, orjson.dumps(intent), key=key)
    return written


async def _redriven_value(
    registry: SchemaStore, entry: DeadLetterEntry, payload_json: str | None
) -> tuple[bytes, str]:
    """The handoff to write: edited (validated by the schema it was written with, as a
    reviewer's edit is) and relabelled with the redrive's key and handoff id."""
    value = entry.letter.original_value or b""
    try:
        if payload_json is not None:
            value = await rewrite_handoff(registry, value, payload_json=payload_json)
        schema = await registry.parsed_schema(read_header(value))
        datum = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), schema, None)
    except EditRejected as exc:
        # fastavro names the payload itself when the record as a whole does not fit.
        inner = "" if exc.field in ("", "payload") else f".{exc.field}"
        raise RedriveRefused(str(exc), field=f"payload{inner}") from None
    except (DecodeError, ValueError, EOFError) as exc:
        raise RedriveRefused(
            f"dead letter {entry.id} cannot be redriven: its original bytes are not a "
            f"handoff ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(datum, dict) or "idempotency_key" not in datum:
        raise RedriveRefused(f"dead letter {entry.id} cannot be redriven: not a handoff")
    handoff_id = uuid.uuid5(_REDRIVE_IDS, entry.id).hex
    # A new handoff id too: calls are identified by handoff id, and the redriven step's calls
    # are new calls, not replays of the failed step's.
    datum["idempotency_key"] = redrive_key(entry.id)
    datum["handoff_id"] = handoff_id
    out = io.BytesIO()
    out.write(value[:HEADER_SIZE])
    schemaless_writer(out, schema, datum)
    return out.getvalue(), handoff_id


def _lineage(entry: DeadLetterEntry, by: str, reason: str, count: int) -> list[tuple[str, bytes]]:
    """The original headers (tracing included) without an earlier redrive's, plus this one's."""
    kept = [(h.key, h.value or b"") for h in entry.letter.original_headers if h.key not in _LINEAGE]
    return [
        *kept,
        (REDRIVE_OF_HEADER, entry.id.encode()),
        (REDRIVE_FROM_HEADER, f"{entry.topic}@{entry.position}".encode()),
        (REDRIVE_BY_HEADER, by.encode()),
        (REDRIVE_REASON_HEADER, reason.encode()),
        (REDRIVE_COUNT_HEADER, str(count).encode()),
    ]


def _audit_intent(
    entry: DeadLetterEntry, written: Redriven, by: str, reason: str
) -> dict[str, Any]:
    """A decision for the supervisor's chain writer, in the form its own decisions take."""
    letter = entry.letter
    return {
        # Each redrive request is its own act (who, why, what): audited once each.
        "audit_id": new_id(),
        "decision": "dead_letter_redriven",
        "subject": entry.id,
        "task_id": letter.task_id,
        "actor": by,
        "at": datetime.now(UTC).isoformat(),
        "details": {
            "reason": reason,
            "dead_letter": f"{entry.topic}@{entry.position}",
            "stage": letter.stage,
            "agent": letter.agent,
            "to": f"{written.topic}@{written.partition}:{written.offset}",
            "idempotency_key": written.idempotency_key,
            "redrive_count": written.redrive_count,
            "edited": written.edited,
        },
    }
