"""A message that could not be processed, with everything needed to understand and redrive it."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract
from agentmesh.contracts._common import new_id, utcnow

__all__ = ["DeadLetter", "Header"]


class Header(Contract):
    """One Kafka header, kept as it was (headers may repeat)."""

    key: str
    value: bytes | None = None


class DeadLetter(Contract):
    """On ``<ns>.dlq`` (keyed by task id when known)."""

    dead_letter_id: str = Field(default_factory=new_id)
    task_id: str | None = None
    agent: str | None = None
    stage: Literal["decode", "validate", "handler", "oversize", "unknown_agent", "policy"]
    error_class: str
    error_message: str
    attempts: int = Field(default=1, ge=0)
    original_topic: str
    original_partition: int
    original_offset: int
    original_timestamp_ms: int | None = None
    original_key: bytes | None = None
    original_value: bytes | None = None
    original_headers: list[Header] = Field(default_factory=list)
    failed_at: AwareDatetime = Field(default_factory=utcnow)
