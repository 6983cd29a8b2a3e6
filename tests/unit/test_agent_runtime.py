"""The agent runtime's step logic through the harness: no broker, real codecs and policies."""

from decimal import Decimal

import pytest

from agentmesh.agents import ControlState, Mesh, ScriptedModel
from agentmesh.agents._journal import MemoryJournal
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Budget, ControlCommand, LlmCall, TaskFailed, ToolCall, frame_header
from tests.apps import pipeline
from tests.apps.pipeline import Finding, Plan, Work


@pytest.fixture(autouse=True)
def _reset_flaky() -> None:
    pipeline.FLAKY_FAILURES.clear()


async def test_planner_fans_out_typed_handoffs_sharing_the_remaining_budget() -> None:
    model = ScriptedModel(["three words here"])
    harness = AgentHarness(pipeline.mesh, "planner", model=model)
    run = await harness.run(
        Plan(question="why?", parts=3), budget=Budget(max_tokens=100, max_hops=5)
    )
    assert [(h.to_agent, h.hop, h.payload) for h in run.handoffs] == [
        ("worker", 1, Work(part=i, text="three words here")) for i in range(3)
    ]
    # 2 prompt words ("split: why?") + 3 reply words used; the children share what remains,
    # each keeping the task's hop limit.
    assert [(h.budget.max_tokens, h.budget.max_hops) for h in run.handoffs] == [
        (32, 5),
        (32, 5),
        (31, 5),
    ]
    assert run.kinds == ["step_finished"]
    assert [h.to_agent for h in run.events[0].body.handoffs] == ["worker"] * 3  # type: ignore[union-attr]
    (llm,) = run.usage
    assert isinstance(llm, LlmCall)
    assert (llm.input_tokens, llm.output_tokens, llm.cost_usd) == (2, 3, Decimal("0.000005"))


async def test_collector_result_completes_the_task() -> None:
    run = await AgentHarness(pipeline.mesh, "collector").run(Finding(part=1, summary="s"))
    assert run.output == '{"text":"part 1: s"}'
    assert run.kinds == ["task_completed", "step_finished"]


async def test_handoff_with_wrong_payload_is_refused_at_the_sender_naming_the_field() -> None:
    from agentmesh.agents import Context, Outgoing, agent
    from agentmesh.contracts import Contract

    class In(Contract):
        n: int

    @agent("sender")
    async def sender(payload: In, ctx: Context) -> Outgoing:
        return ctx.handoff("worker", {"part": "not-a-number", "text": "x"})

    mesh = Mesh([sender, *pipeline.mesh.agents.values()])
    run = await AgentHarness(mesh, "sender").run(In(n=1))
    assert run.handoffs == []
    (letter,) = run.dead_letters
    assert (letter.stage, letter.error_class, letter.attempts) == (
        "validate",
        "PayloadValidationError",
        1,
    )
    assert "field 'part'" in letter.error_message


async def test_transient_tool_failures_are_retried_then_succeed() -> None:
    run = await AgentHarness(pipeline.mesh, "worker").run(Work(part=0, text="flaky:2"))
    assert [h.payload for h in run.handoffs] == [Finding(part=0, summary="hit for flaky:2")]
    (call,) = run.usage
    assert isinstance(call, ToolCall)
    assert (call.status, call.attempts) == ("ok", 3)


async def test_tool_timeout_exhausts_retries_and_dead_letters_with_attempts() -> None:
    harness = AgentHarness(pipeline.mesh, "worker")
    run = await harness.run(Work(part=0, text="slow"), task_id="t-slow")
    (letter,) = run.dead_letters
    assert (letter.stage, letter.error_class, letter.attempts, letter.task_id) == (
        "handler",
        "TimeoutError",
        3,
        "t-slow",
    )
    assert run.kinds[-2:] == ["step_finished", "task_failed"]
    assert {c.status for c in run.usage} == {"timeout"}


async def test_invalid_tool_arguments_are_rejected_before_the_call() -> None:
    from agentmesh.agents import Context, agent
    from agentmesh.contracts import Contract

    class In(Contract):
        n: int

    @agent("caller", tools=[pipeline.search])
    async def caller(payload: In, ctx: Context) -> None:
        await ctx.tool("search", {"query": 42, "extra": True})

    run = await AgentHarness(Mesh([caller]), "caller").run(In(n=1))
    (letter,) = run.dead_letters
    assert (letter.error_class, letter.attempts, run.usage) == ("ToolArgumentsError", 1, [])
    assert "query" in letter.error_message


async def test_open_breaker_fails_fast_without_calling_the_tool() -> None:
    harness = AgentHarness(pipeline.mesh, "worker")
    harness.apply(
        ControlCommand(
            scope="tool",
            target="search",
            action="breaker_open",
            reason="5/5 failed",
            issued_by="supervisor",
        )
    )
    run = await harness.run(Work(part=0, text="flaky:1"))
    (letter,) = run.dead_letters
    assert (letter.error_class, letter.attempts, run.usage) == ("ToolBreakerOpen", 1, [])
    assert pipeline.FLAKY_FAILURES == {}  # the tool never ran
    harness.apply(
        ControlCommand(
            scope="tool",
            target="search",
            action="breaker_closed",
            reason="probe ok",
            issued_by="supervisor",
        )
    )
    assert (await harness.run(Work(part=0, text="ok"))).dead_letters == []


