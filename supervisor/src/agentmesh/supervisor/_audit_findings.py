"""What checking an audit partition finds: the links it reads and the findings it reports."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from agentmesh.contracts import AuditRecord
from agentmesh.supervisor._chain import record_hash

__all__ = ["Finding", "FindingKind", "Link", "PartitionReport", "Severity", "seqs"]

FindingKind = Literal[
    "altered",
    "dropped",
    "reordered",
    "inserted",
    "cut_off",
    "tail_dropped",
    "forged",
    "bad_signature",
    "unknown_key",
    "unsigned_tail",
]
Severity = Literal["failure", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Link:
    """What checking needs of one stored record."""

    offset: int
    seq: int
    prev: str
    sha: str
    computed: str  # the hash its content gives
    decision: str
    details_json: str
    error: str | None = None  # why it could not be read, if it could not

    @classmethod
    def unreadable(cls, offset: int, error: str) -> Link:
        return cls(offset, -1, "", "", "", "", "", error)

    @classmethod
    def of(cls, offset: int, record: AuditRecord) -> Link:
        return cls(
            offset,
            record.seq,
            record.prev_sha256,
            record.sha256,
            record_hash(record),
            record.decision,
            record.details_json,
        )

    @classmethod
    def from_json(cls, offset: int, data: Mapping[str, Any]) -> Link:
        """From a record as exported (``AuditRecord.model_dump(mode="json")``): the hash
        is recomputed from these very fields, so nothing is lost in a round trip."""
        content = {k: v for k, v in data.items() if k != "sha256"}
        computed = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return cls(
            offset,
            int(data.get("seq", -1)),
            str(data.get("prev_sha256", "")),
            str(data.get("sha256", "")),
            computed,
            str(data.get("decision", "")),
            str(data.get("details_json", "")),
        )


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    severity: Severity
    message: str
    offset: int | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "offset": self.offset,
            "seq": self.seq,
            "message": self.message,
        }


@dataclass(slots=True)
class PartitionReport:
    partition: int
    records: int
    first_seq: int | None
    last_seq: int | None
    head_sha256: str | None
    checkpoints: int = 0  # valid ones that agree with the chain
    signed_through: int | None = None  # the highest seq a valid checkpoint covers
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "failure" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "ok": self.ok,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_sha256": self.head_sha256,
            "checkpoints": self.checkpoints,
            "signed_through": self.signed_through,
            "findings": [f.to_json() for f in self.findings],
        }


def seqs(first: int, last: int) -> str:
    """``seq 7`` or ``seq 7-9``, for messages."""
    return f"seq {first}" if first == last else f"seq {first}-{last}"
