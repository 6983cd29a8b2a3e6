"""Task ledgers folded a batch at a time: one changelog record per task per batch.

faust writes a table's changelog on every assignment, and that write (serialising the value,
handing it to the producer) costs more than folding the event itself. ``govern`` therefore
takes its records in batches (``stream.take_events``) and keeps each task's ledger open
across the batch: every event is folded into it in order, with its decisions sent as they
happen, and the ledger is stored once when the batch ends, before faust acknowledges the
batch's records (so an offset is never committed ahead of the ledger that counts it).

Anything else that reads ledgers (review decisions, the clock) sees them stored: the open
ledgers are stored before such a record is handled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import current_event

from agentmesh.supervisor._faust_overrides import in_event
from agentmesh.supervisor._ledger import TaskLedger

__all__ = ["OpenLedgers"]


class OpenLedgers:
    """The ``ledgers`` table, with the ledgers folded in the current batch not yet stored."""

    def __init__(self, table: Any) -> None:
        self.table = table
        # task id → (its open ledger, the event whose partition its changelog record takes)
        self._open: dict[str, tuple[TaskLedger, Any]] = {}
        self._batching = False

    def get(self, task_id: str) -> TaskLedger | None:
        found = self._open.get(task_id)
        return found[0] if found is not None else self.table.get(task_id)

    def put(self, task_id: str, ledger: TaskLedger) -> None:
        """Keep ``ledger`` (folded from the event being handled) open, or store it now."""
        if self._batching:
            self._open[task_id] = (ledger, current_event())
        else:
            self.table[task_id] = ledger

    def store(self) -> None:
        """Store every open ledger (one changelog record each)."""
        for task_id, (ledger, event) in self._open.items():
            with in_event(event):
                self.table[task_id] = ledger
        self._open.clear()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Keep ledgers open until the end of the block (also when it raises: what was folded
        and decided is stored, and the record that raised is tried again from there)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self.store()
