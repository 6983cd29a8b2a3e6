"""The probe server on a real port: /healthz, /readyz with composed checks, /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from agentmesh.core.probe import ProbeServer, cached, registry_check


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


async def started(server: ProbeServer) -> str:
    port = await server.start()
    return f"http://127.0.0.1:{port}"


async def test_a_free_port_is_chosen_and_healthz_answers(client: httpx.AsyncClient) -> None:
    server = ProbeServer(port=0)
    url = await started(server)
    try:
        assert server.port not in (None, 0)
        reply = await client.get(f"{url}/healthz")
        assert (reply.status_code, reply.json()["alive"]) == (200, True)
    finally:
        await server.stop()


async def test_healthz_fails_after_the_loop_was_blocked(client: httpx.AsyncClient) -> None:
    server = ProbeServer(port=0, heartbeat_s=0.05, stall_after_s=0.3)
    url = await started(server)
    try:
        time.sleep(0.6)  # noqa: ASYNC251 - the point: a handler that blocks the loop
        reply = await client.get(f"{url}/healthz")
        assert reply.status_code == 503
        assert reply.json()["alive"] is False
        await asyncio.sleep(0.2)  # the next beats come on time: alive again
        assert (await client.get(f"{url}/healthz")).status_code == 200
    finally:
        await server.stop()


async def test_readyz_names_each_check_that_is_not_ready(client: httpx.AsyncClient) -> None:
    state = {"partitions": "none assigned"}

    async def partitions() -> str | None:
        return state["partitions"] or None

    async def broken() -> str | None:
        raise ConnectionError("registry down")

    async def hangs() -> str | None:
        await asyncio.sleep(30)
        return None

    server = ProbeServer({"partitions": partitions}, port=0, check_timeout_s=0.2)
    server.add_check("registry", broken)
    server.add_check("slow", hangs)
    url = await started(server)
    try:
        reply = await client.get(f"{url}/readyz")
        assert reply.status_code == 503
        assert reply.json() == {
            "ready": False,
            "checks": {
                "partitions": "none assigned",
                "registry": "ConnectionError: registry down",
                "slow": "no answer within 0.2 s",
            },
        }
    finally:
        await server.stop()


async def test_readyz_is_200_when_every_check_passes_and_503_while_draining(
    client: httpx.AsyncClient,
) -> None:
    async def ok() -> str | None:
        return None

    server = ProbeServer({"partitions": ok, "producers": ok}, port=0)
    url = await started(server)
    try:
        reply = await client.get(f"{url}/readyz")
        assert (reply.status_code, reply.json()) == (
            200,
            {"ready": True, "checks": {"partitions": "ok", "producers": "ok"}},
        )
        server.drain()
        reply = await client.get(f"{url}/readyz")
        assert (reply.status_code, reply.json()) == (
            503,
            {
                "ready": False,
                "checks": {"shutdown": "draining after SIGTERM: finishing the work in flight"},
            },
        )
        assert (await client.get(f"{url}/healthz")).status_code == 200  # alive while draining
    finally:
        await server.stop()


async def test_metrics_serves_the_registry_as_text_or_openmetrics(
    client: httpx.AsyncClient,
) -> None:
    registry = CollectorRegistry()
    Counter("probe_test_things", "Things counted.", registry=registry).inc(3)
    server = ProbeServer(port=0, registry=registry)
    url = await started(server)
    try:
        text = await client.get(f"{url}/metrics")
        assert text.status_code == 200
        assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(text.text)
            for s in family.samples
        }
        assert samples["probe_test_things_total"] == 3.0
        om = await client.get(
            f"{url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.endswith("# EOF\n")
    finally:
        await server.stop()


async def test_metrics_defaults_to_the_process_registry(client: httpx.AsyncClient) -> None:
    server = ProbeServer(port=0)
    url = await started(server)
    try:
        text = (await client.get(f"{url}/metrics")).text
        names = {f.name for f in text_string_to_metric_families(text)}
        assert "python_info" in names  # prometheus_client's default collectors
    finally:
        await server.stop()


async def test_a_taken_port_is_refused_with_the_setting_to_change() -> None:
    first = ProbeServer(port=0)
    port = await first.start()
    try:
        with pytest.raises(OSError, match="AGENTMESH_PROBE_PORT"):
            await ProbeServer(port=port).start()
    finally:
        await first.stop()


async def test_cached_asks_once_per_interval_and_shares_a_call_in_flight() -> None:
    calls = 0

    async def slow() -> str | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return f"answer {calls}"

    check = cached(slow, ttl_s=0.3)
    assert list(await asyncio.gather(check(), check(), check())) == ["answer 1"] * 3
    assert await check() == "answer 1"
    await asyncio.sleep(0.35)
    assert await check() == "answer 2"


async def test_registry_check_reports_an_unreachable_registry() -> None:
    class Down:
        async def ping(self) -> None:
            raise OSError("connection refused")

    class Up:
        async def ping(self) -> None:
            return None

    assert await registry_check(Down())() == "OSError: connection refused"
    assert await registry_check(Up())() is None
