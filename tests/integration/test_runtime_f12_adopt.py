"""F12 on a real broker: a partition whose adoption fails is paused and adopted again with
backoff, and its work then flows (before, aiokafka swallowed the error and the partition was
consumed without a journal: every batch failed, forever)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

import agentmesh.agents._ownership
from agentmesh.agents._compacted import load_partition
from agentmesh.agents._worker import WorkerOptions
from agentmesh.contracts import TaskCompleted
from agentmesh.core import Settings
from tests.apps import pipeline
from tests.apps.pipeline import Finding
from tests.runtime_helpers import events_of, running, send_handoffs

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]


async def test_a_partition_whose_adoption_failed_is_adopted_again_and_flows(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    loads = {"journal": 0}

    async def flaky_load(conn: Any, topic: str, partition: int, codec: Any) -> Any:
        if topic.endswith(".journal"):
            loads["journal"] += 1
            if loads["journal"] <= 2:  # the first two adoptions cannot read the journal
                raise KafkaConnectionError(f"cannot read {topic}")
        return await load_partition(conn, topic, partition, codec)

    monkeypatch.setattr(agentmesh.agents._ownership, "load_partition", flaky_load)
    caplog.set_level(logging.INFO, logger="agentmesh.agents")
    options = WorkerOptions(partitions=1, adopt_retry_s=0.3)
    async with running(pipeline.mesh, ["collector"], settings, options) as (worker,):
        await send_handoffs(
            settings, pipeline.mesh, "collector", [Finding(part=0, summary="s")], ["t-f12"]
        )
        events = await events_of(settings, 2, timeout=15)
        assert loads["journal"] == 3
        assert worker.committed_batches == 1
    (done,) = [e.body for e in events if isinstance(e.body, TaskCompleted)]
    assert done.output_json == '{"text":"part 0: s"}'
    assert caplog.text.count("could not take partition") == 2
    assert "KafkaConnectionError" in caplog.text
    assert "taken again" in caplog.text
