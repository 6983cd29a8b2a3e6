"""What a step's records say about it: summary event, dead-letter stage, keys, hashes."""

from __future__ import annotations

import hashlib
from typing import Any

from agents._errors import BudgetExceeded, UnknownAgentError
from agents._records import RawRecord
from agents._step import StepOutcome
from contracts import EmittedHandoff, Handoff, PayloadValidationError, StepFinished

__all__ = ["finished", "payload_hash", "record_key", "stage_of", "task_id_from_key"]


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
