"""One task is one trace: W3C trace context rides in Kafka headers from agent to agent.

Only the OpenTelemetry API is used; the process configures the SDK, or does not. Without
one every span is a non-recording no-op, yet an incoming trace context still passes through
to the records a step writes, so a process without an SDK does not split the task's trace.
Names follow the OpenTelemetry messaging (Kafka) and GenAI semantic conventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from agentmesh.agents._interceptors import Call, CallResult, Interceptor, Next
from agentmesh.agents._llm import LlmResponse
from agentmesh.agents._records import RawRecord

__all__ = [
    "TRACER",
    "Headers",
    "current_trace_id",
    "extract_context",
    "inject_headers",
    "passthrough",
    "record_error",
    "step_span",
    "tag_step",
    "tracing",
    "tracing_enabled",
]

# A proxy until the process installs a provider, so importing this module configures nothing.
TRACER = trace.get_tracer("agentmesh.agents")

Headers = Sequence[tuple[str, bytes | None]]
"""Kafka record headers: keys may repeat, and a value may be null."""

_Attributes = dict[str, AttributeValue]


class _KafkaHeaders(Getter[Headers]):
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        # Lenient: a foreign producer's bad bytes must not fail the step, only lose the trace.
        found = [v.decode(errors="replace") for k, v in carrier if k.lower() == key and v]
        return found or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier]


_GETTER = _KafkaHeaders()


_W3C = ("traceparent", "tracestate")


def tracing_enabled() -> bool:
    """True once the process installed an OpenTelemetry SDK tracer provider."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def passthrough(headers: Headers) -> tuple[str | None, list[tuple[str, bytes]]]:
    """Without an SDK: the incoming trace id and the W3C headers to forward unchanged.

    Spans would record nothing, but the trace must stay one trace across agents, so the
    context travels on verbatim (about 30 µs per record cheaper than a no-op span).
    """
    forward = [(k, v) for k, v in headers if k.lower() in _W3C and v is not None]
    parent = next((v for k, v in forward if k.lower() == "traceparent"), None)
    trace_id = parent.decode(errors="replace")[3:35] if parent and len(parent) >= 55 else None
    return trace_id, forward


def extract_context(headers: Headers) -> Context:
    """The trace context a record's headers carry (an empty context when they carry none)."""
    # Start from an empty context: a record's parent is what it carries, never what is current.
    return propagate.extract(headers, context=Context(), getter=_GETTER)


def inject_headers(context: Context | None = None) -> list[tuple[str, bytes]]:
    """Headers carrying ``context`` (default: the current one) for an outgoing record."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return [(key, value.encode()) for key, value in carrier.items()]


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None outside any valid trace."""
    span_context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None


def step_span(
    agent: str,
    record: RawRecord,
    *,
    task_id: str | None = None,
    handoff_id: str | None = None,
    tracer: Tracer | None = None,
) -> AbstractContextManager[Span]:
    """A current CONSUMER span for one step, child of the context in ``record``'s headers.

    The ids are optional so the span can start before the input is decoded; set them
    later with :func:`tag_step` once the envelope is known.
    """
    attributes: _Attributes = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "agentmesh.agent": agent,
        **_present({"agentmesh.task_id": task_id, "agentmesh.handoff_id": handoff_id}),
    }
    return (tracer or TRACER).start_as_current_span(
        f"process {record.topic}",
        context=extract_context(record.headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    )


def tag_step(task_id: str, handoff_id: str) -> None:
    """Put the decoded envelope's ids on the current step span."""
    trace.get_current_span().set_attributes(
        {"agentmesh.task_id": task_id, "agentmesh.handoff_id": handoff_id}
    )


def record_error(span: Span, error: BaseException) -> None:
    """Mark ``span`` as failed by ``error``: ``error.type``, an exception event, ERROR status."""
    span.set_attribute("error.type", type(error).__qualname__)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def tracing(tracer: Tracer | None = None) -> Interceptor:
    """A span around each call: ``chat {model}`` (CLIENT) or ``execute_tool {tool}``."""
    chosen = tracer or TRACER

    async def traced(call: Call, proceed: Next) -> CallResult:
        name, kind, attributes = _describe(call)
        with chosen.start_as_current_span(
            name,
            kind=kind,
            attributes=attributes,
            # recorded by hand below, with the semconv `error.type` attribute
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await proceed(call)
            except Exception as exc:
                record_error(span, exc)
                raise
            _record_result(span, call, result, named=name != "chat")
            return result

    return traced


def _describe(call: Call) -> tuple[str, SpanKind, _Attributes]:
    if call.kind == "tool":
        return (
            f"execute_tool {call.target}",
            SpanKind.INTERNAL,  # tools are functions in this process
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.target,
                "gen_ai.tool.call.id": call.call_id,
                "gen_ai.tool.type": "function",
            },
        )
    chat_model, request = call.request
    model = getattr(request, "model", None) or getattr(chat_model, "model", None)
    model = model if isinstance(model, str) else None
    attributes = _present(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": call.target,
            "gen_ai.request.model": model,
            "gen_ai.request.max_tokens": getattr(request, "max_tokens", None),
            "gen_ai.request.temperature": getattr(request, "temperature", None),
            "gen_ai.prompt.name": getattr(request, "prompt_name", None),
            "gen_ai.prompt.version": getattr(request, "prompt_version", None),
            "agentmesh.call_id": call.call_id,
        }
    )
    return ("chat" if model is None else f"chat {model}"), SpanKind.CLIENT, attributes


def _present(attributes: dict[str, AttributeValue | None]) -> _Attributes:
    # The SDK warns about (and drops) None values; unknown is better left out.
    return {key: value for key, value in attributes.items() if value is not None}


def _record_result(span: Span, call: Call, result: CallResult, *, named: bool) -> None:
    span.set_attribute("agentmesh.replayed", result.replayed)
    if call.kind != "llm":
        return
    response: LlmResponse = result.value
    span.set_attribute("gen_ai.response.model", response.model)
    if not named:
        span.update_name(f"chat {response.model}")
    # A journal replay spent no tokens; reporting them again would double-count usage.
    if not result.replayed:
        span.set_attribute("gen_ai.usage.input_tokens", response.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", response.output_tokens)
        if response.cost_usd is not None:  # an unpriced model's cost is unknown, not zero
            span.set_attribute("agentmesh.cost_usd", float(response.cost_usd))
