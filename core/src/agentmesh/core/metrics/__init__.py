"""Prometheus metrics more than one process reports, and the rule that keeps labels bounded.

Each process records into prometheus_client's default registry, which its probe server
(``agentmesh.core.probe``) serves at ``/metrics``. Which process counts what, so that nothing
is counted twice across the mesh, is in docs/observability.md ("Metrics").
"""

from agentmesh.core.metrics._shared import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    BoundedValues,
    ConsumerLag,
)

__all__ = ["CONSUMER_LAG", "DEAD_LETTERS", "BoundedValues", "ConsumerLag"]
