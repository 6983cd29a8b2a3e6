"""What an agent worker tells its probes: partitions assigned, their producers, the registry.

And the warning of a replica left without partitions: with more replicas than the inbox has
partitions, the extra ones join the group and sit idle; that is said loudly, not silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentmesh.core.probe import Check, registry_check

if TYPE_CHECKING:
    from agentmesh.agents._worker import AgentWorker

__all__ = ["WorkerReadiness", "agent_checks", "idle_message", "warn_while_idle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerReadiness:
    """The facts /readyz is made of, at one moment."""

    inbox: str
    group: str
    assigned_at: float | None  # monotonic time of the last assignment; None: not joined yet
    assigned: tuple[int, ...]  # inbox partitions the group gave this replica
    adopted: tuple[int, ...]  # of those, the ones whose transactional producer is initialised
    inbox_partitions: int | None  # as the consumer's metadata knows it

    def partitions_problem(self) -> str | None:
        if self.assigned_at is None:
            return f"not yet a member of consumer group {self.group}"
        if not self.assigned:
            partitions = _partitions(self.inbox_partitions)
            return f"none assigned: more replicas than {partitions} of {self.inbox}?"
        return None

    def producers_problem(self) -> str | None:
        waiting = sorted(set(self.assigned) - set(self.adopted))
        if waiting:
            return (
                f"transactional producers of partitions {waiting} not initialised yet "
                "(taking them over from their previous owner)"
            )
        return None


def agent_checks(worker: AgentWorker) -> dict[str, Check]:
    """Readiness of ``worker``: partitions assigned, their producers ready, registry reachable."""

    async def partitions() -> str | None:
        return worker.readiness().partitions_problem()

    async def producers() -> str | None:
        return worker.readiness().producers_problem()

    reachable: Check | None = None

    async def registry() -> str | None:
        nonlocal reachable
        if worker.registry is None:
            return "not connected yet (the worker is starting)"
        if reachable is None:
            reachable = registry_check(worker.registry)
        return await reachable()

    return {"partitions": partitions, "producers": producers, "registry": registry}


def idle_message(name: str, facts: WorkerReadiness, idle_s: float) -> str:
    return (
        f"agent {name} is idle: {idle_s:.0f} s after joining consumer group {facts.group} it has "
        f"none of {_partitions(facts.inbox_partitions)} of {facts.inbox}, so there are more "
        f"replicas of {name} than partitions and this one waits as a spare. Run fewer replicas "
        "(at most one per partition), or give the inbox more partitions (its journal, state "
        "and done topics must get the same number)."
    )


def _partitions(count: int | None) -> str:
    if count is None:
        return "the partitions"
    return f"the {count} partition{'' if count == 1 else 's'}"


async def warn_while_idle(worker: AgentWorker, after_s: float, poll_s: float = 1.0) -> None:
    """Log a warning once each time ``worker`` has had no partition for ``after_s``."""
    warned = False
    while True:
        await asyncio.sleep(poll_s)
        facts = worker.readiness()
        if facts.assigned_at is None or facts.assigned:
            warned = False
            continue
        idle_s = time.monotonic() - facts.assigned_at
        if not warned and idle_s >= after_s:
            log.warning("%s", idle_message(worker.agent.name, facts, idle_s))
            warned = True
