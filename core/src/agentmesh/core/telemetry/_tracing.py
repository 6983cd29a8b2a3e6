"""The OpenTelemetry SDK configured from the standard environment, or not at all.

Only what the SDK does not do by itself is decided here: whether to install a provider, which
exporter to build, and the process's default ``service.name``. Everything else is read by the
SDK from its own variables: the sampler (``OTEL_TRACES_SAMPLER``/``_ARG``, parent-based by
default, so a decision made at a task's root holds downstream), the resource
(``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``), the batch processor (``OTEL_BSP_*``) and
the OTLP exporters (``OTEL_EXPORTER_OTLP_*``: endpoint, headers, timeout, TLS, compression).
The SDK modules are imported only when tracing is wanted, so a process without any of these
variables pays nothing, not even the import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["TracingConfigError", "configure_tracing", "shutdown_tracing", "tracing_requested"]

# The variable names are the specification's (opentelemetry.sdk.environment_variables holds
# the same strings); spelled out so that deciding to do nothing imports nothing.
_DISABLED = "OTEL_SDK_DISABLED"
_EXPORTER = "OTEL_TRACES_EXPORTER"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# The specification's default protocol (the Python SDK's own default is still gRPC).
_DEFAULT_PROTOCOL = "http/protobuf"
_OTLP_ENTRY_POINTS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
_ENTRY_POINT_GROUP = "opentelemetry_traces_exporter"

_installed: TracerProvider | None = None


class TracingConfigError(ValueError):
    """An ``OTEL_*`` variable asks for something this process cannot do; says which."""


def tracing_requested() -> list[str]:
    """The exporters the environment asks for (``[]``: leave tracing alone).

    ``OTEL_TRACES_EXPORTER`` names them (``otlp``, ``console``, or any installed exporter's
    entry point; ``none`` for none); unset, an OTLP endpoint variable means ``otlp``.
    ``OTEL_SDK_DISABLED=true`` turns everything off. The sampler, service name and resource
    variables only describe the spans: alone, they export nothing.
    """
    if os.environ.get(_DISABLED, "").strip().lower() == "true":
        return []
    raw = os.environ.get(_EXPORTER, "").strip()
    if not raw:
        return ["otlp"] if any(os.environ.get(v, "").strip() for v in _ENDPOINTS) else []
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [] if "none" in names else names


def configure_tracing(default_service_name: str) -> TracerProvider | None:
    """Install an SDK tracer provider as the environment describes; None when it asks for none.

    ``default_service_name`` is the process's ``service.name`` unless ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` names one. Spans go out through a batch span processor per
    exporter, flushed when the process exits (``atexit``) or on :func:`shutdown_tracing`.
    Called again, it returns the provider already installed. Raises
    :class:`TracingConfigError` for an unknown exporter or OTLP protocol.
    """
    global _installed  # noqa: PLW0603 - one provider per process, as OpenTelemetry's own global
    names = tracing_requested()
    if not names:
        return None
    if _installed is not None:
        return _installed
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [_exporter(name) for name in names]
    # Ours is the default only: what OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME say wins.
    resource = Resource.create({SERVICE_NAME: default_service_name}).merge(
        OTELResourceDetector().detect()
    )
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER, by the SDK
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _installed = provider
    return provider


def shutdown_tracing(timeout_ms: int = 5000) -> None:
    """Export the spans still queued and stop exporting (no-op when nothing was installed).

    The provider also does this at interpreter exit; a command that ends its process in
    another way calls it first.
    """
    if _installed is not None:
        _installed.force_flush(timeout_ms)
        _installed.shutdown()


def _exporter(name: str) -> SpanExporter:
    from importlib.metadata import entry_points

    entry = name
    if name == "otlp":
        protocol = next(
            (os.environ[v].strip() for v in _PROTOCOLS if os.environ.get(v, "").strip()),
            _DEFAULT_PROTOCOL,
        )
        if protocol not in _OTLP_ENTRY_POINTS:
            raise TracingConfigError(
                f"OTLP protocol {protocol!r} is not supported for traces: set "
                f"OTEL_EXPORTER_OTLP_PROTOCOL to {' or '.join(_OTLP_ENTRY_POINTS)}"
            )
        entry = _OTLP_ENTRY_POINTS[protocol]
    found = {e.name: e for e in entry_points(group=_ENTRY_POINT_GROUP)}
    if entry not in found:
        known = ", ".join(sorted({"otlp", "none", *found}))
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed here; known: {known}"
        )
    exporter: SpanExporter = found[entry].load()()
    return exporter
