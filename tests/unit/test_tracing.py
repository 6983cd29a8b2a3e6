"""Trace context through Kafka headers, and the spans of steps, LLM calls and tool calls.

Each test gets its own SDK ``TracerProvider`` and passes its tracer in, so nothing here sets
the process-wide provider (which OpenTelemetry allows only once per process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer, SpanKind, StatusCode, Tracer

from agentmesh.agents._interceptors import Call, CallResult, Next, compose
from agentmesh.agents._llm import LlmRequest, LlmResponse, Message
from agentmesh.agents._records import RawRecord
from agentmesh.agents._tracing import (
    current_trace_id,
    extract_context,
    inject_headers,
    step_span,
    tag_step,
    tracing,
)

RESPONSE = LlmResponse(
    text="hello", provider="scripted", model="m-2025", input_tokens=7, output_tokens=3
)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


class _Model:
    """Stands in for a ChatModel that knows which model it is configured for."""

    model = "m-configured"


def _llm_call(request: LlmRequest, chat_model: object = None) -> Call:
    return Call(kind="llm", target="scripted", seq=0, call_id="h1:0", request=(chat_model, request))


def _record(headers: Sequence[tuple[str, bytes]]) -> RawRecord:
    return RawRecord("am.agent.triage", 2, 41, key=None, value=None, headers=headers)


def _tool_call() -> Call:
    return Call(kind="tool", target="lookup", seq=1, call_id="h1:1", request=(None, None))


def _returning(value: Any, *, replayed: bool = False) -> Next:
    async def final(call: Call) -> CallResult:
        return CallResult(value, replayed=replayed)

    return final


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def test_inject_then_extract_keeps_trace_and_parent(tracer: Tracer) -> None:
    with tracer.start_as_current_span("produce", kind=SpanKind.PRODUCER) as span:
        headers = inject_headers()
    sent = span.get_span_context()
    parent = trace.get_current_span(extract_context(headers)).get_span_context()

    traceparent = f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{sent.trace_flags:02x}"
    assert headers == [("traceparent", traceparent.encode())]
    assert inject_headers(trace.set_span_in_context(span)) == headers
    assert (parent.trace_id, parent.span_id, parent.is_remote) == (
        sent.trace_id,
        sent.span_id,
        True,
    )


def test_extract_tolerates_missing_null_and_garbled_headers() -> None:
    for headers in ([], [("traceparent", None)], [("traceparent", b"\xff\xfe-junk")]):
        span_context = trace.get_current_span(extract_context(headers)).get_span_context()
        assert not span_context.is_valid


@pytest.mark.parametrize("tagged_later", [False, True])
def test_step_span_continues_the_producers_trace(
    tracer: Tracer, exporter: InMemorySpanExporter, tagged_later: bool
) -> None:
    with tracer.start_as_current_span("produce", kind=SpanKind.PRODUCER) as producer:
        headers = inject_headers()
    ids = {} if tagged_later else {"task_id": "t1", "handoff_id": "h1"}
    with step_span("triage", _record(headers), tracer=tracer, **ids) as s:
        inside = current_trace_id()
        if tagged_later:  # as when the span starts before the input is decoded
            tag_step("t1", "h1")
        step_id = s.get_span_context().span_id
    sent = producer.get_span_context()
    step = next(x for x in exporter.get_finished_spans() if x.name == "process am.agent.triage")

    assert inside == trace.format_trace_id(sent.trace_id)
    assert step.parent is not None
    assert (step.context.trace_id, step.parent.span_id, step.context.span_id, step.kind) == (
        sent.trace_id,
        sent.span_id,
        step_id,
        SpanKind.CONSUMER,
    )
    assert dict(step.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "am.agent.triage",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "agentmesh.agent": "triage",
        "agentmesh.task_id": "t1",
        "agentmesh.handoff_id": "h1",
    }
    assert current_trace_id() is None


async def test_llm_call_span_has_genai_attributes(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    request = LlmRequest(
        messages=[Message("user", "hi")],
        model="m-requested",
        prompt_name="triage",
        prompt_version="3",
        max_tokens=100,
    )
    chain = compose([tracing(tracer)], _returning(RESPONSE))

    assert await chain(_llm_call(request)) == CallResult(RESPONSE)
    span = _only(exporter)
    assert (span.name, span.kind, span.status.status_code) == (
        "chat m-requested",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "m-requested",
        "gen_ai.request.max_tokens": 100,
        "gen_ai.prompt.name": "triage",
        "gen_ai.prompt.version": "3",
        "agentmesh.call_id": "h1:0",
        "agentmesh.replayed": False,
        "gen_ai.response.model": "m-2025",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
    }


@pytest.mark.parametrize(
    ("chat_model", "name", "requested"),
    [
        (_Model(), "chat m-configured", {"gen_ai.request.model": "m-configured"}),
        (None, "chat m-2025", {}),
    ],
)
async def test_llm_span_without_request_model(
    tracer: Tracer,
    exporter: InMemorySpanExporter,
    chat_model: object,
    name: str,
    requested: dict[str, str],
) -> None:
    chain = compose([tracing(tracer)], _returning(RESPONSE, replayed=True))

    await chain(_llm_call(LlmRequest(messages=[Message("user", "hi")]), chat_model))
    span = _only(exporter)
    assert span.name == name
    # Replayed from the journal: no tokens were spent, so no usage is reported.
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        **requested,
        "agentmesh.call_id": "h1:0",
        "agentmesh.replayed": True,
        "gen_ai.response.model": "m-2025",
    }


async def test_tool_call_span(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    chain = compose([tracing(tracer)], _returning({"answer": 42}))

    assert await chain(_tool_call()) == CallResult({"answer": 42})
    span = _only(exporter)
    assert (span.name, span.kind) == ("execute_tool lookup", SpanKind.INTERNAL)
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.id": "h1:1",
        "gen_ai.tool.type": "function",
        "agentmesh.replayed": False,
    }


async def test_failed_call_marks_span_error_and_propagates(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    async def failing(call: Call) -> CallResult:
        raise TimeoutError("tool took too long")

    with pytest.raises(TimeoutError, match="tool took too long"):
        await compose([tracing(tracer)], failing)(_tool_call())
    span = _only(exporter)
    (event,) = span.events
    assert (span.status.status_code, span.status.description, event.name) == (
        StatusCode.ERROR,
        "TimeoutError: tool took too long",
        "exception",
    )
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.id": "h1:1",
        "gen_ai.tool.type": "function",
        "error.type": "TimeoutError",
    }
    assert (event.attributes or {})["exception.type"] == "TimeoutError"


async def test_without_an_sdk_everything_is_a_cheap_pass_through() -> None:
    noop = NoOpTracer()
    upstream = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]

    with step_span("triage", _record([]), task_id="t1", handoff_id="h1", tracer=noop):
        assert (current_trace_id(), inject_headers()) == (None, [])
    # No spans of its own, but the task's trace still flows to the records this step writes.
    with step_span("triage", _record(upstream), tracer=noop):
        assert (current_trace_id(), inject_headers()) == (
            "0af7651916cd43dd8448eb211c80319c",
            upstream,
        )
    for interceptor in (tracing(noop), tracing()):
        chain = compose([interceptor], _returning(RESPONSE))
        assert await chain(_llm_call(LlmRequest(messages=[]))) == CallResult(RESPONSE)


async def test_without_an_sdk_the_trace_context_passes_through_unchanged() -> None:
    from agentmesh.agents.testing import AgentHarness
    from tests.apps import pipeline
    from tests.apps.pipeline import Work

    parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    harness = AgentHarness(pipeline.mesh, "worker")
    await harness.codecs.register()
    envelope = pipeline.mesh.inbox_model("worker")(
        task_id="t", from_agent="x", to_agent="worker", payload=Work(part=0, text="q")
    )
    run = await harness.run_raw(
        harness.codecs.inbox.encode(envelope),
        headers=[("traceparent", parent), ("tracestate", b"vendor=1"), ("other", b"x")],
    )
    assert run.handoff_headers == [[("traceparent", parent), ("tracestate", b"vendor=1")]]
    assert {e.trace_id for e in run.events} == {"0af7651916cd43dd8448eb211c80319c"}
