"""Records in and out of a step, independent of the Kafka client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Emission", "RawRecord"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """An input record as consumed, before decoding."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp_ms: int | None = None
    # A claim-checked input: the small ticket it arrived as (``value`` is what it resolved to).
    ticket: bytes | None = None


@dataclass(frozen=True, slots=True)
class Emission:
    """A record to write inside the step's transaction (``value=None`` is a tombstone)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None
    claim: bool = False  # too large for one Kafka message: write as a claim-check
