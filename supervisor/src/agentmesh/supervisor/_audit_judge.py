"""Weighing an audit partition's signed checkpoints against its chain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentmesh.supervisor._audit_findings import Finding, Link, PartitionReport, seqs
from agentmesh.supervisor._checkpoints import Checkpoint

__all__ = ["check_checkpoints"]


def check_checkpoints(
    partition: int,
    links: Sequence[Link],
    keys: Mapping[str, Ed25519PublicKey],
    extra: Sequence[tuple[int | None, Checkpoint]],
    report: PartitionReport,
) -> None:
    judge = _Judge(links, report)
    for offset, cp in _collect(links, extra, report.findings):
        if judge.signature(partition, offset, cp, keys):
            judge.against_chain(offset, cp)
    judge.off_the_signed_chain()
    judge.unsigned_tail()


def _collect(
    links: Sequence[Link],
    extra: Sequence[tuple[int | None, Checkpoint]],
    out: list[Finding],
) -> list[tuple[int | None, Checkpoint]]:
    """The chain's checkpoint links and those kept apart, once each, by seq."""
    found: dict[str, tuple[int | None, Checkpoint]] = {}
    for link in links:
        if link.decision != "checkpoint":
            continue
        try:
            cp = Checkpoint.from_json(orjson.loads(link.details_json))
        except (ValueError, orjson.JSONDecodeError):
            msg = f"offset {link.offset}: a checkpoint that cannot be read (forged)"
            out.append(Finding("forged", "failure", msg, link.offset, link.seq))
            continue
        found.setdefault(cp.signature, (link.offset, cp))
    for offset, cp in extra:
        found.setdefault(cp.signature, (offset, cp))
    return sorted(found.values(), key=lambda f: f[1].seq)


class _Judge:
    """Weighs each checkpoint against the chain as stored."""

    def __init__(self, links: Sequence[Link], report: PartitionReport) -> None:
        self.links = links
        self.report = report
        self.out = report.findings
        self.by_seq: dict[int, list[Link]] = defaultdict(list)
        for link in links:
            self.by_seq[link.seq].append(link)
        self.by_sha = {link.sha: link for link in links}
        self.first_seq = links[0].seq if links else 0
        self.heads: list[tuple[str, Link]] = []  # heads that valid checkpoints sign
        self.last_seq = links[-1].seq if links else -1

    def signature(
        self,
        partition: int,
        offset: int | None,
        cp: Checkpoint,
        keys: Mapping[str, Ed25519PublicKey],
    ) -> bool:
        where = _where(offset)
        verdict = cp.check(keys)
        if verdict == "ok" and cp.partition != partition:
            verdict = "bad_signature"  # a genuine checkpoint of another chain, copied here
        if verdict == "unknown_key":
            given = ", ".join(sorted(keys)) or "none"
            msg = (
                f"{where} (seq {cp.seq}) is signed by key {cp.key_id}, which is not one of "
                f"the keys given ({given})"
            )
            self.out.append(Finding("unknown_key", "failure", msg, offset, cp.seq))
            return False
        if verdict == "bad_signature":
            msg = (
                f"{where} (seq {cp.seq}, partition {cp.partition}): its signature does not "
                f"verify with key {cp.key_id} for this partition (forged or altered)"
            )
            self.out.append(Finding("bad_signature", "failure", msg, offset, cp.seq))
            return False
        return True

    def against_chain(self, offset: int | None, cp: Checkpoint) -> None:
        where = _where(offset)
        head = self.by_sha.get(cp.head_sha256)
        if head is not None and head.seq == cp.seq:
            self.covered(cp.seq)
            self.heads.append((where, head))
        elif cp.seq > self.last_seq:
            msg = (
                f"{where} signs seq {cp.seq}, but the chain ends at seq {self.last_seq}: "
                f"{seqs(self.last_seq + 1, cp.seq)} gone (tail dropped)"
            )
            self.out.append(Finding("tail_dropped", "failure", msg, offset, cp.seq))
        elif cp.seq >= self.first_seq:  # below it: covers the part that was cut off
            there = self.by_seq.get(cp.seq)
            what = (
                f"the record there (offset {there[0].offset}) has hash {there[0].sha[:12]}…"
                if there
                else "the chain has no record with that seq"
            )
            msg = (
                f"{where} signs seq {cp.seq} with hash {cp.head_sha256[:12]}…, but {what} "
                "(altered or forged)"
            )
            self.out.append(Finding("forged", "failure", msg, offset, cp.seq))

    def off_the_signed_chain(self) -> None:
        """Records a checkpoint's chain passes by: the seqs it signs hold other records.

        From each signed head the chain is followed back through its links as far as they
        go; any other record claiming a seq on that stretch is not the writer's.
        """
        signed: set[str] = set()
        stretches: list[tuple[int, int, str]] = []
        for where, head in sorted(self.heads, key=lambda h: -h[1].seq):
            link: Link | None = head
            low = head.seq
            while link is not None and link.sha not in signed:
                signed.add(link.sha)
                low = link.seq
                link = self.by_sha.get(link.prev)
            stretches.append((low, head.seq, where))
        for link in self.links:
            if link.sha in signed or link.error is not None:
                continue
            for low, high, where in stretches:
                if low <= link.seq <= high:
                    msg = (
                        f"offset {link.offset}: claims seq {link.seq}, but the chain the {where} "
                        f"signs (through seq {high}) holds another record there (forged)"
                    )
                    self.out.append(Finding("forged", "failure", msg, link.offset, link.seq))
                    break

    def covered(self, seq: int) -> None:
        self.report.checkpoints += 1
        done = self.report.signed_through
        self.report.signed_through = seq if done is None else max(done, seq)

    def unsigned_tail(self) -> None:
        covered = self.report.signed_through
        unsigned = [
            link
            for link in self.links
            if link.decision != "checkpoint" and (covered is None or link.seq > covered)
        ]
        if not unsigned:
            return
        after = f"after seq {covered}" if covered is not None else "and no checkpoint at all"
        msg = (
            f"unsigned tail: {len(unsigned)} record{'s' if len(unsigned) > 1 else ''} {after} "
            f"(offset {unsigned[0].offset} on); "
            "no checkpoint covers them yet"
        )
        first = unsigned[0]
        self.out.append(Finding("unsigned_tail", "warning", msg, first.offset, first.seq))


def _where(offset: int | None) -> str:
    return f"checkpoint at offset {offset}" if offset is not None else "checkpoint"
