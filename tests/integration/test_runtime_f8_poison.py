"""F8 on a real broker: an input whose step the broker refuses (too large) is dead-lettered,
and the inputs behind it on its partition still go through, once each."""

from __future__ import annotations

import pytest

from agentmesh.agents import Context, Mesh, agent
from agentmesh.agents._worker import WorkerOptions
from agentmesh.contracts import (
    Codec,
    Contract,
    ControlCommand,
    ReviewRequest,
    SchemaRegistry,
    Topics,
)
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics
from tests.apps import bulky
from tests.apps.bulky import Make
from tests.kafka_helpers import read_all
from tests.runtime_helpers import (
    dead_letters,
    events_of,
    running,
    send_control,
    send_handoffs,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]

MIB = 1024 * 1024


class Item(Contract):
    n: int
    fill: int = 0  # bytes of task state the step writes


class Done(Contract):
    n: int


@agent("keeper", output=Done)
async def keeper(item: Item, ctx: Context) -> Done:
    ctx.state.set({"blob": "x" * item.fill})
    return Done(n=item.n)


mesh = Mesh([keeper])
ONE_PARTITION = WorkerOptions(partitions=1, retry_backoff_s=0.2)


async def _outcomes(settings: Settings, expected: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in await events_of(settings, expected, timeout=15):
        kind: str = e.body.kind
        if kind == "step_finished":
            kind += f":{getattr(e.body, 'outcome', '')}"
        out.setdefault(e.task_id, []).append(kind)
    return out


@pytest.mark.parametrize("refused_by", ["client", "broker"])
async def test_a_step_too_large_to_write_is_dead_lettered_and_the_partition_moves_on(
    settings: Settings, refused_by: str
) -> None:
    if refused_by == "broker":
        # Under aiokafka's own 1 MiB check, over the topic's limit: the broker refuses it
        # inside the transaction (and the producer's sequence numbers fall out of step).
        topics = Topics(settings.namespace)
        limited = TopicSpec(
            topics.agent_state("keeper"),
            1,
            None,
            {"cleanup.policy": "compact", "max.message.bytes": "100000"},
        )
        await ensure_topics(KafkaConnection.from_settings(settings), [limited])
    fill = MIB + 10_000 if refused_by == "client" else 200_000
    items = [Item(n=1, fill=10), Item(n=2, fill=fill), Item(n=3, fill=10)]
    async with running(mesh, ["keeper"], settings, ONE_PARTITION):
        await send_handoffs(settings, mesh, "keeper", items, ["t1", "t2", "t3"])
        outcomes = await _outcomes(settings, 6)
        (letter,) = await dead_letters(settings, 1, timeout=10)
    assert outcomes == {
        "t1": ["task_completed", "step_finished:result"],
        "t2": ["step_finished:dead_lettered", "task_failed"],
        "t3": ["task_completed", "step_finished:result"],
    }
    assert (letter.task_id, letter.agent, letter.stage, letter.attempts) == (
        "t2",
        "keeper",
        "oversize",
        1,
    )
    assert letter.error_class == "MessageSizeTooLargeError"
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        Topics(settings.namespace).agent("keeper"),
        0,
        1,
    )


async def test_parking_a_claim_checked_input_never_blocks_its_partition(
    settings: Settings,
) -> None:
    # The parked copy of a 1.5 MB input is too large for review.requests.
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    async with running(bulky.mesh, ["maker"], settings, ONE_PARTITION):
        await send_handoffs(
            settings,
            bulky.mesh,
            "maker",
            [Make(size_bytes=1_500_000), Make(size_bytes=10)],
            ["big", "small"],
        )
        assert len(await read_all(conn, topics.agent("eater"), 2, timeout=15)) == 2
    pause = ControlCommand(
        scope="task", target="big", action="pause", reason="look first", issued_by="ops"
    )
    await send_control(settings, pause)
    async with running(bulky.mesh, ["eater"], settings, ONE_PARTITION):
        outcomes = await _outcomes(settings, 6)  # maker: 1 per task; eater: 2 per task
        letters = await dead_letters(settings, 1, timeout=5)
    # The next input on eater's partition went through ...
    assert outcomes["small"][-2:] == ["task_completed", "step_finished:result"]
    # ... and the paused one is parked as its small claim ticket, with its headers.
    assert letters == []
    assert outcomes["big"][-1] == "step_finished:review"
    (raw,) = await read_all(conn, topics.review_requests, 1, timeout=5)
    registry = SchemaRegistry(settings.registry_url)
    try:
        codec = Codec(ReviewRequest, Topics.subject(topics.review_requests), registry)
        request = await codec.decode(raw)
    finally:
        await registry.close()
    assert len(request.parked_value) < 10_000
    assert "agentmesh-claim" in [h.key for h in request.parked_headers]
    # Released (as the supervisor does: the parked bytes and headers, plus when), the ticket
    # is resolved again and the step runs.
    from datetime import UTC, datetime

    from agentmesh.core.transport import make_producer

    resume = ControlCommand(
        scope="task", target="big", action="resume", reason="ok", issued_by="ops"
    )
    await send_control(settings, resume)
    headers = [(h.key, h.value or b"") for h in request.parked_headers]
    headers.append(("agentmesh-released-at", datetime.now(UTC).isoformat().encode()))
    producer = make_producer(conn)
    await producer.start()
    try:
        await producer.send_and_wait(
            request.target_topic, request.parked_value, key=request.parked_key, headers=headers
        )
    finally:
        await producer.stop()
    async with running(bulky.mesh, ["eater"], settings, ONE_PARTITION):
        done = await _outcomes(settings, 8)
    assert done["big"][-2:] == ["task_completed", "step_finished:result"]
