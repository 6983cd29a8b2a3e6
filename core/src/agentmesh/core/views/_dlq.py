"""Dead letters as people act on them: listed, shown, and judged redrivable.

Every dead letter is named two ways: its ``dead_letter_id`` (in the record, stable once
written) and its position on ``<ns>.dlq`` (``<partition>:<offset>``). Either finds it.
The redrive itself is in ``_dlq_redrive``.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_reader

from agentmesh.contracts import (
    CLAIM_HEADER,
    HEADER_SIZE,
    REDRIVE_COUNT_HEADER,
    REDRIVE_OF_HEADER,
    Codec,
    DeadLetter,
    DecodeError,
    SchemaStore,
    Topics,
    read_header,
)
from agentmesh.core._settings import Settings
from agentmesh.core.transport import KafkaConnection, read_tail
from agentmesh.core.views._tail import jsonable

__all__ = [
    "MAX_REDRIVES",
    "DeadLetterEntry",
    "DeadLetterError",
    "UnknownDeadLetter",
    "find_dead_letter",
    "original_handoff",
    "read_dead_letters",
    "why_not_redrivable",
]

MAX_REDRIVES = 3
"""Times one piece of work may be redriven: past it, the cause needs fixing, not a retry."""

_POSITION = re.compile(r"^(\d{1,9}):(\d{1,19})$")


class DeadLetterError(Exception):
    """A dead-letter command that cannot be carried out; the message says why and what to do."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class UnknownDeadLetter(DeadLetterError, LookupError):
    """No dead letter with that id or position in the namespace."""


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One record of ``<ns>.dlq`` and where it is."""

    topic: str
    partition: int
    offset: int
    letter: DeadLetter

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def id(self) -> str:
        return self.letter.dead_letter_id

    @property
    def redrive_count(self) -> int:
        """Times the work in it had been redriven when it failed (0: never)."""
        return redrive_count(self.letter)

    @property
    def redriven_from(self) -> str | None:
        """The dead letter this work was redriven from, when it was."""
        value = _last_header(self.letter, REDRIVE_OF_HEADER)
        return value.decode(errors="replace") if value is not None else None

    def summary_json(self) -> dict[str, Any]:
        """What ``dlq list`` shows of it."""
        d = self.letter
        return {
            "id": d.dead_letter_id,
            "position": self.position,
            "task_id": d.task_id,
            "agent": d.agent,
            "stage": d.stage,
            "error_class": d.error_class,
            "error_message": d.error_message,
            "attempts": d.attempts,
            "failed_at": d.failed_at.isoformat(),
            "original": f"{d.original_topic}@{d.original_partition}:{d.original_offset}",
            "redrive_count": self.redrive_count,
            "redriven_from": self.redriven_from,
        }

    def as_json(self) -> dict[str, Any]:
        """Everything in it; original key, value and header values as base64."""
        d = self.letter
        data: dict[str, Any] = jsonable(d)
        data["original_headers"] = [
            {"key": h.key, "value": None if h.value is None else _b64(h.value)}
            for h in d.original_headers
        ]
        data.update(
            original_key=None if d.original_key is None else _b64(d.original_key),
            original_value=None if d.original_value is None else _b64(d.original_value),
            id=d.dead_letter_id,
            position=self.position,
            dlq_topic=self.topic,
            redrive_count=self.redrive_count,
            redriven_from=self.redriven_from,
        )
        return data


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _last_header(letter: DeadLetter, key: str) -> bytes | None:
    found = [h.value for h in letter.original_headers if h.key == key]
    return found[-1] if found else None


def redrive_count(letter: DeadLetter) -> int:
    raw = _last_header(letter, REDRIVE_COUNT_HEADER)
    try:
        return int(raw.decode("ascii")) if raw else 0
    except (UnicodeDecodeError, ValueError):
        return 0


async def read_dead_letters(settings: Settings, registry: SchemaStore) -> list[DeadLetterEntry]:
    """Every dead letter of the namespace as the topic holds it now, oldest first per
    partition. Records that are not dead letters are skipped."""
    topic = Topics(settings.namespace).dlq
    codec = Codec(DeadLetter, Topics.subject(topic), registry)
    out: list[DeadLetterEntry] = []
    conn = KafkaConnection.from_settings(settings)
    async for rec in read_tail(conn, topic, client_suffix="dlq"):
        if rec.value is None:
            continue
        try:
            letter = await codec.decode(rec.value)
        except DecodeError:
            continue
        out.append(DeadLetterEntry(topic, rec.partition, rec.offset, letter))
    return out


def find_dead_letter(entries: list[DeadLetterEntry], ident: str) -> DeadLetterEntry:
    """The entry ``ident`` names: a ``dead_letter_id`` or a ``<partition>:<offset>``."""
    match = _POSITION.match(ident.strip())
    for entry in entries:
        if entry.id == ident or (
            match is not None and (entry.partition, entry.offset) == (int(match[1]), int(match[2]))
        ):
            return entry
    raise UnknownDeadLetter(
        f"no dead letter {ident!r} here (give its id or its <partition>:<offset> on the "
        "dlq topic; `agentmesh dlq list` lists them)"
    )


def why_not_redrivable(
    entry: DeadLetterEntry, namespace: str, max_redrives: int = MAX_REDRIVES
) -> str | None:
    """Why this dead letter cannot be redriven as it is, or None when it can."""
    d = entry.letter
    inbox = re.fullmatch(
        rf"{re.escape(namespace)}\.agent\.([a-z][a-z0-9_-]{{0,62}})", d.original_topic
    )
    if inbox is None:
        return (
            f"it came from {d.original_topic}, not an agent's inbox: only handoffs to an "
            "agent can be redriven"
        )
    if d.original_value is None or "original value truncated" in d.error_message:
        return "its original value was too large to keep whole; submit the work again instead"
    if any(h.key == CLAIM_HEADER for h in d.original_headers):
        return "it is a claim-checked (large) handoff, which cannot be redriven yet"
    if entry.redrive_count >= max_redrives:
        return (
            f"its work was redriven {entry.redrive_count} times already, the limit "
            f"({max_redrives}): fix the cause, then submit the work again as a new task"
        )
    return None


async def original_handoff(registry: SchemaStore, letter: DeadLetter) -> dict[str, Any] | None:
    """The dead-lettered handoff decoded with the schema it was written with, as JSON data;
    None when its bytes are not a registry-framed record."""
    value = letter.original_value
    if value is None or len(value) < HEADER_SIZE:
        return None
    try:
        schema = await registry.parsed_schema(read_header(value))
        datum = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), schema, None)
    except (DecodeError, ValueError, EOFError, LookupError, TypeError):
        return None
    return jsonable(datum) if isinstance(datum, dict) else None
