"""A handoff larger than the broker's message limit still travels (claim-check)."""

import hashlib
import logging

import orjson
import pytest

from agentmesh.contracts import TaskCompleted
from agentmesh.core import Settings
from tests.apps import bulky
from tests.apps.bulky import Make
from tests.runtime_helpers import dead_letters, events_of, running, send_handoffs, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


async def test_a_payload_over_the_broker_limit_travels_by_claim_check(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # On a loaded broker this once caught the eater reading the ticket before the claims
    # partition had its commit marker (dead-lettered as a broken claim, now retried): the
    # runtime's INFO lines and what reached the events topic show where a failing run stood.
    caplog.set_level(logging.INFO, logger="agentmesh")
    size = 2_500_000  # the broker refuses messages over 1,048,588 bytes
    async with running(bulky.mesh, ["maker", "eater"], settings):
        await send_handoffs(settings, bulky.mesh, "maker", [Make(size_bytes=size)], ["big"])

        async def completed() -> bool:
            found = await events_of(settings, None, timeout=1)
            return any(isinstance(e.body, TaskCompleted) for e in found)

        # Until the task completed, not a count of events: on a busy machine a step may be
        # tried again first (its events count too).
        try:
            await wait_for(completed, timeout=180)
        except TimeoutError:
            seen = await events_of(settings, None, timeout=1)
            letters = await dead_letters(settings, None, timeout=1)
            kinds = [(type(e.body).__name__, e.agent) for e in seen]
            pytest.fail(f"task not completed in 180 s; events {kinds}; dead letters {letters}")
        events = await events_of(settings, None, timeout=1)
    (done,) = [e.body for e in events if isinstance(e.body, TaskCompleted)]
    text = ("0123456789abcdef" * (size // 16 + 1))[:size].encode()
    assert orjson.loads(done.output_json) == {
        "size_bytes": size,
        "sha256": hashlib.sha256(text).hexdigest(),
    }
    assert await dead_letters(settings, None, timeout=1) == []


async def test_an_agent_reads_earlier_context_back_by_reference(settings: Settings) -> None:
    from tests.apps.bulky import Hop

    async with running(bulky.mesh, ["chain"], settings):
        await send_handoffs(settings, bulky.mesh, "chain", [Hop(n=0, of=20)], ["long"])
        events = await events_of(settings, 21 + 1, timeout=60)
    (done,) = [e.body for e in events if isinstance(e.body, TaskCompleted)]
    # 20 hops each added a reference to its input; the last 16 travel; the oldest of those
    # (hop 4) was read back from Kafka by its coordinates.
    assert orjson.loads(done.output_json) == {"oldest_n": 4, "refs": 16}
