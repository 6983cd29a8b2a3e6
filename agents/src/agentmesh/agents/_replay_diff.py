"""What a replayed step did differently from its recording, as readable differences.

Calls are compared recording by recording (prompt version, the whole request). How the
step ended (its handoffs' targets and payload hashes, the task's result) is compared with
what the step's input recording says it did; recordings written before steps recorded that
fall back to the task's ``step_finished`` and ``task_completed`` events, and when those have
expired too the step says it was not compared (which counts as a difference: nothing was
checked).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import orjson

from agentmesh.contracts import Recording, StepFinished

__all__ = ["Recorded", "call_differences", "outcome_differences", "unified"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """A step's outcome as it was recorded: handoffs as (target, hash, payload or None)."""

    outcome: str | None
    handoffs: list[tuple[str, str, Any]]
    result: str | None

    @classmethod
    def of(cls, step_input: Recording) -> Recorded | None:
        """From the step's input recording; None for one written before outcomes were."""
        if step_input.outcome is None:
            return None
        handoffs = orjson.loads(step_input.handoffs_json or "[]")
        return cls(
            step_input.outcome,
            [(h["to_agent"], h["payload_hash"], h.get("payload")) for h in handoffs],
            step_input.result_json,
        )

    @classmethod
    def from_events(cls, finished: StepFinished, output: str | None) -> Recorded:
        handoffs = [(h.to_agent, h.payload_hash, None) for h in finished.handoffs]
        return cls(finished.outcome, handoffs, output)


def call_differences(calls: list[Recording], now: list[Recording]) -> list[str]:
    found = [d for old, new in zip(calls, now, strict=False) for d in _call_diff(old, new)]
    if len(calls) != len(now):
        found.append(f"{len(now)} calls instead of {len(calls)}")
    return found


def outcome_differences(before: Recorded, now: Recorded) -> list[str]:
    found: list[str] = []
    if before.outcome != now.outcome:
        found.append(f"the step ended with {now.outcome!r} instead of {before.outcome!r}")
    old = [(to, digest) for to, digest, _ in before.handoffs]
    new = [(to, digest) for to, digest, _ in now.handoffs]
    if [to for to, _ in old] != [to for to, _ in new]:
        found.append(f"handoffs differ: {_targets(before)} before, {_targets(now)} now")
    elif old != new:
        found += _payload_diffs(before, now)
    if before.result is not None and before.result != now.result:
        found.append(f"result differs:\n{unified(before.result, now.result)}")
    return found


def _payload_diffs(before: Recorded, now: Recorded) -> list[str]:
    """Same targets, other payloads: each changed handoff's payload, diffed field by field."""
    found = []
    for i, (old, new) in enumerate(zip(before.handoffs, now.handoffs, strict=True)):
        if old[1] == new[1]:
            continue
        where = f"handoff {i} to {old[0]}: payload differs"
        if old[2] is None:
            found.append(
                f"{where} (hash {old[1][:12]} before, {new[1][:12]} now; the "
                "recording predates payloads, so no diff)"
            )
        else:
            found.append(f"{where}:\n{unified(_json(old[2]), _json(new[2]))}")
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
        found.append(f"{where}: request differs:\n{unified(old.request_json, new.request_json)}")
    return found


def _targets(step: Recorded) -> str:
    return "[" + ", ".join(to for to, _, _ in step.handoffs) + "]"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def unified(old: str | None, new: str | None) -> str:
    """A unified diff of two JSON (or plain) texts, pretty-printed."""

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
