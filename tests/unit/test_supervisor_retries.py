"""A record the supervisor fails to fold is tried again, never silently dropped (faust
acknowledges a record whose agent raised and never delivers it again)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentmesh import Settings
from agentmesh.policy import Policy
from contracts import RegistryUnavailableError
from supervisor import Inbound, Supervisor, SupervisorOptions


@pytest.fixture
def sup(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    real_sleep = asyncio.sleep

    async def quick(_: float) -> None:
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", quick)
    options = SupervisorOptions(partitions=1, audit_partitions=1, replication_factor=1)
    return Supervisor(Settings(namespace="unit"), Policy(), options)


REC = Inbound("unit.events", 0, 41, b"t1", b"x")


async def test_an_outage_is_waited_out_and_the_record_folded(sup: Supervisor) -> None:
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)
        if len(calls) < 8:
            raise RegistryUnavailableError("registry restarting")

    await sup._until_done(work, REC)
    assert len(calls) == 8  # outages never give up


async def test_a_record_that_keeps_failing_is_dead_lettered_not_dropped(
    sup: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected: list[tuple[Any, ...]] = []

    async def reject(rec: Inbound, error: str, stage: str = "decode") -> None:
        rejected.append((rec, error, stage))

    monkeypatch.setattr(sup, "_reject_record", reject)

    async def work() -> None:
        raise ValueError("a bug in folding")

    await sup._until_done(work, REC)
    assert rejected == [(REC, "ValueError: a bug in folding", "handler")]
