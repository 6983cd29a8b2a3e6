"""Checking one audit partition: its hash links, and (with public keys) its checkpoints.

The same check runs on records read from the topic and on an export's JSON lines, so what
is found does not depend on where the trail is kept. Records are taken in the order they
were stored (offset order); each is expected to link to the one before it. Where a link
breaks, the neighbourhood says what happened: a record whose successor skips it was
inserted, a record that links to a later one was moved (reordered), a jump in seq over
hashes that are nowhere was dropped, a predecessor whose hash its successor does not know
was rewritten. Signed checkpoints then say which chain is the writer's: a record claiming
a seq that a checkpoint signs for another record is forged, a checkpoint beyond the end
means the tail was dropped, and records after the last checkpoint are an unsigned tail (a
warning: the next checkpoint will cover them, or expose them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentmesh.supervisor._audit_findings import (
    Finding,
    FindingKind,
    Link,
    PartitionReport,
    seqs,
)
from agentmesh.supervisor._audit_judge import check_checkpoints
from agentmesh.supervisor._chain import GENESIS
from agentmesh.supervisor._checkpoints import Checkpoint

__all__ = ["Finding", "Link", "PartitionReport", "check_partition"]


def check_partition(
    partition: int,
    links: Sequence[Link],
    *,
    keys: Mapping[str, Ed25519PublicKey] | None,
    extra_checkpoints: Sequence[tuple[int | None, Checkpoint]] = (),
    starts_at: int | None = None,
) -> PartitionReport:
    """Everything wrong with one partition's chain (``links`` in offset order).

    ``keys``: trusted public keys by key id (None: signatures are not checked).
    ``extra_checkpoints``: checkpoints kept apart from the chain (an export's file), with
    the offset of the link they came from. ``starts_at``: the seq an export deliberately
    starts at (``--since``), where a missing predecessor is expected.
    """
    report = PartitionReport(
        partition,
        len(links),
        links[0].seq if links else None,
        links[-1].seq if links else None,
        links[-1].sha if links else None,
    )
    if links:
        _check_links(links, report.findings, starts_at)
    if keys is not None:
        check_checkpoints(partition, links, keys, extra_checkpoints, report)
    return report


def _check_links(links: Sequence[Link], out: list[Finding], starts_at: int | None) -> None:
    by_sha: dict[str, int] = {}
    for i, link in enumerate(links):
        by_sha.setdefault(link.sha, i)
        if link.error is not None:
            out.append(
                Finding(
                    "altered",
                    "failure",
                    f"offset {link.offset}: not an audit record ({link.error}) (altered or "
                    "inserted)",
                    link.offset,
                )
            )
        elif link.computed != link.sha:
            out.append(
                Finding(
                    "altered",
                    "failure",
                    f"offset {link.offset}: seq {link.seq}: its content does not match its "
                    "hash (altered)",
                    link.offset,
                    link.seq,
                )
            )
    _check_first(links, by_sha, out, starts_at)
    _Walk(links, by_sha, out).run()


def _check_first(
    links: Sequence[Link], by_sha: dict[str, int], out: list[Finding], starts_at: int | None
) -> None:
    first = links[0]
    if first.seq == 0 and first.prev == GENESIS:
        return
    if first.prev in by_sha:
        return  # its predecessor is there, stored later: reported as reordered
    if first.seq == 0 or first.prev == GENESIS:
        out.append(
            Finding(
                "altered",
                "failure",
                f"the first record (offset {first.offset}) has seq {first.seq} and links to "
                f"{'the genesis' if first.prev == GENESIS else 'a record'}: it does not start "
                "the chain (altered)",
                first.offset,
                first.seq,
            )
        )
        return
    if starts_at is not None and first.seq == starts_at:
        out.append(
            Finding(
                "cut_off",
                "note",
                f"cut off at seq {first.seq} (export starts here)",
                first.offset,
                first.seq,
            )
        )
        return
    out.append(
        Finding(
            "cut_off",
            "failure",
            f"cut off at seq {first.seq}: the records before it (seq 0-{first.seq - 1}) are "
            "gone (deleted, or expired by retention)",
            first.offset,
            first.seq,
        )
    )


class _Walk:
    """Follows the links in offset order and explains each one that breaks."""

    def __init__(self, links: Sequence[Link], by_sha: dict[str, int], out: list[Finding]) -> None:
        self.links = links
        self.by_sha = by_sha
        self.out = out
        self.accepted = [0]  # indexes on the chain as followed so far
        self.displaced: set[int] = set()  # stored before the record they follow

    def run(self) -> None:
        for i in range(1, len(self.links)):
            self.step(i)

    def step(self, i: int) -> None:
        links, e = self.links, self.links[self.accepted[-1]]
        link = links[i]
        if link.prev == e.sha and link.seq == e.seq + 1:
            self.accepted.append(i)
            return
        j = self.by_sha.get(link.prev)
        if link.prev == e.sha:
            self.report("altered", link, f"seq {link.seq} should be {e.seq + 1} (altered)")
        elif j is not None and j > i:
            later = links[j]
            self.report(
                "reordered",
                link,
                f"seq {link.seq} is stored before seq {later.seq} (offset {later.offset}), "
                "which it follows (reordered)",
            )
            self.displaced.add(i)
            return
        elif i + 1 < len(links) and links[i + 1].prev == e.sha:
            nxt = links[i + 1]
            self.report(
                "inserted",
                link,
                f"seq {link.seq} is not part of the chain: the next record (offset "
                f"{nxt.offset}) continues from seq {e.seq} (inserted)",
            )
            return
        elif j is not None and j in self.displaced:
            pass  # follows a record reported as reordered
        elif j is not None:
            self.branch(j, link)
        elif link.seq > e.seq + 1:
            self.report(
                "dropped",
                link,
                f"{seqs(e.seq + 1, link.seq - 1)} missing between offsets {e.offset} and "
                f"{link.offset} (dropped)",
            )
        elif link.seq == e.seq + 1:
            self.report(
                "altered",
                e,
                f"seq {e.seq} was rewritten: seq {link.seq} (offset {link.offset}) links to "
                "another hash (altered)",
            )
        else:
            self.report(
                "altered",
                link,
                f"seq {link.seq} links to a record that is nowhere in the chain (altered)",
            )
        self.accepted.append(i)

    def branch(self, j: int, link: Link) -> None:
        """``link`` continues from an earlier record ``j``: what was accepted since is not
        part of the chain."""
        while self.accepted and self.accepted[-1] > j:
            k = self.accepted.pop()
            self.report(
                "inserted",
                self.links[k],
                f"seq {self.links[k].seq} is not part of the chain: seq {link.seq} (offset "
                f"{link.offset}) continues from seq {self.links[j].seq} (inserted or forged)",
            )

    def report(self, kind: FindingKind, link: Link, message: str) -> None:
        self.out.append(
            Finding(kind, "failure", f"offset {link.offset}: {message}", link.offset, link.seq)
        )
