"""The one place that builds aiokafka clients.

aiokafka's defaults are wrong for a system that moves money-costing work:
``acks=1``, ``enable_idempotence=False``, ``enable_auto_commit=True`` and
``isolation_level="read_uncommitted"``. Every producer and consumer in agentmesh is
built here, and these four are pinned to safe values that no caller can change.
"""

from __future__ import annotations

from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from agentmesh.core.transport._connection import KafkaConnection
from agentmesh.core.transport._options import ConsumerOptions, ProducerOptions
from agentmesh.core.transport._partitioner import KeyPartitioner

__all__ = [
    "SAFE_CONSUMER_SETTINGS",
    "SAFE_PRODUCER_SETTINGS",
    "consumer_kwargs",
    "make_admin",
    "make_consumer",
    "make_producer",
    "producer_kwargs",
]

SAFE_PRODUCER_SETTINGS: Final[dict[str, Any]] = {"acks": "all", "enable_idempotence": True}
SAFE_CONSUMER_SETTINGS: Final[dict[str, Any]] = {
    "enable_auto_commit": False,
    "isolation_level": "read_committed",
}


def producer_kwargs(conn: KafkaConnection, options: ProducerOptions) -> dict[str, Any]:
    """The full keyword set for :class:`AIOKafkaProducer`, safe settings last so they win."""
    return {
        **conn.client_kwargs(options.client_suffix),
        "transactional_id": options.transactional_id,
        "linger_ms": options.linger_ms,
        "max_batch_size": options.max_batch_size,
        "max_request_size": options.max_request_size,
        "compression_type": options.compression_type,
        "transaction_timeout_ms": options.transaction_timeout_ms,
        "request_timeout_ms": options.request_timeout_ms,
        "partitioner": KeyPartitioner(),
        **SAFE_PRODUCER_SETTINGS,
    }


def consumer_kwargs(conn: KafkaConnection, options: ConsumerOptions) -> dict[str, Any]:
    """The full keyword set for :class:`AIOKafkaConsumer`, safe settings last so they win."""
    return {
        **conn.client_kwargs(options.client_suffix),
        "group_id": options.group_id,
        "auto_offset_reset": options.auto_offset_reset,
        "max_poll_records": options.max_poll_records,
        "max_partition_fetch_bytes": options.max_partition_fetch_bytes,
        "fetch_max_wait_ms": options.fetch_max_wait_ms,
        "session_timeout_ms": options.session_timeout_ms,
        "heartbeat_interval_ms": options.heartbeat_interval_ms,
        "max_poll_interval_ms": options.max_poll_interval_ms,
        **SAFE_CONSUMER_SETTINGS,
    }


def make_producer(
    conn: KafkaConnection, options: ProducerOptions | None = None
) -> AIOKafkaProducer:
    """An idempotent ``acks=all`` producer; transactional when ``options.transactional_id``."""
    return AIOKafkaProducer(**producer_kwargs(conn, options or ProducerOptions()))


def make_consumer(
    conn: KafkaConnection, *topics: str, options: ConsumerOptions | None = None
) -> AIOKafkaConsumer:
    """A ``read_committed`` consumer that never commits on its own."""
    return AIOKafkaConsumer(*topics, **consumer_kwargs(conn, options or ConsumerOptions()))


def make_admin(conn: KafkaConnection) -> AIOKafkaAdminClient:
    """An admin client on the same connection."""
    kwargs = conn.client_kwargs("admin")
    return AIOKafkaAdminClient(**kwargs)