async def test_a_half_open_breaker_lets_calls_through_one_at_a_time_as_probes() -> None:
    import asyncio

    from agentmesh.agents._errors import ToolBreakerOpen
    from agentmesh.agents._interceptors import Call, CallResult
    from agentmesh.agents._policies import control_gate

    control = ControlState()

    def breaker(action: str) -> None:
        command = ControlCommand(
            scope="tool", target="search", action=action, reason="r", issued_by="supervisor"
        )
        control.apply("tool:search", command)

    gate = control_gate(control, "t", "worker")
    running, most = 0, 0

    async def call(n: int, probe_fails: bool = False) -> CallResult:
        async def proceed(_: Call) -> CallResult:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1
            if probe_fails:
                breaker("breaker_open")  # what the supervisor says after a failed probe
            return CallResult(n)

        return await gate(Call("tool", "search", n, f"c{n}", None), proceed)

    breaker("breaker_half_open")
    assert [r.value for r in await asyncio.gather(*(call(n) for n in range(3)))] == [0, 1, 2]
    assert most == 1  # one probe at a time
    # A probe that fails re-opens it: the calls waiting behind it fail fast, untried.
    outcomes = await asyncio.gather(
        call(0, probe_fails=True), call(1), call(2), return_exceptions=True
    )
    assert outcomes[0] == CallResult(0)
    assert all(isinstance(o, ToolBreakerOpen) for o in outcomes[1:])
    breaker("breaker_closed")
    most = 0
    await asyncio.gather(*(call(n) for n in range(3)))
    assert most == 3  # closed: no limit


async def test_cancelled_task_stops_before_its_next_call() -> None:
    control = ControlState()
    harness = AgentHarness(pipeline.mesh, "planner", model=ScriptedModel(["x"]), control=control)
    harness.apply(
        ControlCommand(scope="task", target="t-9", action="cancel", reason="user", issued_by="gw")
    )
    run = await harness.run(Plan(question="q"), task_id="t-9")
    assert (run.handoffs, run.usage, run.kinds) == (
        [],
        [],
        ["step_finished", "task_failed"],
    )
    failed = run.events[-1].body
    assert isinstance(failed, TaskFailed)
    assert failed.message == "cancel by gw for task 't-9': user"


async def test_journaled_llm_call_is_replayed_not_paid_again() -> None:
    journal = MemoryJournal()
    first_model = ScriptedModel(["paid once"])
    first = AgentHarness(pipeline.mesh, "planner", model=first_model, journal=journal)
    envelope_task = "t-journal"
    # Same handoff id twice: the restart after a crash redelivers the same envelope.
    run1 = await first.run(Plan(question="q"), task_id=envelope_task, commit=False)
    assert len(journal.entries) == 1
    (entry,) = journal.entries.values()
    second_model = ScriptedModel([])  # would raise if called
    second = AgentHarness(pipeline.mesh, "planner", model=second_model, journal=journal)
    handoff_id = entry.handoff_id
    envelope = second.mesh.inbox_model("planner")(
        task_id=envelope_task,
        handoff_id=handoff_id,
        from_agent="x",
        to_agent="planner",
        payload=Plan(question="q"),
    )
    await second.codecs.register()
    run2 = await second.run_raw(second.codecs.inbox.encode(envelope))
    assert second_model.calls == 0
    assert [h.payload for h in run2.handoffs] == [h.payload for h in run1.handoffs]
    (llm,) = run2.usage
    assert isinstance(llm, LlmCall)
    assert (llm.replayed, llm.call_id) == (True, entry.call_id)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"", "TruncatedMessageError"),
        (b"\x7bnot avro", "UnknownMagicByteError"),
        (frame_header(424242) + b"\x00", "UnknownSchemaIdError"),
    ],
)
async def test_undecodable_input_goes_to_the_dead_letters_with_its_coordinates(
    value: bytes, error: str
) -> None:
    harness = AgentHarness(pipeline.mesh, "collector")
    run = await harness.run_raw(value, key=b"task-7")
    (letter,) = run.dead_letters
    assert (
        letter.stage,
        letter.error_class,
        letter.original_topic,
        letter.original_partition,
        letter.original_offset,
        letter.original_value,
        letter.task_id,
    ) == ("decode", error, "harness.agent.collector", 0, 0, value, "task-7")


async def test_budget_of_steps_stops_the_step_before_the_call_and_parks_it() -> None:
    harness = AgentHarness(pipeline.mesh, "planner", model=ScriptedModel(["x"]))
    run = await harness.run(Plan(question="q"), budget=Budget(max_steps=0))
    # A person may extend the budget: the input is parked whole, nothing dead-lettered.
    (review,) = run.parked
    assert (review.kind, run.dead_letters, run.handoffs) == ("budget", [], [])
    assert "steps used 1, allowed 0" in review.reason
    assert review.task_id == "task-1"
    assert review.parked_value


