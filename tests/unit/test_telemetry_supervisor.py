"""The supervisor's decisions as spans: children of the record (or parked work) behind them,
recorded only when the task's root was sampled.

The module's tracer is swapped for one with an in-memory exporter, so nothing here sets the
process-wide provider (which OpenTelemetry allows once per process).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentmesh.contracts import Header
from agentmesh.supervisor import _tracing
from agentmesh.supervisor._tracing import caused_by, decision, parked


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    found = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(found))
    monkeypatch.setattr(_tracing, "TRACER", provider.get_tracer("test"))
    monkeypatch.setattr(_tracing, "_enabled", lambda: True)
    return found


def _headers(trace_id: int, span_id: int, *, sampled: bool = True) -> list[tuple[str, bytes]]:
    flags = "01" if sampled else "00"
    parent = f"00-{trace_id:032x}-{span_id:016x}-{flags}".encode()
    return [("traceparent", parent), ("other", b"x")]


def _decide(kind: str) -> None:
    details = {"limit": "steps", "used": 61, "nested": {"left": "out"}}
    decision(kind, subject="t1", task_id="t1", cause="events:7", details=details)


def test_a_decision_is_a_child_of_the_record_that_caused_it(
    exporter: InMemorySpanExporter,
) -> None:
    with caused_by(_headers(0xA1, 0xB1)):
        _decide("budget_breach")
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert (span.name, span.context.trace_id, span.parent.span_id) == (
        "supervisor budget_breach",
        0xA1,
        0xB1,
    )
    assert dict(span.attributes or {}) == {
        "agentmesh.decision": "budget_breach",
        "agentmesh.subject": "t1",
        "agentmesh.cause": "events:7",
        "agentmesh.task_id": "t1",
        "agentmesh.decision.limit": "steps",
        "agentmesh.decision.used": 61,
    }


def test_a_task_not_sampled_at_its_root_gets_no_decision_span(
    exporter: InMemorySpanExporter,
) -> None:
    with caused_by(_headers(0xA2, 0xB2, sampled=False)):
        _decide("loop_stop")
    assert exporter.get_finished_spans() == ()


def test_review_actions_join_the_parked_work_and_the_rest_the_record(
    exporter: InMemorySpanExporter,
) -> None:
    parked_headers = [Header(key=k, value=v) for k, v in _headers(0xA3, 0xB3)]
    release = SimpleNamespace(request=SimpleNamespace(parked_headers=parked_headers))
    with caused_by(_headers(0xA4, 0xB4)), parked(release):
        _decide("review_released")
    refuse = SimpleNamespace(decision=object())  # about no parked work
    with caused_by(_headers(0xA5, 0xB5)), parked(refuse):
        _decide("decision_refused")
    with caused_by([]):  # a tick, a breaker: no record of the task behind it
        _decide("kill_switch")
    found = [
        (s.name, s.context.trace_id, s.parent.span_id if s.parent else None)
        for s in exporter.get_finished_spans()
    ]
    kill_trace = found[2][1]
    assert found == [
        ("supervisor review_released", 0xA3, 0xB3),
        ("supervisor decision_refused", 0xA5, 0xB5),
        ("supervisor kill_switch", kill_trace, None),
    ]
