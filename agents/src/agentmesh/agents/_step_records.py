"""What a step's records say about it: summary event, dead-letter stage, keys, hashes."""

from __future__ import annotations

import hashlib
from typing import Any

from agentmesh.agents._errors import BudgetExceeded, UnknownAgentError
from agentmesh.agents._records import RawRecord
from agentmesh.agents._step import StepOutcome
from agentmesh.contracts import (
    Codec,
    DeadLetter,
    EmittedHandoff,
    Handoff,
    Header,
    PayloadValidationError,
    StepFinished,
)

__all__ = [
    "DLQ_HEADROOM",
    "dead_letter_of",
    "finished",
    "fit_dead_letter",
    "payload_hash",
    "record_key",
    "stage_of",
    "task_id_from_key",
]

# Room a dead letter keeps under the message limit for everything but the original value.
DLQ_HEADROOM = 64 * 1024


def stage_of(error: BaseException) -> str:
    if isinstance(error, UnknownAgentError):
        return "unknown_agent"
    if isinstance(error, PayloadValidationError):
        return "validate"
    if isinstance(error, BudgetExceeded):
        return "policy"
    return "handler"


def finished(
    record: RawRecord,
    envelope: Handoff[Any],
    kind: str,
    outcome: StepOutcome,
    emitted: list[EmittedHandoff] | None = None,
) -> StepFinished:
    return StepFinished(
        handoffs=emitted or [],
        handoff_id=envelope.handoff_id,
        outcome=kind,
        duration_ms=outcome.duration_ms,
        input_topic=record.topic,
        input_partition=record.partition,
        input_offset=record.offset,
        attempts=outcome.attempts or None,
    )


def record_key(envelope: Handoff[Any]) -> bytes:
    return str(envelope.task_id).encode()


def task_id_from_key(key: bytes | None) -> str | None:
    try:
        return key.decode() if key else None
    except UnicodeDecodeError:
        return None


def payload_hash(envelope: Handoff[Any]) -> str:
    canonical = envelope.payload.model_dump_json().encode()
    return hashlib.sha256(f"{envelope.to_agent}\n".encode() + canonical).hexdigest()


def dead_letter_of(
    record: RawRecord,
    envelope: Handoff[Any] | None,
    stage: str,
    error: BaseException,
    attempts: int,
) -> DeadLetter:
    """The dead letter of ``record`` as it is (see :func:`fit_dead_letter` before sending).

    A claim-checked input is dead-lettered as it came, its ticket: small, and complete for a
    redrive (the chunks stay on the claims topic), where the resolved bytes would be cut to fit.
    """
    return DeadLetter(
        task_id=envelope.task_id if envelope else task_id_from_key(record.key),
        agent=envelope.to_agent if envelope else None,
        stage=stage,
        error_class=type(error).__name__,
        error_message=str(error)[:4000] or type(error).__name__,
        attempts=attempts,
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
        original_timestamp_ms=record.timestamp_ms,
        original_key=record.key,
        original_value=record.ticket if record.ticket is not None else record.value,
        original_headers=[Header(key=k, value=v) for k, v in record.headers],
    )


def fit_dead_letter(
    codec: Codec[DeadLetter],
    letter: DeadLetter,
    *,
    max_bytes: int,
    headroom: int = DLQ_HEADROOM,
    bare: bool = False,
) -> bytes:
    """``letter`` encoded in at most ``max_bytes``: a dead letter that cannot be sent would
    block the partition just like its input did.

    The original value is cut to leave ``headroom`` for everything else; when that still does
    not fit (huge headers), or ``bare`` asks for it, the original value and headers are left
    out. The error message says what was cut.
    """
    value = letter.original_value
    if value is not None and len(value) > max_bytes - headroom:
        letter = letter.model_copy(
            update={
                "original_value": value[: max(0, max_bytes - headroom)],
                "error_message": f"{letter.error_message} "
                f"(original value truncated from {len(value)} bytes)",
            }
        )
    encoded = b"" if bare else codec.encode(letter)
    if bare or len(encoded) > max_bytes:
        size = len(value or b"")
        letter = letter.model_copy(
            update={
                "original_value": None,
                "original_headers": [],
                "error_message": f"{letter.error_message} (original value of {size} bytes "
                "and headers left out: too large to keep)",
            }
        )
        encoded = codec.encode(letter)
    return encoded
