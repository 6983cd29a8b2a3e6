"""`run agent`'s bounded drain, and its refusal of a probe port it cannot have (no broker)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.cli._run import _drain
from agentmesh.core import get_settings


async def test_a_run_that_ends_within_the_grace_is_drained() -> None:
    run = asyncio.create_task(asyncio.sleep(0.05))
    assert await _drain(run, grace_s=2.0) is True


async def test_past_the_grace_the_run_is_cancelled_and_may_clean_up() -> None:
    seen: list[str] = []

    async def step_in_flight() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # aborting the transaction takes a round trip
            seen.append("aborted")
            raise

    run = asyncio.create_task(step_in_flight())
    await asyncio.sleep(0)
    start = time.monotonic()
    assert await _drain(run, grace_s=0.2) is False
    assert (seen, run.cancelled()) == (["aborted"], True)
    assert time.monotonic() - start < 2


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_taken_probe_port_is_refused_with_the_setting_to_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, taken_port: int
) -> None:
    monkeypatch.setenv("AGENTMESH_HOME", str(tmp_path))
    monkeypatch.setenv("AGENTMESH_PROBE_PORT", str(taken_port))
    monkeypatch.setenv("AGENTMESH_PROBE_HOST", "127.0.0.1")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["run", "agent", "worker", "--app", "tests.apps.pipeline:mesh"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert f"probe server cannot listen on 127.0.0.1:{taken_port}" in message
    assert "choose another AGENTMESH_PROBE_PORT" in message
