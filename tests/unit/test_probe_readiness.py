"""An agent worker's readiness facts, and the warning of a replica left without partitions."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

import pytest

from agentmesh.agents._readiness import WorkerReadiness, warn_while_idle

FACTS = WorkerReadiness(
    inbox="ns.agent.researcher",
    group="ns.agent.researcher.workers",
    assigned_at=None,
    assigned=(),
    adopted=(),
    inbox_partitions=3,
)


def test_not_joined_yet() -> None:
    assert (
        FACTS.partitions_problem()
        == "not yet a member of consumer group ns.agent.researcher.workers"
    )


def test_joined_without_partitions_names_the_partition_count() -> None:
    facts = replace(FACTS, assigned_at=1.0)
    assert facts.partitions_problem() == (
        "none assigned: more replicas than the 3 partitions of ns.agent.researcher?"
    )
    one = replace(facts, inbox_partitions=1)
    assert one.partitions_problem() == (
        "none assigned: more replicas than the 1 partition of ns.agent.researcher?"
    )


def test_partitions_whose_producer_is_not_ready_are_named() -> None:
    facts = replace(FACTS, assigned_at=1.0, assigned=(0, 2), adopted=(2,))
    assert (facts.partitions_problem(), facts.producers_problem()) == (
        None,
        "transactional producers of partitions [0] not initialised yet "
        "(taking them over from their previous owner)",
    )
    ready = replace(facts, adopted=(0, 2))
    assert (ready.partitions_problem(), ready.producers_problem()) == (None, None)


@dataclass
class _Agent:
    name: str = "researcher"


class _Worker:
    def __init__(self) -> None:
        self.agent = _Agent()
        self.facts = FACTS

    def readiness(self) -> WorkerReadiness:
        return self.facts


async def test_a_replica_idle_after_joining_warns_once_per_idle_spell(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = _Worker()
    watch = asyncio.create_task(warn_while_idle(worker, after_s=0.2, poll_s=0.02))  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="agentmesh.agents._readiness")
    try:
        await asyncio.sleep(0.3)
        assert caplog.messages == []  # not a member yet: nothing to say
        worker.facts = replace(FACTS, assigned_at=time.monotonic())
        await asyncio.sleep(0.1)
        assert caplog.messages == []  # a rebalance may still give it partitions
        await asyncio.sleep(0.3)
        assert len(caplog.messages) == 1
        assert caplog.messages[0].startswith(
            "agent researcher is idle: 0 s after joining consumer group "
            "ns.agent.researcher.workers it has none of the 3 partitions of "
            "ns.agent.researcher, so there are more replicas of researcher than partitions"
        )
        assert caplog.messages[0].endswith(
            "Run fewer replicas (at most one per partition), or give the inbox more partitions "
            "(its journal, state and done topics must get the same number)."
        )
        await asyncio.sleep(0.3)
        assert len(caplog.messages) == 1  # once
        worker.facts = replace(worker.facts, assigned=(1,), adopted=(1,))
        await asyncio.sleep(0.1)
        worker.facts = replace(FACTS, assigned_at=time.monotonic())
        await asyncio.sleep(0.4)
        assert len(caplog.messages) == 2  # idle again after a rebalance: said again
    finally:
        watch.cancel()
