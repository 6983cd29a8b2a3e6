"""What the supervisor reports to Prometheus: the mesh as a whole, seen from its tables.

The supervisor counts what its folds decide (tasks finished, budget breaches, breaker
moves, its own dead letters) and, once per tick, shows the state of what it holds: live
tasks and how much of their budget they used, breakers, the review queue, its consumer
lag. It holds only the partitions it owns (no standby tables), so several supervisor
instances each report their own share and sums over instances are right. Steps, calls,
tokens and cost are the agents' to count (``agentmesh.agents._metrics``): never here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agentmesh.core.metrics import BoundedValues, ConsumerLag
from agentmesh.supervisor._breakers import Breaker
from agentmesh.supervisor._ledger import TaskLedger
from agentmesh.supervisor._reviews import ReviewBook

__all__ = [
    "BREACHES",
    "BREAKER_TRANSITIONS",
    "TASKS_FINISHED",
    "TASKS_STARTED",
    "Snapshot",
    "breached",
    "breaker_moved",
    "folded",
    "observe_tables",
    "report_lag",
]

TASKS_STARTED = Counter(
    "agentmesh_tasks_started", "Tasks whose submission the supervisor folded", ["tenant"]
)
TASKS_FINISHED = Counter(
    "agentmesh_tasks_finished",
    "Tasks that ended, by status completed or failed (dead-lettered, cancelled, rejected)",
    ["tenant", "status"],
)
BREACHES = Counter(
    "agentmesh_budget_breaches",
    "Limits reached: a task's tokens, cost_usd, steps, deadline, hops, repeats (a loop) or "
    "cost_review (a review rule on cost), or a tenant's tenant_spend (the tenant is paused)",
    ["limit"],
)
BREAKER_STATE = Gauge(
    "agentmesh_breaker_state",
    "Circuit breaker state: 0 closed, 1 open, 2 half-open (breaker: tool:<name>, "
    "model:<provider> or agent:<name>)",
    ["breaker"],
)
BREAKER_TRANSITIONS = Counter(
    "agentmesh_breaker_transitions",
    "Circuit breaker state changes, by the state moved to",
    ["breaker", "state"],
)

_STATE_VALUE = {"closed": 0, "open": 1, "half_open": 2}
_RATIO_BUCKETS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
_LIMITS = ("tokens", "cost_usd", "steps")
tenants = BoundedValues(limit=100)


@dataclass(slots=True)
class Snapshot:
    """The state of the supervisor's tables at its last tick (shown on every scrape)."""

    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)
    budget_used: dict[str, list[float]] = field(default_factory=dict)
    review_depth: dict[str, int] = field(default_factory=dict)
    oldest_review_s: float | None = None
    next_expiry_s: float | None = None


class _TablesCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Any]:
        s = self.snapshot
        live = GaugeMetricFamily(
            "agentmesh_tasks_in_flight",
            "Tasks not yet ended, by status running or stopped (parked by a limit or a person)",
            labels=["tenant", "status"],
        )
        for (tenant, status), count in sorted(s.in_flight.items()):
            live.add_metric([tenant, status], count)
        yield live
        used = GaugeHistogramMetricFamily(
            "agentmesh_live_task_budget_used_ratio",
            "Running tasks by the fraction of their budget used, per limit they have",
            labels=["limit"],
        )
        for limit, ratios in sorted(s.budget_used.items()):
            buckets = [(str(b), float(sum(r <= b for r in ratios))) for b in _RATIO_BUCKETS]
            buckets.append(("+Inf", float(len(ratios))))
            used.add_metric([limit], buckets, gsum_value=sum(ratios))
        yield used
        depth = GaugeMetricFamily(
            "agentmesh_review_queue_depth", "Review items pending, by kind", labels=["kind"]
        )
        for kind, count in sorted(s.review_depth.items()):
            depth.add_metric([kind], count)
        yield depth
        if s.oldest_review_s is not None:
            yield GaugeMetricFamily(
                "agentmesh_review_oldest_age_seconds",
                "Age of the oldest pending review item",
                value=s.oldest_review_s,
            )
        if s.next_expiry_s is not None:
            yield GaugeMetricFamily(
                "agentmesh_review_next_timeout_seconds",
                "Time left before the first pending review item times out (negative: overdue)",
                value=s.next_expiry_s,
            )


_TABLES = _TablesCollector()
REGISTRY.register(_TABLES)


def observe_tables(
    ledgers: Iterable[TaskLedger],
    books: Iterable[ReviewBook],
    breakers: Iterable[Breaker],
    now: datetime,
) -> None:
    """Take a new snapshot of the tables (called on the supervisor's tick)."""
    snap = Snapshot()
    for ledger in ledgers:
        if ledger.status in ("running", "stopped"):
            key = (tenants(ledger.tenant), ledger.status)
            snap.in_flight[key] = snap.in_flight.get(key, 0) + 1
        if ledger.status == "running":
            for limit, ratio in _ratios(ledger):
                snap.budget_used.setdefault(limit, []).append(ratio)
    ages: list[float] = []
    left: list[float] = []
    for book in books:
        for pending in book.pending.values():
            kind = pending.request.kind
            snap.review_depth[kind] = snap.review_depth.get(kind, 0) + 1
            ages.append((now - pending.request.requested_at).total_seconds())
            left.append((pending.expires_at - now).total_seconds())
    snap.oldest_review_s = max(ages, default=None)
    snap.next_expiry_s = min(left, default=None)
    for breaker in breakers:
        BREAKER_STATE.labels(breaker.key).set(_STATE_VALUE[breaker.state])
    _TABLES.snapshot = snap


def folded(before: TaskLedger | None, after: TaskLedger, submission: bool) -> None:
    """Count what folding one record changed about a task: it started, or it ended."""
    if submission and (before is None or before.entry_agent is None):
        TASKS_STARTED.labels(tenants(after.tenant)).inc()
    ended = ("completed", "failed")
    if after.status in ended and (before is None or before.status not in ended):
        TASKS_FINISHED.labels(tenants(after.tenant), after.status).inc()


def breached(kind: str, limit: str) -> None:
    """A task was stopped by ``limit`` (a review rule on cost counts as ``cost_review``)."""
    BREACHES.labels("cost_review" if kind == "cost_review" else limit).inc()


def breaker_moved(key: str, state: str) -> None:
    BREAKER_TRANSITIONS.labels(key, state).inc()
    BREAKER_STATE.labels(key).set(_STATE_VALUE[state])


def _ratios(ledger: TaskLedger) -> Iterator[tuple[str, float]]:
    b = ledger.budget
    if b.max_tokens:
        yield "tokens", ledger.tokens / b.max_tokens
    if b.max_cost_usd:
        yield "cost_usd", float(ledger.cost_usd / b.max_cost_usd)
    if b.max_steps:
        yield "steps", ledger.steps / b.max_steps


def report_lag(lag: ConsumerLag, consumer: Any) -> None:
    """The group's lag on the partitions this instance owns (faust's consumer)."""
    lags: dict[tuple[str, int], int] = {}
    # faust keeps what it last committed per partition here and offers no public reader; the
    # offsets come from its own commits, so no request to the broker. Should an upgrade drop
    # it, no lag is shown, which tests/integration/test_metrics_run.py notices.
    committed = getattr(consumer, "_committed_offset", {})
    for tp in consumer.assignment():
        done = committed.get(tp)
        if done is None:
            continue  # never committed: a table's changelog, or nothing read yet
        end = consumer.highwater(tp)
        if end is not None:
            lags[(tp.topic, tp.partition)] = end - done
    lag.set(lags)
