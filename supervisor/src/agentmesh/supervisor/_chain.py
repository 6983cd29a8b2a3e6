"""The audit hash chain: how a record's hash is made, and how a chain is verified."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from agentmesh.contracts import AuditRecord

__all__ = ["GENESIS", "ChainBreak", "record_hash", "verify_chain"]

GENESIS = "0" * 64


def record_hash(record: AuditRecord) -> str:
    """sha256 over the previous hash and every field of the record but its own hash."""
    content = record.model_dump(mode="json", exclude={"sha256"})
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    offset: int
    seq: int
    problem: str


def verify_chain(records: Iterable[tuple[int, AuditRecord]]) -> list[ChainBreak]:
    """Every problem in one partition's chain, given ``(offset, record)`` in offset order."""
    problems: list[ChainBreak] = []
    prev_hash = GENESIS
    prev_seq = -1
    for offset, rec in records:
        if rec.prev_sha256 != prev_hash:
            problems.append(
                ChainBreak(offset, rec.seq, "prev_sha256 does not match the record before")
            )
        if record_hash(rec) != rec.sha256:
            problems.append(
                ChainBreak(offset, rec.seq, "sha256 does not match the content: altered")
            )
        if rec.seq != prev_seq + 1:
            problems.append(ChainBreak(offset, rec.seq, f"seq {rec.seq} follows {prev_seq}"))
        prev_hash, prev_seq = rec.sha256, rec.seq
    return problems
