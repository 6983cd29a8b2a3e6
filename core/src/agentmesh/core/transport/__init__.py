"""The one seam between agentmesh and Kafka.

Agents, the supervisor and the gateway never construct aiokafka clients themselves; they
ask this package, which pins the settings agentmesh's guarantees depend on.
"""

from agentmesh.core.transport._clients import (
    SAFE_CONSUMER_SETTINGS,
    SAFE_PRODUCER_SETTINGS,
    consumer_kwargs,
    make_admin,
    make_consumer,
    make_producer,
    producer_kwargs,
)
from agentmesh.core.transport._connection import KafkaConnection
from agentmesh.core.transport._options import ConsumerOptions, ProducerOptions
from agentmesh.core.transport._partitioner import KeyPartitioner, partition_for
from agentmesh.core.transport._tail import read_tail
from agentmesh.core.transport._topics import (
    TopicCreationError,
    TopicSpec,
    ensure_topics,
    partition_count,
)

__all__ = [
    "SAFE_CONSUMER_SETTINGS",
    "SAFE_PRODUCER_SETTINGS",
    "ConsumerOptions",
    "KafkaConnection",
    "KeyPartitioner",
    "ProducerOptions",
    "TopicCreationError",
    "TopicSpec",
    "consumer_kwargs",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "partition_count",
    "partition_for",
    "producer_kwargs",
    "read_tail",
]
