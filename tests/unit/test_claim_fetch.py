"""Reading a claim-check chunk back: "not readable yet" and "missing" are told apart by the
stable offset the read itself saw (a commit's markers reach each partition one at a time)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition

from agentmesh.agents._claims import ClaimBroken, ClaimNotYetReadable, ClaimReader
from agentmesh.agents._fetch import NotYetStable, RecordFetcher
from agentmesh.contracts import ChunkRef
from agentmesh.core.transport import KafkaConnection


class Record:
    def __init__(self, offset: int, key: bytes, value: bytes) -> None:
        self.offset, self.key, self.value = offset, key, value


class Consumer:
    """A read_committed consumer of one partition whose stable end moves as it is asked."""

    def __init__(self, ends: list[int], records: list[Record]) -> None:
        self.ends = ends  # the stable end each end_offsets call answers, the last one repeated
        self.records = records
        self.at = 0

    def assign(self, tps: list[TopicPartition]) -> None:
        self.tp = tps[0]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at = offset

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        end = self.ends.pop(0) if len(self.ends) > 1 else self.ends[0]
        self.end = end
        return {tps[0]: end}

    async def position(self, tp: TopicPartition) -> int:
        return self.at

    async def getmany(self, tp: TopicPartition, timeout_ms: int) -> dict[TopicPartition, Any]:
        found = [r for r in self.records if self.at <= r.offset < self.end]
        self.at = self.end
        return {tp: found}


def fetcher(consumer: Consumer) -> RecordFetcher:
    f = RecordFetcher(KafkaConnection(bootstrap="unused:9092"))
    f._consumer = consumer
    return f


async def test_a_chunk_past_the_stable_end_the_read_saw_is_not_yet_readable() -> None:
    # The ticket's partition got its commit marker; the claims partition's comes a moment
    # later: the read sees end 0, an ask right after it would see 6.
    consumer = Consumer(ends=[0, 6], records=[Record(0, b"abc/0", b"chunk")])
    reader = ClaimReader(fetcher(consumer), "ns.claims", None, None)  # type: ignore[arg-type]
    with pytest.raises(ClaimNotYetReadable, match="not below its stable end 0"):
        await reader._fetch(ChunkRef(partition=0, offset=0), "abc/0")


async def test_a_chunk_not_there_below_the_stable_end_is_broken() -> None:
    consumer = Consumer(ends=[6], records=[Record(1, b"other/0", b"x")])
    reader = ClaimReader(fetcher(consumer), "ns.claims", None, None)  # type: ignore[arg-type]
    with pytest.raises(ClaimBroken, match=r"is not in ns\.claims at or after offset 0"):
        await reader._fetch(ChunkRef(partition=0, offset=0), "abc/0")


async def test_first_from_finds_the_keyed_record_at_or_after_the_offset() -> None:
    records = [Record(0, b"a", b"1"), Record(2, b"b", b"2"), Record(4, b"b", b"3")]
    f = fetcher(Consumer(ends=[6], records=records))
    assert await f.first_from("t", 0, 1, b"b") == (2, b"2")
    assert await fetcher(Consumer(ends=[6], records=records)).first_from("t", 0, 5) is None
    with pytest.raises(NotYetStable):
        await fetcher(Consumer(ends=[6], records=records)).first_from("t", 0, 6)
