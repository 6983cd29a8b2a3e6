"""What the supervisor tells its probes: faust started, partitions assigned, tables recovered,
registry reachable."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from agentmesh.contracts import SchemaRegistry
from agentmesh.core.probe import Check, registry_check

__all__ = ["SupervisorChecks"]


class SupervisorChecks:
    """The readiness checks of one supervisor process (created before faust's loop runs)."""

    def __init__(
        self,
        app: Any,
        registry_url: str,
        tasks_topic: str,
        partitions: int,
        started: Callable[[], bool],
    ) -> None:
        self.app = app
        self.registry_url = registry_url
        self.tasks_topic = tasks_topic
        self.partitions = partitions
        self.started = started
        self._registry: SchemaRegistry | None = None
        self._reachable: Check | None = None

    def checks(self) -> dict[str, Check]:
        return {
            "partitions": self.assigned,
            "tables": self.recovered,
            "registry": self.registry,
        }

    async def assigned(self) -> str | None:
        if not self.started():
            return "the faust worker is starting"
        if self.app.rebalancing:
            return "the consumer group is rebalancing"
        if not self.app.consumer.assignment():
            return (
                f"none assigned: more replicas than the {self.partitions} partitions of "
                f"{self.tasks_topic}?"
            )
        return None

    async def recovered(self) -> str | None:
        if not self.started():
            return "the faust worker is starting"
        if self.app.tables.recovery.in_recovery:
            return "tables are being restored from their changelogs"
        return None

    async def registry(self) -> str | None:
        # Made on first use: the registry client binds to the loop it first runs on (faust's).
        if self._reachable is None:
            self._registry = SchemaRegistry(self.registry_url)
            self._reachable = registry_check(self._registry)
        return await self._reachable()

    async def close(self) -> None:
        if self._registry is not None:
            with contextlib.suppress(Exception):
                await self._registry.close()
