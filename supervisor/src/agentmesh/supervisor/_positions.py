"""Where the events a summary counts came from: what makes folding summaries idempotent.

A summary lists, per source (a partition of ``<ns>.events``), one ``[offset, value]`` entry
per event it counts, in offset order. The breaker or tenant it is folded into keeps the last
offset applied per source, so a summary sent again (after a crash, a retry, or a
redelivered event counted a second time) adds only what was not added before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_ENTRIES", "Entries", "fresh", "merge", "parts"]

# source → [[offset, value], ...] in offset order
Entries = dict[str, list[list[Any]]]

# Entries per signal record: far below Kafka's 1 MB even when a backlog is folded faster
# than the timer flushes.
MAX_ENTRIES = 4096


def fresh(applied: dict[str, int], src: Entries) -> list[Any]:
    """The values of the entries after ``applied``'s positions; advances ``applied``."""
    values: list[Any] = []
    for source, entries in src.items():
        last = applied.get(source, -1)
        for offset, value in entries:
            if offset > last:
                values.append(value)
                last = offset
        if last >= 0:
            applied[source] = last
    return values


def merge(older: Entries, newer: Entries) -> None:
    """Append ``newer``'s entries to ``older``'s, keeping each source in offset order."""
    for source, entries in newer.items():
        older.setdefault(source, []).extend(entries)


def parts(src: Entries) -> Iterator[Entries]:
    """``src`` cut into pieces of at most ``MAX_ENTRIES`` entries, in order."""
    part: Entries = {}
    room = MAX_ENTRIES
    for source, entries in src.items():
        start = 0
        while start < len(entries):
            part[source] = entries[start : start + room]
            start += len(part[source])
            room -= len(part[source])
            if room == 0:
                yield part
                part, room = {}, MAX_ENTRIES
    if part:
        yield part
