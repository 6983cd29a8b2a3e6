"""ctx.state is durable: a fan-in survives a restart of its agent."""

import pytest

from agentmesh.contracts import TaskCompleted
from agentmesh.core import Settings
from tests.apps import fanin
from tests.apps.fanin import Part
from tests.runtime_helpers import events_of, running, send_handoffs

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_fan_in_state_survives_a_restart(settings: Settings) -> None:
    async with running(fanin.mesh, ["joiner"], settings):
        await send_handoffs(
            settings, fanin.mesh, "joiner", [Part(n=2, of=3), Part(n=0, of=3)], ["t", "t"]
        )
        await events_of(settings, 2)  # two steps, one step_finished each
    async with running(fanin.mesh, ["joiner"], settings):  # a new process: state from Kafka
        await send_handoffs(settings, fanin.mesh, "joiner", [Part(n=1, of=3)], ["t"])
        events = await events_of(settings, 4)
    (completed,) = [e.body for e in events if isinstance(e.body, TaskCompleted)]
    assert completed.output_json == '{"parts":[0,1,2]}'
