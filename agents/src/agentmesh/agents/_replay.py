"""Re-running a recorded task through (new) code, in process, with the recorded answers.

Each recorded step is fed its recorded input (the whole handoff, so call ids, budgets and
hops are what they were) with the agent's journal filled from the step's recorded calls:
the runtime's own journal replay then answers every model and tool call from the
recordings, so nothing is called, paid or written to a broker. What the new code did is
compared with what the recorded run did, step by step: the model requests (prompt name and
version, messages, tools offered, parameters), the tool calls and their arguments, the
handoffs (targets and payload hashes) and the task's result.

A call the new code makes that the recording does not have (a different prompt, a new tool
call, another model) is refused, never sent to the live model or tool: the step reports
"a call the recording does not have: ..." and, unless the handler catches the error, stops
there. A call that failed when recorded fails again with the recorded error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from agentmesh.agents._mesh import Mesh
from agentmesh.agents._recorder import Recorder
from agentmesh.agents._replay_diff import Recorded, call_differences, outcome_differences
from agentmesh.agents._replay_journal import CallNotRecorded, ReplayJournal
from agentmesh.agents.testing import AgentHarness, HarnessRun
from agentmesh.contracts import AgentEvent, Handoff, Recording, StepFinished
from agentmesh.core.policy import Policy

__all__ = ["NOT_COMPARED", "ReplayReport", "StepReplay", "replay_task"]

NOT_COMPARED = (
    "not compared: handoffs and result (the recording predates step outcomes and the "
    "task's events have expired from <ns>.events; calls were compared)"
)


@dataclass
class StepReplay:
    """One recorded step run again: the same, or the first differences found."""

    handoff_id: str
    agent: str
    differences: list[str] = field(default_factory=list)
    output: str | None = None

    @property
    def same(self) -> bool:
        return not self.differences


@dataclass
class ReplayReport:
    task_id: str
    steps: list[StepReplay]

    @property
    def first_divergence(self) -> StepReplay | None:
        return next((s for s in self.steps if not s.same), None)

    @property
    def outputs(self) -> list[str]:
        return [s.output for s in self.steps if s.output is not None]


async def replay_task(
    mesh: Mesh,
    task_id: str,
    recordings: list[Recording],
    events: list[AgentEvent],
    policy: Policy | None = None,
) -> ReplayReport:
    """Run every recorded step of ``task_id`` through ``mesh`` again, in recorded order."""
    policy = policy or Policy()
    finished = {e.body.handoff_id: e.body for e in events if isinstance(e.body, StepFinished)}
    outputs = _outputs(events)
    harnesses: dict[str, AgentHarness] = {}
    report = ReplayReport(task_id, [])
    for step_input in (r for r in recordings if r.kind == "step_input"):
        calls = sorted(
            (r for r in recordings if r.handoff_id == step_input.handoff_id and r.call_id),
            key=lambda r: r.seq or 0,
        )
        harness = harnesses.get(step_input.agent)
        if harness is None:
            harness = await _harness(mesh, step_input.agent, policy)
            harnesses[step_input.agent] = harness
        replayed = await _step(harness, step_input, calls)
        replayed.differences += _compare(step_input, calls, finished, outputs, replayed)
        report.steps.append(replayed)
    return report


async def _harness(mesh: Mesh, agent: str, policy: Policy) -> AgentHarness:
    harness = AgentHarness(mesh, agent, policy=policy, journal=ReplayJournal())
    # Record what the new code asks, as the recorded run's recorder did (same redaction).
    recorder = Recorder(policy.recording.model_copy(update={"mode": "full"}), harness.topics)
    await recorder.register(harness.codecs.registry)
    harness.env = dataclasses.replace(harness.env, recorder=recorder)
    return harness


@dataclass
class _Ran(StepReplay):
    calls: list[Recording] = field(default_factory=list)
    finished: StepFinished | None = None
    emitted: list[Handoff[Any]] = field(default_factory=list)
    recorded: Recording | None = None  # the new run's own step-input recording
    run: HarnessRun | None = None  # everything the step wrote (usage, parked work, ...)


async def _step(
    harness: AgentHarness, step_input: Recording, calls: list[Recording], *, live: bool = False
) -> _Ran:
    """Run one recorded step: answered from ``calls`` only, or (``live``) by the real model."""
    ran = _Ran(step_input.handoff_id, step_input.agent)
    if step_input.request_json is None:
        ran.differences.append("its input was recorded without bodies (recording: metadata)")
        return ran
    inbox = harness.mesh.inbox_model(step_input.agent)
    envelope = inbox.model_validate_json(step_input.request_json)
    journal = harness.journal
    if isinstance(journal, ReplayJournal) and not live:
        journal.serve(step_input.handoff_id, calls)
    run = ran.run = await harness.run_envelope(envelope)
    ran.calls = sorted((r for r in run.recordings if r.call_id), key=lambda r: r.seq or 0)
    ran.recorded = next((r for r in run.recordings if r.kind == "step_input"), None)
    ran.finished = next((e.body for e in run.events if isinstance(e.body, StepFinished)), None)
    ran.output = run.output
    ran.emitted = list(run.handoffs)
    refused = (
        journal.refused.get(step_input.handoff_id, []) if isinstance(journal, ReplayJournal) else []
    )
    ran.differences += refused
    if run.dead_letters:
        letter = run.dead_letters[0]
        if letter.error_class != CallNotRecorded.__name__:  # said above, more precisely
            ran.differences.append(f"the step failed: {letter.error_class}: {letter.error_message}")
    return ran


def _compare(
    step_input: Recording,
    calls: list[Recording],
    finished: dict[str, StepFinished],
    outputs: dict[str, str | None],
    ran: _Ran,
) -> list[str]:
    found = call_differences(calls, ran.calls)
    before = Recorded.of(step_input)
    if before is not None and ran.recorded is not None:
        now = Recorded.of(ran.recorded)
    elif step_input.handoff_id in finished and ran.finished is not None:
        # Recorded before steps kept their outcome: the task's events still say it.
        old = finished[step_input.handoff_id]
        before = Recorded.from_events(old, outputs.get(step_input.handoff_id))
        now = Recorded.from_events(ran.finished, ran.output)
    else:
        return [*found, NOT_COMPARED]
    return found if now is None else [*found, *outcome_differences(before, now)]


def _outputs(events: list[AgentEvent]) -> dict[str, str | None]:
    """The task's result by the step that gave it (its task_completed comes just before
    that step's step_finished, in the same transaction)."""
    found: dict[str, str | None] = {}
    last: dict[str, str] = {}  # agent → the result it wrote last
    for event in events:
        body = event.body
        if body.kind == "task_completed":
            last[event.agent] = body.output_json
        elif isinstance(body, StepFinished) and body.outcome == "result" and event.agent in last:
            found[body.handoff_id] = last.pop(event.agent)
    return found
