"""Typed knobs for producers and consumers.

Only behaviour that is safe to tune lives here. The guarantees agentmesh relies on
(acks=all, idempotence, manual commits, read_committed) are not options: see ``_clients``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ConsumerOptions", "ProducerOptions"]


@dataclass(frozen=True, slots=True)
class ProducerOptions:
    """Tuning of one producer."""

    transactional_id: str | None = None
    linger_ms: int = 5
    max_batch_size: int = 256 * 1024
    max_request_size: int = 1024 * 1024
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    # Long enough for a slow LLM step inside one transaction; the broker caps it at
    # transaction.max.timeout.ms (15 minutes by default).
    transaction_timeout_ms: int = 120_000
    request_timeout_ms: int = 30_000
    client_suffix: str = "producer"


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """Tuning of one consumer.

    ``group_id=None`` makes a broadcast reader (every instance sees every record), which is
    how the control topic is read.
    """

    group_id: str | None = None
    auto_offset_reset: Literal["earliest", "latest", "none"] = "earliest"
    max_poll_records: int = 500
    max_partition_fetch_bytes: int = 1024 * 1024
    fetch_max_wait_ms: int = 100
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    # An LLM step can take minutes; the group must not evict a member that is still working.
    max_poll_interval_ms: int = 600_000
    client_suffix: str = "consumer"
