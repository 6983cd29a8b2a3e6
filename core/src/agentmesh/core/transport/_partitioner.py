"""Which partition a keyed record goes to: Kafka's default rule, with recent keys' hashes kept.

The rule is the Java client's (murmur2 of the key bytes, sign bit cleared, modulo the partition
count), so agentmesh and any other Kafka client put a task's records on the same partition.
aiokafka computes murmur2 in pure Python for every send; every record of a task is keyed by
its id, so one step's handoff and events, and the task's later steps, share one hash.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2

__all__ = ["KeyPartitioner", "partition_for"]


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` in a topic of ``partitions`` partitions (Kafka's default)."""
    return _key_hash(key) % partitions


class KeyPartitioner:
    """aiokafka's ``partitioner``: Kafka's default rule; a record without key goes anywhere."""

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return random.choice(available or all_partitions)  # noqa: S311 - spreading, not secrets
        return all_partitions[_key_hash(key) % len(all_partitions)]
