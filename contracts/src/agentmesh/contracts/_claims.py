"""Claim-check: a message too large for Kafka travels as chunks plus a small ticket."""

from __future__ import annotations

from pydantic import Field

from agentmesh.contracts._base import Contract

__all__ = ["ChunkRef", "ClaimChunk", "ClaimTicket"]


class ClaimChunk(Contract):
    """One piece of a large message (``<ns>.claims``, keyed ``<sha256>/<index>``)."""

    sha256: str
    index: int = Field(ge=0)
    count: int = Field(ge=1)
    data: bytes


class ChunkRef(Contract):
    """Where one chunk was written."""

    partition: int
    offset: int


class ClaimTicket(Contract):
    """Stands in for a large message on its own topic (header ``agentmesh-claim``).

    The chunks are written in the same transaction as the ticket, so a read_committed
    reader that sees the ticket can always read them.
    """

    sha256: str = Field(description="of the whole original value: checked on reassembly")
    size_bytes: int
    chunks: list[ChunkRef]
