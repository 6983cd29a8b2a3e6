"""The runtime's side of review: recognising released input, naming parked work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from agentmesh.agents._records import RawRecord
from agentmesh.contracts import RELEASED_AT_HEADER, REVIEW_ID_HEADER

__all__ = ["RELEASED_AT_HEADER", "REVIEW_ID_HEADER", "parked_review_id", "released_at"]

_REVIEW_IDS = uuid.UUID("0b5f6f7e-3c0a-4f3e-8d5e-6a2b8f1c9d47")


def released_at(headers: Sequence[tuple[str, bytes]]) -> datetime | None:
    """When a reviewer released this record (set by the supervisor); None if never parked."""
    for key, value in headers:
        if key == RELEASED_AT_HEADER:
            try:
                return datetime.fromisoformat(value.decode())
            except (UnicodeDecodeError, ValueError):
                return None
    return None


def parked_review_id(record: RawRecord) -> str:
    """The same review id for the same input, however often its step is redone."""
    return uuid.uuid5(_REVIEW_IDS, f"{record.topic}/{record.partition}/{record.offset}").hex
