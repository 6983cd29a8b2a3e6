"""The pipeline mesh with a crash window between a paid call's journal write and its
``llm_call`` event: with ``JOURNAL_CRASH_DELAY_S`` set, the agent says so on stdout and
waits after the journal holds the call, before the runtime writes the call's event."""

from __future__ import annotations

import asyncio
import os
import sys

from agentmesh.agents._journal import JournalView
from agentmesh.contracts import JournalEntry
from tests.apps.pipeline import mesh

__all__ = ["mesh"]

_record = JournalView.record


async def _record_then_wait(self: JournalView, entry: JournalEntry) -> None:
    await _record(self, entry)
    delay = float(os.environ.get("JOURNAL_CRASH_DELAY_S", "0"))
    if delay:
        sys.stdout.write(f"call {entry.handoff_id}/{entry.seq} journaled, sleeping\n")
        sys.stdout.flush()
        await asyncio.sleep(delay)


# The agent process imports this module as its app (`--app tests.apps.journal_crash:mesh`):
# only that process gets the window.
JournalView.record = _record_then_wait  # type: ignore[method-assign]
