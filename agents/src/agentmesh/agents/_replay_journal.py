"""The journal a replayed step runs with: recorded answers, and nothing live.

``agentmesh replay run`` promises no network and no cost. The runtime's journal replay
answers every call the recording has; a call it does not have (a new or reordered call, a
different model or tool, a call whose recording kept no answer) would otherwise go on to
the live model or tool. This journal refuses it instead (see
:class:`~agentmesh.agents._policies.RecordedOnly`): a call that failed when recorded fails
again the same way, anything else raises :class:`CallNotRecorded`. Steps a fork runs live
are not served from recordings, and their calls go through.
"""

from __future__ import annotations

import builtins
from typing import Any

import orjson

from agentmesh.agents import _errors
from agentmesh.agents._errors import CallNotRecorded
from agentmesh.agents._interceptors import Call
from agentmesh.agents._journal import MemoryJournal, journal_key
from agentmesh.contracts import JournalEntry, Recording

__all__ = ["CallNotRecorded", "RecordedFailure", "ReplayJournal"]

NOT_RECORDED = "a call the recording does not have"


class RecordedFailure(Exception):
    """A recorded call's failure, replayed, when its exception class cannot be rebuilt."""


# The exceptions a recorded failure is raised as again, by the class name it recorded.
_KNOWN: dict[str, type[Exception]] = {
    name: cls
    for module in (builtins, _errors)
    for name, cls in vars(module).items()
    if isinstance(cls, type) and issubclass(cls, Exception)
}


class ReplayJournal(MemoryJournal):
    """Recorded answers for the steps being replayed; refusals for anything else."""

    def __init__(self) -> None:
        super().__init__()
        self.served: set[str] = set()  # handoff ids answered from recordings only
        self.failures: dict[str, Recording] = {}  # journal key → a call that failed
        self.refused: dict[str, list[str]] = {}  # handoff id → why each call was refused

    def serve(self, handoff_id: str, calls: list[Recording]) -> None:
        """Answer ``handoff_id``'s step from ``calls`` (its recorded calls) and nothing else."""
        self.served.add(handoff_id)
        self.refused.pop(handoff_id, None)
        for rec in calls:
            if rec.seq is None:
                continue
            key = journal_key(handoff_id, rec.seq)
            entry = _entry(rec)
            if entry is not None:
                self.entries[key] = entry
            elif rec.status == "error":
                self.failures[key] = rec

    def unanswered(self, call: Call) -> None:
        handoff_id = call.call_id.rpartition(":")[0]
        if handoff_id not in self.served:
            return  # a fork's live step
        failed = self.failures.get(journal_key(handoff_id, call.seq))
        if failed is not None and (_kind(failed), failed.target) == (call.kind, call.target):
            raise _failure(failed)
        entry = self.lookup(handoff_id, call.seq) or self.failures.get(
            journal_key(handoff_id, call.seq)
        )
        why = f"{NOT_RECORDED}: call {call.seq} ({call.kind} call {call.target}{_prompt(call)})"
        if isinstance(entry, JournalEntry):
            why += f"; the recording has a {entry.kind} call to {entry.target} there"
        elif isinstance(entry, Recording):
            why += f"; the recording has a {_kind(entry)} call to {entry.target} there"
        refused = self.refused.setdefault(handoff_id, [])
        if why not in refused:  # the step's retries are refused the same way
            refused.append(why)
        raise CallNotRecorded(why + " (not called: replay never calls a live model or tool)")


def _kind(rec: Recording) -> str:
    return "llm" if rec.kind == "llm_call" else "tool"


def _prompt(call: Call) -> str:
    if call.kind != "llm":
        return ""
    _, request = call.request
    if request.prompt_name is None:
        return ""
    return f", prompt {request.prompt_name}@{request.prompt_version}"


def _failure(rec: Recording) -> Exception:
    """The recorded failure raised again: its own class when known, so handlers that catch
    it behave as they did."""
    text = rec.error or "failed (no message recorded)"
    name, _, message = text.partition(": ")
    cls = _KNOWN.get(name)
    if cls is not None:
        try:
            return cls(message)
        except TypeError:  # a constructor that wants more than a message
            pass
    return RecordedFailure(text)


def _entry(rec: Recording) -> JournalEntry | None:
    """The recorded answer as the journal keeps it, for the runtime to replay."""
    if rec.response_json is None or rec.call_id is None or rec.seq is None:
        return None
    response = orjson.loads(rec.response_json)
    value: Any
    if rec.kind == "llm_call":
        extra = dict(response.get("extra") or {})
        if response.get("tool_calls"):
            extra["tool_calls"] = response["tool_calls"]
        value = {
            "text": response.get("text", ""),
            "provider": rec.target,
            "model": rec.model,
            "input_tokens": rec.input_tokens or 0,
            "output_tokens": rec.output_tokens or 0,
            "cost_usd": None if rec.cost_usd is None else str(rec.cost_usd),
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
