"""Run inside a mesh container (``python3 - < this file``): how often each task completed.

Reads ``<ns>.events`` from the beginning as a read_committed reader (no consumer group) and
prints ``{"completed": {task_id: count}, "failed": {task_id: message}}`` as JSON on stdout.
It runs in the image, on the compose network, because the broker is reachable only there.
"""

from __future__ import annotations

import asyncio
import collections
import json

from agentmesh.contracts import AgentEvent, Codec, SchemaRegistry, Topics
from agentmesh.core import get_settings
from agentmesh.core.transport import KafkaConnection, read_tail


async def main() -> None:
    settings = get_settings()
    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    codec = Codec(AgentEvent, Topics.subject(topics.events), registry)
    completed: collections.Counter[str] = collections.Counter()
    failed: dict[str, str] = {}
    try:
        async for record in read_tail(KafkaConnection.from_settings(settings), topics.events):
            if record.value is None:
                continue
            event = await codec.decode(record.value)
            if event.body.kind == "task_completed":
                completed[event.task_id] += 1
            elif event.body.kind == "task_failed":
                failed[event.task_id] = event.body.message
    finally:
        await registry.close()
    print(json.dumps({"completed": completed, "failed": failed}))


asyncio.run(main())
