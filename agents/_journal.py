"""The journal as a step sees it: recorded results by call, for one input partition."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contracts import JournalEntry

__all__ = ["JournalView", "MemoryJournal", "journal_key"]


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
        await self._persist(entry)  # durable before it counts as done
        self._index[journal_key(entry.handoff_id, entry.seq)] = entry

    def keys_of(self, handoff_id: str) -> list[str]:
        """Keys of every recorded call of a step (tombstoned when the step commits)."""
        prefix = f"{handoff_id}/"
        return [k for k in self._index if k.startswith(prefix)]

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