async def test_hop_limit_refuses_the_handoff() -> None:
    harness = AgentHarness(pipeline.mesh, "worker")
    run = await harness.run(Work(part=0, text="q"), hop=3, budget=Budget(max_hops=3))
    assert (run.handoffs, run.parked[0].kind) == ([], "budget")
    assert "hops used 4, allowed 3" in run.parked[0].reason


async def test_task_state_fans_in_and_survives_an_uncommitted_step() -> None:
    from tests.apps import fanin
    from tests.apps.fanin import Part

    harness = AgentHarness(fanin.mesh, "joiner")
    assert (await harness.run(Part(n=2, of=3))).kinds == ["step_finished"]
    await harness.run(Part(n=0, of=3), commit=False)  # crashed: its state change is lost
    assert harness.state.get("task-1") is not None
    assert (await harness.run(Part(n=1, of=3))).output is None
    done = await harness.run(Part(n=0, of=3))
    assert (done.output, harness.state.get("task-1")) == ('{"parts":[0,1,2]}', None)


async def test_a_twenty_hop_task_keeps_its_handoff_size_bounded() -> None:
    from tests.apps import bulky
    from tests.apps.bulky import Hop

    harness = AgentHarness(bulky.mesh, "chain")
    sizes = []
    run = await harness.run(Hop(n=0, of=20))
    for _ in range(20):
        (child,) = run.handoffs
        sizes.append(len(harness.codecs.inbox.encode(child)))
        run = await harness.run_envelope(child)
    assert run.handoffs == []  # the 20th hop ended the chain
    # ...and read back, by reference, the oldest input its context still names (hop 4 of 0-19).
    assert run.output == '{"oldest_n":4,"refs":16}'
    assert len(sizes) == 20
    # Each hop adds a 2 KB reference, but only the newest 16 travel: size stops growing
    # (but for the digits of offsets inside the references).
    assert max(sizes[16:]) - sizes[15] < 16
    assert sizes[15] - sizes[0] > 14 * 2000
    assert max(sizes) < 40_000


async def test_fallback_model_skips_a_provider_whose_breaker_is_open() -> None:
    from agentmesh.agents import FallbackModel

    class Named(ScriptedModel):
        def __init__(self, provider: str, reply: str) -> None:
            super().__init__([reply], model=provider, loop=True)
            self._provider = provider

        @property
        def provider(self) -> str:
            return self._provider

    cheap, dear = Named("cheap", "from cheap"), Named("dear", "from dear")
    harness = AgentHarness(pipeline.mesh, "planner", model=FallbackModel([cheap, dear]))
    assert (await harness.run(Plan(question="q"))).handoffs[0].payload.text == "from cheap"
    harness.apply(
        ControlCommand(
            scope="model", target="cheap", action="breaker_open", reason="5xx", issued_by="sv"
        )
    )
    run = await harness.run(Plan(question="q"), task_id="t2")
    assert (run.handoffs[0].payload.text, cheap.calls, dear.calls) == ("from dear", 1, 1)


async def test_a_paused_task_is_parked_for_review_not_dropped() -> None:
    harness = AgentHarness(pipeline.mesh, "worker")
    harness.apply(
        ControlCommand(scope="task", target="t-p", action="pause", reason="check", issued_by="ops")
    )
    run = await harness.run(Work(part=0, text="q"), task_id="t-p")
    (parked,) = run.parked
    assert (run.handoffs, run.kinds, parked.task_id, parked.kind, parked.target_topic) == (
        [],
        ["step_finished"],
        "t-p",
        "pause",
        "harness.agent.worker",
    )
    assert parked.reason == "paused: pause by ops for task 't-p': check"
    # The parked bytes are the input exactly: releasing them redoes the step.
    assert await harness.codecs.inbox.decode(
        parked.parked_value
    ) == await harness.codecs.inbox.decode(harness.records["harness.agent.worker", 0, 0])


async def test_a_released_parked_step_runs_and_reuses_its_journal() -> None:
    from agentmesh.agents._journal import MemoryJournal

    journal = MemoryJournal()
    model = ScriptedModel(["first"], loop=True)
    harness = AgentHarness(pipeline.mesh, "planner", model=model, journal=journal)
    harness.apply(
        ControlCommand(scope="task", target="t-r", action="pause", reason="x", issued_by="ops")
    )
    (parked,) = (await harness.run(Plan(question="q"), task_id="t-r")).parked
    harness.apply(
        ControlCommand(scope="task", target="t-r", action="resume", reason="ok", issued_by="ops")
    )
    released = await harness.run_raw(parked.parked_value, key=b"t-r")  # the reviewer releases it
    assert [h.to_agent for h in released.handoffs] == ["worker", "worker"]
