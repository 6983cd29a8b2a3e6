"""Tracing configured from the standard OTEL_* environment, or not at all.

OpenTelemetry lets a process set its tracer provider once, so every case that installs one
runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from agentmesh.cli._app import app
from agentmesh.cli._tracing import _service_name
from agentmesh.core.telemetry import (
    TracingConfigError,
    configure_tracing,
    tracing_requested,
)

_PROBE = """
import json
from opentelemetry import trace
from agentmesh.core.telemetry import configure_tracing
provider = configure_tracing("agentmesh.test")
again = configure_tracing("agentmesh.other")
tracer = trace.get_tracer("probe")
with tracer.start_as_current_span("root") as span:
    sampled = span.get_span_context().trace_flags.sampled
print(json.dumps({
    "installed": provider is not None,
    "same": again is provider,
    "resource": dict(provider.resource.attributes) if provider else None,
    "sampler": provider.sampler.get_description() if provider else None,
    "sampled": sampled,
    "processors": [type(p).__name__ for p in provider._active_span_processor._span_processors]
    if provider else [],
}))
"""


@pytest.fixture
def no_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def _probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.usefixtures("no_otel")
def test_nothing_is_installed_without_otel_variables() -> None:
    from opentelemetry import trace

    assert tracing_requested() == []
    assert configure_tracing("agentmesh.test") is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_without_variables_a_fresh_process_records_nothing() -> None:
    assert _probe() == {
        "installed": False,
        "same": True,
        "resource": None,
        "sampler": None,
        "sampled": False,
        "processors": [],
    }


@pytest.mark.usefixtures("no_otel")
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"}, []),
        # describing spans is not asking for them to be sent anywhere
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, []),
    ],
)
def test_what_the_environment_asks_for(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert tracing_requested() == expected


def test_an_endpoint_installs_a_batching_provider_named_by_default() -> None:
    # nothing listens there: the span the probe makes is dropped after a second
    found = _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert found["installed"] is True
    assert found["same"] is True
    assert found["processors"] == ["BatchSpanProcessor"]
    resource = found["resource"]
    assert isinstance(resource, dict)
    assert resource["service.name"] == "agentmesh.test"
    assert str(found["sampler"]).startswith("ParentBased{root:AlwaysOnSampler,")


def test_service_name_resource_and_sampler_come_from_the_environment() -> None:
    found = _probe(
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="my-planner",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=staging,service.name=ignored",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0",
    )
    resource = found["resource"]
    assert isinstance(resource, dict)
    assert (resource["service.name"], resource["deployment.environment.name"]) == (
        "my-planner",
        "staging",
    )
    assert str(found["sampler"]).startswith("ParentBased{root:TraceIdRatioBased{0.0},")
    assert found["sampled"] is False


@pytest.mark.usefixtures("no_otel")
def test_unknown_exporter_or_protocol_is_refused_with_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(TracingConfigError, match=r"'zipkin'.*known: console, none, otlp"):
        configure_tracing("agentmesh.test")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(TracingConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL to grpc or"):
        configure_tracing("agentmesh.test")


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        (["run", "agent", "--app", "pkg.mod:mesh", "planner"], "agentmesh.agent.planner"),
        (["run", "agent", "writer"], "agentmesh.agent.writer"),
        (["run", "supervisor", "--loglevel", "warn"], "agentmesh.supervisor"),
        (["run", "gateway"], "agentmesh.gateway"),
        (["task", "submit", "planner", "--input", "{}"], "agentmesh.cli"),
        (["demo", "--once"], "agentmesh.cli"),
        (["task", "show", "t1"], None),
        (["tail", "events"], None),
    ],
)
def test_each_process_is_its_own_service(argv: list[str], service: str | None) -> None:
    group = typer.main.get_command(app)
    ctx = group.make_context("agentmesh", list(argv))
    assert isinstance(group, typer.core.TyperGroup)
    # what the group does before it calls its callback
    group.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
    assert _service_name(ctx) == service
