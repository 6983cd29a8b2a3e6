"""Re-running a recorded task through (new) code, in process, with the recorded answers.

Each recorded step is fed its recorded input (the whole handoff, so call ids, budgets and
hops are what they were) with the agent's journal filled from the step's recorded calls:
the runtime's own journal replay then answers every model and tool call from the
recordings, so nothing is called, paid or written to a broker. What the new code did is
compared with what the recorded run did, step by step: the model requests (prompt name and
version, messages, tools offered, parameters), the tool calls and their arguments, the
handoffs (targets and payload hashes) and the task's result.

A call the new code makes that the recording does not have (a different prompt, a new tool
call) has no answer to replay: the step stops there with the difference named.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from agentmesh.agents._journal import journal_key
from agentmesh.agents._mesh import Mesh
from agentmesh.agents._recorder import Recorder
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import AgentEvent, Handoff, JournalEntry, Recording, StepFinished
from agentmesh.core.policy import Policy

__all__ = ["ReplayReport", "StepReplay", "replay_task"]


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
    harness = AgentHarness(mesh, agent, policy=policy)
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


async def _step(harness: AgentHarness, step_input: Recording, calls: list[Recording]) -> _Ran:
    ran = _Ran(step_input.handoff_id, step_input.agent)
    if step_input.request_json is None:
        ran.differences.append("its input was recorded without bodies (recording: metadata)")
        return ran
    inbox = harness.mesh.inbox_model(step_input.agent)
    envelope = inbox.model_validate_json(step_input.request_json)
    for rec in calls:
        entry = _journal_entry(rec)
        if entry is not None:
            harness.journal.entries[journal_key(entry.handoff_id, entry.seq)] = entry
    run = await harness.run_envelope(envelope)
    ran.calls = sorted((r for r in run.recordings if r.call_id), key=lambda r: r.seq or 0)
    ran.finished = next((e.body for e in run.events if isinstance(e.body, StepFinished)), None)
    ran.output = run.output
    ran.emitted = list(run.handoffs)
    if run.dead_letters:
        letter = run.dead_letters[0]
        ran.differences.append(f"the step failed: {letter.error_class}: {letter.error_message}")
    return ran


def _journal_entry(rec: Recording) -> JournalEntry | None:
    """The recorded answer as the journal keeps it, for the runtime to replay."""
    if rec.response_json is None or rec.call_id is None or rec.seq is None:
        return None
    response = orjson.loads(rec.response_json)
    if rec.kind == "llm_call":
        extra = dict(response.get("extra") or {})
        if response.get("tool_calls"):
            extra["tool_calls"] = response["tool_calls"]
        value: Any = {
            "text": response.get("text", ""),
            "provider": rec.target,
            "model": rec.model,
            "input_tokens": rec.input_tokens or 0,
            "output_tokens": rec.output_tokens or 0,
            "cost_usd": None if rec.cost_usd is None else str(Decimal(rec.cost_usd)),
            "extra": extra,
        }
    else:
        value = response.get("result")
    return JournalEntry(
        task_id=rec.task_id,
        handoff_id=rec.handoff_id,
        seq=rec.seq,
        call_id=rec.call_id,
        kind="llm" if rec.kind == "llm_call" else "tool",
        target=rec.target or "",
        value_json=orjson.dumps(value).decode(),
    )


def _compare(
    step_input: Recording,
    calls: list[Recording],
    finished: dict[str, StepFinished],
    outputs: dict[str, str | None],
    ran: _Ran,
) -> list[str]:
    found = [d for old, new in zip(calls, ran.calls, strict=False) for d in _call_diff(old, new)]
    if len(calls) != len(ran.calls):
        found.append(f"{len(ran.calls)} calls instead of {len(calls)}")
    before = finished.get(step_input.handoff_id)
    if before is not None and ran.finished is not None:
        old = [(h.to_agent, h.payload_hash) for h in before.handoffs]
        new = [(h.to_agent, h.payload_hash) for h in ran.finished.handoffs]
        if old != new:
            found.append(
                f"handoffs differ: {_targets(before)} before, {_targets(ran.finished)} now"
            )
    expected = outputs.get(step_input.handoff_id)
    if expected is not None and ran.output != expected:
        found.append(f"result differs:\n{_diff(expected, ran.output or '')}")
    return found


def _call_diff(old: Recording, new: Recording) -> list[str]:
    where = f"call {old.seq} ({old.kind.replace('_', ' ')} {old.target})"
    if (old.kind, old.target) != (new.kind, new.target):
        return [f"{where}: now {new.kind.replace('_', ' ')} {new.target}"]
    found = []
    if (old.prompt_name, old.prompt_version) != (new.prompt_name, new.prompt_version):
        found.append(
            f"{where}: prompt {old.prompt_name}@{old.prompt_version} before, "
            f"{new.prompt_name}@{new.prompt_version} now"
        )
    if old.request_json != new.request_json:
        found.append(f"{where}: request differs:\n{_diff(old.request_json, new.request_json)}")
    return found


def _targets(step: StepFinished) -> str:
    return "[" + ", ".join(h.to_agent for h in step.handoffs) + "]"


def _diff(old: str | None, new: str | None) -> str:
    def lines(text: str | None) -> list[str]:
        if text is None:
            return ["(nothing)"]
        try:
            pretty = orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:
            pretty = text
        return pretty.splitlines()

    return "\n".join(
        difflib.unified_diff(lines(old), lines(new), "recorded", "now", lineterm="", n=1)
    )


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
