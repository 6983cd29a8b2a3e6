"""The supervisor's decisions as spans in the trace of the task they are about.

Agents write the W3C trace context of their step into the headers of every record (events,
review requests, handoffs). While the supervisor folds a record, that context is current
(:func:`caused_by`), so a decision it leads to (a budget or loop stop, a review parked) is a
short child span of the step that caused it. Work released or rejected by a reviewer joins
the trace of the parked work (:func:`parked`), whoever decided. A decision with no record
behind it (a breaker's cool-down, a deadline noticed by the clock) starts a trace of its own,
still named by ``agentmesh.task_id``.

Only the OpenTelemetry API is used: without an SDK (``agentmesh.core.telemetry``) all of this
is skipped, and with one a parent-based sampler follows the decision taken at the task's root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.util.types import AttributeValue

from agentmesh.contracts import Header
from agentmesh.supervisor._ledger import TaskLedger

__all__ = ["caused_by", "decision", "ended", "parked"]

TRACER = trace.get_tracer("agentmesh.supervisor")

_Headers = Sequence[tuple[str, bytes | None]]


class _KafkaHeaders(Getter[_Headers]):
    def get(self, carrier: _Headers, key: str) -> list[str] | None:
        # Lenient: bad bytes from a foreign producer lose the trace, never the decision.
        found = [v.decode(errors="replace") for k, v in carrier if k.lower() == key and v]
        return found or None

    def keys(self, carrier: _Headers) -> list[str]:
        return [k for k, _ in carrier]


_GETTER = _KafkaHeaders()


def _enabled() -> bool:
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


@contextmanager
def _within(headers: _Headers) -> Iterator[None]:
    found = propagate.extract(headers, context=Context(), getter=_GETTER)
    if not trace.get_current_span(found).get_span_context().is_valid:
        yield
        return
    token = context.attach(found)
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def caused_by(headers: _Headers) -> Iterator[None]:
    """While folding a record: the trace context in its ``headers`` is the current one."""
    if not _enabled():
        yield
        return
    with _within(headers):
        yield


@contextmanager
def parked(action: Any) -> Iterator[None]:
    """While acting on a review: the parked work's trace context is the current one (a
    reviewer's decision arrives from elsewhere; the task's trace is the parked work's)."""
    request = getattr(action, "request", None)
    if request is None or not _enabled():
        yield
        return
    found: Iterable[Header] = request.parked_headers
    with _within([(h.key, h.value) for h in found]):
        yield


def decision(
    kind: str, *, subject: str, task_id: str | None, cause: str, details: dict[str, Any]
) -> None:
    """One decision as a short span, a child of the current context (see the module)."""
    if not _enabled():
        return
    attributes: dict[str, AttributeValue] = {
        "agentmesh.decision": kind,
        "agentmesh.subject": subject,
        "agentmesh.cause": cause,
    }
    if task_id is not None:
        attributes["agentmesh.task_id"] = task_id
    for key, value in details.items():
        # Scalars only: nested details (budgets, usage) stay in the audit record.
        if isinstance(value, str | bool | int | float):
            attributes[f"agentmesh.decision.{key}"] = value
    TRACER.start_span(f"supervisor {kind}", attributes=attributes).end()


def ended(before: TaskLedger | None, after: TaskLedger, cause: str) -> None:
    """The task's ledger closed (completed or failed): a span with what the task used."""
    done = ("completed", "failed")
    if after.status not in done or (before is not None and before.status in done):
        return
    totals = {
        "steps": after.steps,
        "tokens": after.tokens,
        "cost_usd": str(after.cost_usd),
        "tenant": after.tenant,
    }
    decision(
        f"task_{after.status}",
        subject=after.task_id,
        task_id=after.task_id,
        cause=cause,
        details=totals,
    )
