"""Each paid call counts once, by one rule for the ledger, breakers, spend and timelines."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from agentmesh.contracts import AgentEvent, CallTally, LlmCall, StepFinished, ToolCall
from agentmesh.core.policy import Policy
from agentmesh.core.views import TaskTimeline
from agentmesh.supervisor import TaskLedger
from agentmesh.supervisor._aggregator import Aggregator


def _llm(call_id: str, tokens: int = 143, *, replayed: bool = False) -> LlmCall:
    return LlmCall(
        call_id=call_id,
        provider="p",
        model="m",
        input_tokens=tokens,
        output_tokens=0,
        cost_usd=Decimal("0.01"),
        latency_ms=1.0,
        replayed=replayed,
    )


def _finished(handoff_id: str, outcome: str = "handoff") -> StepFinished:
    return StepFinished(handoff_id=handoff_id, outcome=outcome, duration_ms=1.0)


def _counts(bodies: Sequence[LlmCall | ToolCall | StepFinished]) -> list[bool]:
    tally = CallTally()
    out = []
    for position, body in enumerate(bodies):
        if isinstance(body, StepFinished):
            tally.finished(body)
        else:
            out.append(tally.count(body, position))
    return out


def test_a_replay_of_a_call_already_reported_does_not_count() -> None:
    assert _counts([_llm("h:0"), _llm("h:0", replayed=True)]) == [True, False]


def test_a_replay_whose_original_was_lost_counts_once() -> None:
    # kill -9 between the journal write and the event: the replay is the first event.
    replays = [_llm("h:0", replayed=True), _llm("h:0", replayed=True)]
    assert _counts(replays) == [True, False]


def test_a_parked_step_released_replays_its_calls_without_counting_them() -> None:
    bodies: list[LlmCall | StepFinished] = [
        _llm("h:0"),
        _finished("h", "review"),
        _llm("h:0", replayed=True),
        _llm("h:1"),
    ]
    assert _counts(bodies) == [True, False, True]


def test_a_finished_steps_calls_are_forgotten_and_a_new_run_of_it_counts() -> None:
    # A dead letter redriven runs the step again with no journal: its calls are paid again.
    bodies: list[LlmCall | StepFinished] = [
        _llm("h:0"),
        _finished("h", "dead_lettered"),
        _llm("h:0"),
    ]
    assert _counts(bodies) == [True, True]
    tally = CallTally()
    tally.count(_llm("h:0"), 0)
    tally.finished(_finished("h"))
    assert tally.open == {}


def test_a_fallback_members_failed_attempt_is_not_a_call() -> None:
    attempt = _llm("h:0/0").model_copy(update={"attempt_of": "h:0", "status": "error"})
    assert _counts([attempt, _llm("h:0")]) == [False, True]


def test_an_event_folded_before_is_answered_the_same_when_delivered_again() -> None:
    tally = CallTally()
    bodies = [_llm("h:0", replayed=True), _llm("h:0", replayed=True), _llm("h:1")]
    first = [tally.count(b, position) for position, b in enumerate(bodies)]
    again = [tally.counted(b, position) for position, b in enumerate(bodies)]
    assert first == again == [True, False, True]
    assert tally.count(bodies[0], 0)  # re-folded at the same position: still the one


def test_ledger_breakers_spend_and_timeline_agree_when_only_the_replay_survived() -> None:
    # The chaos run: 143 tokens whose only event is the replay's.
    bodies: list[LlmCall | ToolCall | StepFinished] = [
        _llm("h1:0", 100),
        _llm("h2:0", 143, replayed=True),
        _llm("h1:0", 100, replayed=True),
        ToolCall(call_id="h2:1", tool="search", status="ok", latency_ms=1.0),
        _finished("h1"),
        _finished("h2"),
    ]
    policy = Policy.model_validate({"budgets": {"tenants": {"acme": {"spend_limit": {"usd": 9}}}}})
    ledger, timeline = TaskLedger(task_id="t"), TaskTimeline("t")
    counts = Aggregator(policy, "unit.signals", {}, {})
    for position, body in enumerate(bodies):
        event = AgentEvent(
            task_id="t", agent="a", instance="i", seq=position, tenant="acme", body=body
        )
        ledger.event(event, policy, position)
        timeline.add(event, position)
        counts.observe(event, 0, position, ledger.calls)
    assert (ledger.tokens, ledger.steps) == (243, 3)
    assert (timeline.tokens, timeline.llm_calls + timeline.tool_calls) == (243, 3)
    assert counts._pending["model:p"] == {"0": [[0, 0], [1, 0]]}
    usd = str(bodies[0].cost_usd)  # type: ignore[union-attr]
    assert counts._pending["tenant:acme"] == {"0": [[0, usd], [1, usd]]}
    assert counts._pending["tool:search"] == {"0": [[3, 0]]}


def test_a_redriven_step_that_replays_again_counts_its_first_replay() -> None:
    # Its first run lost an original; the redriven run lost one again: two paid calls.
    bodies: list[LlmCall | StepFinished] = [
        _llm("h:0", replayed=True),
        _finished("h", "dead_lettered"),
        _llm("h:0", replayed=True),
        _llm("h:0", replayed=True),
    ]
    assert _counts(bodies) == [True, True, False]
