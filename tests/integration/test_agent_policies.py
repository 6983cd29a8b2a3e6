"""Poison messages, breakers, cancel and the kill switch against the real broker."""

import asyncio

import pytest

from agentmesh.contracts import ControlCommand, Topics
from agentmesh.core import Settings
from tests.apps import pipeline
from tests.apps.pipeline import Finding, Work
from tests.runtime_helpers import (
    dead_letters,
    events_of,
    inbox_of,
    running,
    send_control,
    send_handoffs,
    send_raw,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_poison_message_is_dead_lettered_and_the_partition_keeps_flowing(
    settings: Settings,
) -> None:
    topics = Topics(settings.namespace)
    async with running(pipeline.mesh, ["collector"], settings):
        # One partition, same key: the poison sits right before the good message.
        await send_raw(
            settings, topics.agent("collector"), b"\x00\x00\x00\x00\x63garbage", b"t-same"
        )
        await send_handoffs(
            settings, pipeline.mesh, "collector", [Finding(part=1, summary="s")], ["t-same"]
        )
        (letter,) = await dead_letters(settings, 1)
        events = await events_of(settings, 2)
    assert (
        letter.stage,
        letter.error_class,
        letter.original_topic,
        letter.original_value,
        letter.task_id,
    ) == (
        "decode",
        "UnknownSchemaIdError",
        topics.agent("collector"),
        b"\x00\x00\x00\x00\x63garbage",
        "t-same",
    )
    assert letter.original_offset >= 0
    assert [e.body.kind for e in events] == ["task_completed", "step_finished"]


async def test_open_breaker_makes_the_tool_fail_fast(settings: Settings) -> None:
    await send_control(
        settings,
        ControlCommand(
            scope="tool",
            target="search",
            action="breaker_open",
            reason="8/10 failed",
            issued_by="test",
        ),
    )
    async with running(pipeline.mesh, ["worker"], settings):
        start = asyncio.get_running_loop().time()
        await send_handoffs(settings, pipeline.mesh, "worker", [Work(part=0, text="x")], ["t-b"])
        (letter,) = await dead_letters(settings, 1)
        elapsed = asyncio.get_running_loop().time() - start
        events = await events_of(settings, 2)  # finished (dead-lettered), task_failed
    assert (letter.error_class, letter.attempts, letter.stage) == ("ToolBreakerOpen", 1, "handler")
    assert "circuit breaker open" in letter.error_message
    # The tool never ran: no tool_call usage event.
    assert [e.body.kind for e in events] == ["step_finished", "task_failed"]
    assert elapsed < 10  # one attempt, no retries: fails fast (generous bound for a busy CI)


async def test_cancel_record_stops_a_task_and_not_its_neighbours(settings: Settings) -> None:
    await send_control(
        settings,
        ControlCommand(
            scope="task",
            target="t-cancelled",
            action="cancel",
            reason="user asked",
            issued_by="test",
        ),
    )
    async with running(pipeline.mesh, ["worker"], settings):
        await send_handoffs(
            settings,
            pipeline.mesh,
            "worker",
            [Work(part=0, text="a"), Work(part=1, text="b")],
            ["t-cancelled", "t-ok"],
        )
        (handoff,) = await inbox_of(settings, pipeline.mesh, "collector", 1)
        events = await events_of(settings, 2 + 2)
    assert (handoff.task_id, handoff.payload) == ("t-ok", Finding(part=1, summary="hit for b"))
    cancelled = [e.body.kind for e in events if e.task_id == "t-cancelled"]
    assert cancelled == ["step_finished", "task_failed"]


async def test_kill_switch_pauses_everything_and_loses_nothing(settings: Settings) -> None:
    kill = ControlCommand(
        scope="global", target="*", action="cancel", reason="incident", issued_by="ops"
    )
    await send_control(settings, kill)
    async with running(pipeline.mesh, ["worker"], settings) as (worker,):

        def halted() -> str | None:  # read live: the worker changes it as control records arrive
            return worker.halted_by

        await send_handoffs(
            settings, pipeline.mesh, "worker", [Work(part=0, text="held")], ["t-held"]
        )
        await asyncio.sleep(3)
        assert await inbox_of(settings, pipeline.mesh, "collector", None, timeout=1) == []
        assert halted() == "cancel by ops: incident"
        await send_control(
            settings, kill.model_copy(update={"action": "resume", "reason": "fixed"})
        )
        (handoff,) = await inbox_of(settings, pipeline.mesh, "collector", 1)
    assert (handoff.task_id, halted()) == ("t-held", None)
