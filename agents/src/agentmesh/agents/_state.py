"""Durable per-task state of an agent, as a step sees it."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from agentmesh.contracts import Budget, TaskStateRecord

__all__ = ["StateView", "TaskState"]


class StateView:
    """The states of one input partition by task id: committed, plus the open transaction's.

    Later steps of a batch must see what earlier steps of the same transaction wrote (two
    parts of one fan-in often arrive together), so writes are staged here and become
    committed, or vanish, with the transaction.
    """

    def __init__(self, index: dict[str, TaskStateRecord] | None = None) -> None:
        self.index: dict[str, TaskStateRecord] = index if index is not None else {}
        self._staged: dict[str, TaskStateRecord | None] = {}

    def get(self, task_id: str) -> TaskStateRecord | None:
        if task_id in self._staged:
            return self._staged[task_id]
        return self.index.get(task_id)

    def stage(self, task_id: str, record: TaskStateRecord | None) -> None:
        """A write of the open transaction (``None`` clears)."""
        self._staged[task_id] = record

    def commit(self) -> None:
        """The transaction committed: its writes are the state now."""
        for task_id, record in self._staged.items():
            if record is None:
                self.index.pop(task_id, None)
            else:
                self.index[task_id] = record
        self._staged.clear()

    def discard(self) -> None:
        """The transaction aborted: its steps will run again from the committed state."""
        self._staged.clear()


class TaskState:
    """``ctx.state``: a JSON object this agent keeps for the current task.

    Changes become durable only when the step's transaction commits, together with the
    step's handoffs and input offset; a step that crashes or is retried sees the last
    committed state again.
    """

    def __init__(self, view: StateView, task_id: str) -> None:
        record = view.get(task_id)
        self._version = record.version if record else 0
        self._value: dict[str, Any] = orjson.loads(record.state_json) if record else {}
        # Budget the agent's earlier steps of the task kept: the runtime's, not the handler's.
        self.banked: Budget | None = record.budget if record else None
        self.changed = False
        self.cleared = False

    @property
    def held(self) -> bool:
        """Whether the handler leaves state for the task's next step (a fan-in waiting)."""
        return bool(self._value) and not self.cleared

    def bank(self, budget: Budget | None) -> None:
        """Keep ``budget`` for this agent's next step of the task (``None``: nothing)."""
        if budget != self.banked:
            self.banked = budget
            self.changed = True

    def get(self) -> dict[str, Any]:
        """A copy of the state ({} when this task has none yet)."""
        return copy.deepcopy(self._value)

    def set(self, value: dict[str, Any]) -> None:
        """Replace the state (must be JSON-serialisable)."""
        orjson.dumps(value)  # fail now, in the handler, not at commit
        self._value = copy.deepcopy(value)
        self.changed, self.cleared = True, False

    def clear(self) -> None:
        """Forget this task's state (e.g. once the fan-in is complete)."""
        self._value = {}
        self.changed, self.cleared = True, True

    def record(self, task_id: str, agent: str) -> TaskStateRecord | None:
        """What to write when the step commits (``None``: a tombstone)."""
        if self.cleared and self.banked is None:
            return None
        return TaskStateRecord(
            task_id=task_id,
            agent=agent,
            state_json=orjson.dumps(self._value).decode(),
            version=self._version + 1,
            budget=self.banked,
        )
