"""A real trace backend for the tests: Jaeger v2 (``make tools`` builds it) on free loopback
ports, with in-memory storage, and a small client for its query API.

Jaeger v2 is an OpenTelemetry Collector distribution: its ``--config`` file names the OTLP
receiver's endpoints and the query extension's, so concurrent test workers never collide on
the default ports (4317, 4318, 16686).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.tools import need_tool

__all__ = ["Jaeger", "JaegerSpan", "jaeger_running"]

_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    enable_tracing: false  # not its own traces: they would go to the default 127.0.0.1:4317
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass(frozen=True, slots=True)
class JaegerSpan:
    """One span as Jaeger's query API returns it, with its service and tags flattened."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    tags: dict[str, Any]

    @classmethod
    def all_of(cls, trace: dict[str, Any]) -> list[JaegerSpan]:
        services = {k: p["serviceName"] for k, p in trace["processes"].items()}
        return [
            cls(
                trace_id=s["traceID"],
                span_id=s["spanID"],
                parent_id=next(
                    (r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"),
                    None,
                ),
                name=s["operationName"],
                service=services[s["processID"]],
                tags={t["key"]: t["value"] for t in s.get("tags", [])},
            )
            for s in trace["spans"]
        ]


@dataclass(frozen=True, slots=True)
class Jaeger:
    """A running Jaeger: where to send OTLP, and its query API."""

    otlp_http: str
    otlp_grpc: str
    query: str

    def otel_env(self, **more: str) -> dict[str, str]:
        """The environment that points a process's traces here, exported quickly."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_http,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            **more,
        }

    def get(self, path: str, **params: str) -> Any:
        resp = httpx.get(f"{self.query}{path}", params=params, timeout=10)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()["data"]

    def services(self) -> list[str]:
        return sorted(self.get("/api/services") or [])

    def traces(self, service: str, **tags: str) -> list[list[JaegerSpan]]:
        """Traces holding a span of ``service`` with these tags (each trace whole)."""
        found = self.get(
            "/api/traces", service=service, tags=json.dumps(tags), limit="100", lookback="1h"
        )
        return [JaegerSpan.all_of(t) for t in found or []]

    def trace(self, trace_id: str) -> list[JaegerSpan]:
        found = self.get(f"/api/traces/{trace_id}")
        return JaegerSpan.all_of(found[0]) if found else []

    def wait_for(self, what: str, probe: Callable[[], Any], timeout_s: float = 30.0) -> Any:
        """``probe()`` once it returns something truthy; AssertionError naming ``what``."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"Jaeger never showed {what} within {timeout_s:.0f}s")
            time.sleep(0.3)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextmanager
def jaeger_running(workdir: Path) -> Iterator[Jaeger]:
    """Jaeger on free loopback ports for the duration; its log in ``workdir/jaeger.log``."""
    program = need_tool("jaeger", "jaeger")
    grpc, http, query, query_grpc = _free_ports(4)
    config = workdir / "jaeger.yaml"
    config.write_text(_CONFIG.format(grpc=grpc, http=http, query=query, query_grpc=query_grpc))
    log = workdir / "jaeger.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(program), "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    jaeger = Jaeger(
        f"http://127.0.0.1:{http}", f"http://127.0.0.1:{grpc}", f"http://127.0.0.1:{query}"
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jaeger exited at start-up:\n{log.read_text()[-3000:]}")
            try:
                jaeger.services()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    tail = log.read_text()[-3000:]
                    raise RuntimeError(f"jaeger not serving after 60s:\n{tail}") from None
                time.sleep(0.2)
        yield jaeger
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
