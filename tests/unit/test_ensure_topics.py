"""ensure_topics returns once what it created shows in the metadata with every partition."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics


class Admin:
    """Creates ``new`` (``old`` exists); the metadata shows it a partition at a time."""

    def __init__(self) -> None:
        self.described = 0

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [1]}

    async def create_topics(self, topics: list[Any], timeout_ms: int) -> Any:
        return SimpleNamespace(topic_errors=[("new", 0, None), ("old", 36, "exists")])

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        assert names == ["new"]  # only what this call created is waited for
        self.described += 1
        shown = min(self.described - 1, 3)  # not at all, then 1, 2, 3 partitions
        return [{"topic": "new", "partitions": [{"partition": p} for p in range(shown)]}]


async def test_created_topics_are_visible_with_all_partitions_when_it_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = Admin()
    monkeypatch.setattr("agentmesh.core.transport._topics.make_admin", lambda _conn: admin)
    specs = [TopicSpec("new", partitions=3), TopicSpec("old", partitions=3)]
    created = await ensure_topics(KafkaConnection(bootstrap="unused:9092"), specs)
    assert created == ["new"]
    assert admin.described == 4  # asked until all three partitions showed
