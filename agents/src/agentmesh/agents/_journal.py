"""The journal as a step sees it: recorded results by call, for one input partition."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from agentmesh.contracts import JournalEntry

__all__ = ["MAX_JOURNALED_BYTES", "JournalView", "MemoryJournal", "journal_key"]

log = logging.getLogger(__name__)

MAX_JOURNALED_BYTES = 900_000
"""A result larger than this (as JSON) is not journaled: it would not fit a Kafka message."""


def journal_key(handoff_id: str, seq: int) -> str:
    """The compaction key of one call of one step."""
    return f"{handoff_id}/{seq}"


class JournalView:
    """Lookups from an in-memory index, writes through a function that persists first."""

    def __init__(
        self,
        index: dict[str, JournalEntry],
        persist: Callable[[JournalEntry], Awaitable[None]],
    ) -> None:
        self._index = index
        self._persist = persist

    def lookup(self, handoff_id: str, seq: int) -> JournalEntry | None:
        return self._index.get(journal_key(handoff_id, seq))

    async def record(self, entry: JournalEntry) -> None:
        if len(entry.value_json) > MAX_JOURNALED_BYTES:
            # The call succeeded and was paid for: failing it now would pay again on the
            # retry. Keep the result for this process only; a crash before the step commits
            # repeats the call (return large data by reference to avoid that).
            log.warning(
                "%s %r of task %s returned %d bytes, over the journal's %d: not journaled",
                entry.kind,
                entry.target,
                entry.task_id,
                len(entry.value_json),
                MAX_JOURNALED_BYTES,
            )
        else:
            await self._persist(entry)  # durable before it counts as done
        self._index[journal_key(entry.handoff_id, entry.seq)] = entry

    def keys_of(self, handoff_id: str) -> list[str]:
        """Keys of every recorded call of a step (tombstoned when the step commits)."""
        prefix = f"{handoff_id}/"
        return [k for k in self._index if k.startswith(prefix)]

    def entries_of(self, handoff_id: str) -> list[JournalEntry]:
        """The recorded calls of a step, in call order."""
        prefix = f"{handoff_id}/"
        found = [e for k, e in self._index.items() if k.startswith(prefix)]
        return sorted(found, key=lambda e: e.seq)

    def forget(self, keys: list[str]) -> None:
        for key in keys:
            self._index.pop(key, None)


class MemoryJournal(JournalView):
    """A journal that lives in a dict (tests and the harness)."""

    def __init__(self) -> None:
        self.entries: dict[str, JournalEntry] = {}

        async def keep(entry: JournalEntry) -> None:
            return None

        super().__init__(self.entries, keep)
