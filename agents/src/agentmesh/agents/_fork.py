"""Forking a recorded task: recorded answers up to a step, live calls from there on.

The steps before the fork point run with their recorded answers (rebuilding the state a
fan-in keeps); from the fork point on, the model and tools are called for real (metered and
budgeted like any call), in this process, and every handoff the live steps emit is run
through its agent in turn until the task has no more work. Recorded steps that do not descend
from the fork point (other branches of a fan-out) still run with their recorded answers.
Nothing is written to Kafka.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from agentmesh.agents._mesh import Mesh
from agentmesh.agents._replay import _harness, _Ran, _step
from agentmesh.agents.testing import AgentHarness, HarnessRun
from agentmesh.contracts import AgentEvent, Handoff, LlmCall, Recording, StepFinished
from agentmesh.core.policy import Policy

__all__ = ["ForkReport", "ForkStep", "Usage", "fork_task"]


@dataclass
class Usage:
    """Tokens and cost of model calls (tool calls are counted as steps, not here)."""

    tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def add(self, tokens: int, cost_usd: Decimal | None) -> None:
        self.tokens += tokens
        self.cost_usd += cost_usd or 0

    def as_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "cost_usd": str(self.cost_usd)}


@dataclass
class ForkStep:
    handoff_id: str
    agent: str
    live: bool
    outcome: str | None = None
    output: str | None = None
    usage: Usage = field(default_factory=Usage)  # what its live calls were metered at
    stopped: str | None = None  # why it was parked or failed (e.g. its budget)


@dataclass
class ForkReport:
    task_id: str
    fork_at: str
    original_output: str | None
    original_usage: Usage = field(default_factory=Usage)
    steps: list[ForkStep] = field(default_factory=list)

    @property
    def output(self) -> str | None:
        return next((s.output for s in self.steps if s.output is not None), None)

    @property
    def usage(self) -> Usage:
        """What the fork's live calls cost (recorded answers cost nothing)."""
        total = Usage()
        for step in self.steps:
            total.add(step.usage.tokens, step.usage.cost_usd)
        return total


async def fork_task(
    mesh: Mesh,
    task_id: str,
    recordings: list[Recording],
    events: list[AgentEvent],
    *,
    live_from: str,
    policy: Policy | None = None,
) -> ForkReport:
    """Re-run the task with recorded answers until step ``live_from`` (a handoff id, or the
    step's number in recorded order from 1), live from there on."""
    policy = policy or Policy()
    inputs = [r for r in recordings if r.kind == "step_input"]
    at = _fork_point(inputs, live_from)
    skipped = _descendants(at.handoff_id, _children(recordings, events))
    original = _original_output(recordings, events)
    report = ForkReport(task_id, at.handoff_id, original, _recorded_usage(recordings))
    harnesses: dict[str, AgentHarness] = {}

    async def harness(agent: str) -> AgentHarness:
        if agent not in harnesses:
            harnesses[agent] = await _harness(mesh, agent, policy)
        return harnesses[agent]

    live: deque[Handoff[Any]] = deque()
    for step_input in inputs:
        if step_input.handoff_id in skipped:
            continue  # replaced by what the live steps hand on
        calls = [] if step_input is at else _calls_of(recordings, step_input.handoff_id)
        agent = await harness(step_input.agent)
        ran = await _step(agent, step_input, calls, live=step_input is at)
        report.steps.append(_summary(ran, live=step_input is at))
        if step_input is at:
            live.extend(ran.emitted)
            await _drain(live, harness, report)
    return report


async def _drain(live: deque[Handoff[Any]], harness: Any, report: ForkReport) -> None:
    while live:
        envelope = live.popleft()
        run = await (await harness(envelope.to_agent)).run_envelope(envelope)
        finished = next((e.body for e in run.events if isinstance(e.body, StepFinished)), None)
        report.steps.append(
            ForkStep(
                envelope.handoff_id,
                envelope.to_agent,
                live=True,
                outcome=None if finished is None else finished.outcome,
                output=run.output,
                usage=_metered(run),
                stopped=_stopped(run),
            )
        )
        live.extend(run.handoffs)


def _summary(ran: _Ran, *, live: bool) -> ForkStep:
    outcome = None if ran.finished is None else ran.finished.outcome
    step = ForkStep(ran.handoff_id, ran.agent, live=live, outcome=outcome, output=ran.output)
    if ran.run is not None:
        step.usage, step.stopped = _metered(ran.run), _stopped(ran.run)
    return step


def _metered(run: HarnessRun) -> Usage:
    """The step's model calls as metered (its usage events); replayed answers were free."""
    usage = Usage()
    for call in run.usage:
        if isinstance(call, LlmCall) and not call.replayed:
            usage.add(call.input_tokens + call.output_tokens, call.cost_usd)
    return usage


def _stopped(run: HarnessRun) -> str | None:
    if run.parked:
        return f"parked for review: {run.parked[0].reason}"
    if run.dead_letters:
        letter = run.dead_letters[0]
        return f"dead-lettered: {letter.error_class}: {letter.error_message}"
    return None


def _recorded_usage(recordings: list[Recording]) -> Usage:
    """What the recorded run's model calls cost (one recording per call)."""
    usage = Usage()
    calls = {r.recording_id: r for r in recordings if r.kind == "llm_call"}
    for rec in calls.values():
        usage.add((rec.input_tokens or 0) + (rec.output_tokens or 0), rec.cost_usd)
    return usage


def _calls_of(recordings: list[Recording], handoff_id: str) -> list[Recording]:
    calls = (r for r in recordings if r.handoff_id == handoff_id and r.call_id)
    return sorted(calls, key=lambda r: r.seq or 0)


def _fork_point(inputs: list[Recording], live_from: str) -> Recording:
    if live_from.isdigit() and 1 <= int(live_from) <= len(inputs):
        return inputs[int(live_from) - 1]
    found = [r for r in inputs if r.handoff_id == live_from]
    if not found:
        raise LookupError(
            f"no recorded step {live_from!r}: give a handoff id or a step number from 1 to "
            f"{len(inputs)} (`agentmesh replay run` lists them in order)"
        )
    return found[0]


def _children(recordings: list[Recording], events: list[AgentEvent]) -> dict[str, list[str]]:
    """What each step handed on (handoff ids): from its recorded outcome, else its event (the
    events may have expired; recordings written before outcomes were kept have none)."""
    children: dict[str, list[str]] = {}
    for e in events:
        if isinstance(e.body, StepFinished):
            children[e.body.handoff_id] = [h.handoff_id for h in e.body.handoffs]
    for rec in recordings:
        if rec.kind == "step_input" and rec.handoffs_json is not None:
            children[rec.handoff_id] = [h["handoff_id"] for h in orjson.loads(rec.handoffs_json)]
    return children


def _original_output(recordings: list[Recording], events: list[AgentEvent]) -> str | None:
    """The recorded run's result: as its event wrote it, else as recorded (redacted)."""
    for e in events:
        if e.body.kind == "task_completed":
            output: str = e.body.output_json
            return output
    return next((r.result_json for r in recordings if r.result_json is not None), None)


def _descendants(handoff_id: str, children: dict[str, list[str]]) -> set[str]:
    """The steps that handled what ``handoff_id``'s step handed on, and theirs, and so on."""
    found: set[str] = set()
    todo = list(children.get(handoff_id, []))
    while todo:
        child = todo.pop()
        if child not in found:
            found.add(child)
            todo.extend(children.get(child, []))
    return found
