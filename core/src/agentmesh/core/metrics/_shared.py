"""Metrics written by several processes (each counts only what it did itself)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge

__all__ = ["CONSUMER_LAG", "DEAD_LETTERS", "BoundedValues", "ConsumerLag"]

OTHER = "other"

DEAD_LETTERS = Counter(
    "agentmesh_dead_letters",
    "Dead letters written, by the agent whose input it was (supervisor: its own) and stage",
    ["agent", "stage"],
)

CONSUMER_LAG = Gauge(
    "agentmesh_consumer_lag_records",
    "Records of a partition not yet committed by its consumer group (end offset minus the "
    "group's committed offset), reported by the process that owns the partition",
    ["group", "topic", "partition"],
)


class BoundedValues:
    """At most ``limit`` distinct values of one label; any later value reports as ``other``.

    Label values that come from data (tenants, models, tools) are not under the operator's
    control: every new one is a new time series in Prometheus. The first ``limit`` seen keep
    their name, which covers a normal deployment; past that, a flood of made-up tenant names
    costs one series, not thousands.
    """

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def __call__(self, value: str | None) -> str:
        name = value or "unknown"
        if name in self._known:
            return name
        if len(self._known) >= self.limit:
            return OTHER
        self._known.add(name)
        return name


class ConsumerLag:
    """One consumer group's lag per partition, as this process sees the partitions it owns.

    Each call to :meth:`set` replaces the group's series: a partition given to another
    member stops being reported here (the new owner reports it), so summing over
    instances never counts a partition twice.
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self._shown: set[tuple[str, str]] = set()

    def set(self, lags: Mapping[tuple[str, int], int]) -> None:
        now = {(topic, str(partition)) for topic, partition in lags}
        for topic, gone in self._shown - now:
            CONSUMER_LAG.remove(self.group, topic, gone)
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.group, topic, str(partition)).set(max(0, lag))
        self._shown = now

    def clear(self) -> None:
        """The process stops consuming: its partitions are no longer its to report."""
        self.set({})
