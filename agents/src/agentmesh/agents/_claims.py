"""Writing and reading claim-checked messages (handoffs larger than a Kafka message)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer

from agentmesh.agents._fetch import NotYetStable, RecordFetcher
from agentmesh.agents._records import Emission
from agentmesh.contracts import CLAIM_HEADER, ChunkRef, ClaimChunk, ClaimTicket, Codec, DecodeError

__all__ = ["CLAIM_HEADER", "ClaimBroken", "ClaimNotYetReadable", "ClaimReader", "write_claimed"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024  # well under the broker's 1 MB default, with room for the envelope


class ClaimNotYetReadable(RuntimeError):
    """The ticket's chunks are committed but not yet below the partition's stable offset."""


class ClaimBroken(DecodeError):
    """A ticket's chunks are missing or do not add up to what the ticket promised."""


async def write_claimed(
    producer: AIOKafkaProducer,
    emission: Emission,
    *,
    claims_topic: str,
    chunk_codec: Codec[ClaimChunk],
    ticket_codec: Codec[ClaimTicket],
) -> asyncio.Future[Any]:
    """Write ``emission`` as chunks plus a ticket, inside the producer's open transaction."""
    value = emission.value or b""
    digest = hashlib.sha256(value).hexdigest()
    pieces = [value[i : i + CHUNK_BYTES] for i in range(0, len(value), CHUNK_BYTES)] or [b""]
    refs = []
    for index, piece in enumerate(pieces):
        chunk = ClaimChunk(sha256=digest, index=index, count=len(pieces), data=piece)
        # Awaiting the delivery gives the offset the ticket points at; the chunk stays
        # invisible to read_committed readers until the transaction commits, with the ticket.
        sent = await producer.send(
            claims_topic, chunk_codec.encode(chunk), key=f"{digest}/{index}".encode()
        )
        metadata = await sent
        refs.append(ChunkRef(partition=metadata.partition, offset=metadata.offset))
    ticket = ClaimTicket(sha256=digest, size_bytes=len(value), chunks=refs)
    sent_ticket: asyncio.Future[Any] = await producer.send(
        emission.topic,
        ticket_codec.encode(ticket),
        key=emission.key,
        headers=[*emission.headers, (CLAIM_HEADER, b"1")],
        partition=emission.partition,
    )
    return sent_ticket


class ClaimReader:
    """Fetches the chunks a ticket points at and checks them against the ticket."""

    def __init__(
        self,
        fetcher: RecordFetcher,
        claims_topic: str,
        chunk_codec: Codec[ClaimChunk],
        ticket_codec: Codec[ClaimTicket],
    ) -> None:
        self.fetcher = fetcher
        self.topic = claims_topic
        self.chunk_codec = chunk_codec
        self.ticket_codec = ticket_codec

    async def resolve(self, ticket_bytes: bytes) -> bytes:
        """The original value behind a ticket, checked against its hash."""
        ticket = await self.ticket_codec.decode(ticket_bytes)
        parts = [
            await self._fetch(ref, f"{ticket.sha256}/{i}") for i, ref in enumerate(ticket.chunks)
        ]
        value = b"".join(p.data for p in parts)
        if len(value) != ticket.size_bytes or hashlib.sha256(value).hexdigest() != ticket.sha256:
            raise ClaimBroken(
                f"claim {ticket.sha256[:12]}: chunks add up to {len(value)} bytes that do not "
                f"match the ticket ({ticket.size_bytes} bytes, sha256 {ticket.sha256[:12]}...)"
            )
        return value

    async def _fetch(self, ref: ChunkRef, key: str) -> ClaimChunk:
        # Compaction may have replaced the copy at this offset by a later one with the same
        # key (same content): the fetcher scans forward to it.
        try:
            found = await self.fetcher.first_from(
                self.topic, ref.partition, ref.offset, key.encode()
            )
        except NotYetStable as exc:
            # The ticket is readable, so its transaction committed; the claims partition's
            # marker may not be written yet, or another transaction on the shared claims
            # topic holds its stable offset back: not the message's fault, retry the batch.
            raise ClaimNotYetReadable(f"chunk {key}: {exc}") from exc
        if found is None or found[1] is None:
            raise ClaimBroken(f"chunk {key} is not in {self.topic} at or after offset {ref.offset}")
        return await self.chunk_codec.decode(found[1])
