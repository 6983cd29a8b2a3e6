"""Telemetry set-up for every agentmesh process: the OpenTelemetry SDK from the standard
``OTEL_*`` environment, or nothing at all when none of it is set.

Parts of the mesh create spans with the OpenTelemetry API only; the process that runs them
(the ``agentmesh`` command) calls :func:`configure_tracing` once, at start. See
docs/observability.md for the variables and the spans.
"""

from agentmesh.core.telemetry._tracing import (
    TracingConfigError,
    configure_tracing,
    shutdown_tracing,
    tracing_requested,
)

__all__ = ["TracingConfigError", "configure_tracing", "shutdown_tracing", "tracing_requested"]
