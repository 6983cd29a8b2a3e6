"""Exporting the audit trail to files, and checking it from them with no Kafka.

An export is a directory an auditor can keep for years:

* ``partition-<p>.jsonl`` — every record of partition p, in offset order, one JSON object
  a line: ``{"partition", "offset", "timestamp_ms", "record"}`` where ``record`` is the
  record's fields exactly as hashed (a record's hash is the SHA-256 of its fields but
  ``sha256``, as compact JSON with sorted keys), checkpoints included (they are links);
* ``checkpoints.jsonl`` — the signed checkpoints again, ``{"partition", "offset",
  "checkpoint"}``: kept apart from the records, they still show a tail cut off the records;
* ``keys/<key_id>.pub.pem`` — the public keys given to the export (for reference: an
  auditor verifies with a key from a trusted source, not with the copy beside the data);
* ``manifest.json`` — what was exported, when, over which time range, and where each
  partition starts and ends.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentmesh.contracts import Topics, key_id, public_pem
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection
from agentmesh.supervisor._audit_check import Link, PartitionReport, check_partition
from agentmesh.supervisor._checkpoints import Checkpoint
from agentmesh.supervisor._verify import StoredRecord, scan_audit

__all__ = ["FORMAT", "AuditExport", "ExportError", "export_audit", "load_export"]

FORMAT = "agentmesh-audit-export/1"
CHECKPOINTS = "checkpoints.jsonl"
PROGRESS_EVERY = 5000


def _partition_file(partition: int) -> str:
    return f"partition-{partition}.jsonl"


@dataclass(slots=True)
class _Part:
    file: BinaryIO | None
    records: int = 0
    first_seq: int | None = None
    first_offset: int | None = None
    last_seq: int | None = None
    last_offset: int | None = None
    head_sha256: str | None = None

    def summary(self, partition: int) -> dict[str, Any]:
        return {
            "partition": partition,
            "file": _partition_file(partition),
            "records": self.records,
            "first_seq": self.first_seq,
            "first_offset": self.first_offset,
            "last_seq": self.last_seq,
            "last_offset": self.last_offset,
            "head_sha256": self.head_sha256,
        }


async def export_audit(
    conn: KafkaConnection,
    settings: Settings,
    out: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    public_keys: Sequence[Ed25519PublicKey] = (),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the audit topic (or the records stored in [since, until]) to ``out``; the
    manifest is returned. ``progress(partition, records)`` is called now and then."""
    keys = _write_keys(out, public_keys)
    parts: dict[int, _Part] = {}
    checkpoints = 0
    all_partitions: list[int] = []
    with _open(out / CHECKPOINTS) as cp_file:
        try:
            async for stored in scan_audit(
                conn, settings, since=since, until=until, partitions=all_partitions.extend
            ):
                part = parts.get(stored.partition)
                if part is None:
                    part = parts[stored.partition] = _open_part(out, stored.partition)
                checkpoints += _write(part, cp_file, stored)
                if progress is not None and part.records % PROGRESS_EVERY == 0:
                    progress(stored.partition, part.records)
        finally:
            for part in parts.values():
                if part.file is not None:
                    part.file.close()
    for p in all_partitions:
        if p not in parts:
            _open(out / _partition_file(p)).close()
    empty = _Part(file=None)
    manifest = {
        "format": FORMAT,
        "namespace": settings.namespace,
        "topic": Topics(settings.namespace).audit,
        "exported_at": datetime.now(UTC).isoformat(),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "partitions": [parts.get(p, empty).summary(p) for p in all_partitions],
        "checkpoints_file": CHECKPOINTS,
        "checkpoints": checkpoints,
        "public_keys": keys,
        "hash": "sha256 over the record's fields except sha256, as JSON with sorted keys and "
        "no whitespace",
    }
    _write_manifest(out, manifest)
    return manifest


def _write_keys(out: Path, public_keys: Sequence[Ed25519PublicKey]) -> list[dict[str, str]]:
    (out / "keys").mkdir(parents=True, exist_ok=True)
    keys = []
    for key in public_keys:
        name = f"keys/{key_id(key)}.pub.pem"
        (out / name).write_bytes(public_pem(key))
        keys.append({"key_id": key_id(key), "file": name})
    return keys


def _open(path: Path) -> BinaryIO:
    return path.open("wb")


def _open_part(out: Path, partition: int) -> _Part:
    return _Part(_open(out / _partition_file(partition)))


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def _write(part: _Part, cp_file: BinaryIO, stored: StoredRecord) -> int:
    line: dict[str, Any] = {
        "partition": stored.partition,
        "offset": stored.offset,
        "timestamp_ms": stored.timestamp_ms,
    }
    rec = stored.record
    if rec is None:
        line["undecodable"] = base64.b64encode(stored.raw or b"").decode()
        line["error"] = stored.error
    else:
        line["record"] = rec.model_dump(mode="json")
        if part.first_seq is None:
            part.first_seq, part.first_offset = rec.seq, stored.offset
        part.last_seq, part.last_offset, part.head_sha256 = rec.seq, stored.offset, rec.sha256
    assert part.file is not None
    part.file.write(orjson.dumps(line) + b"\n")
    part.records += 1
    if rec is None or rec.decision != "checkpoint":
        return 0
    try:
        cp = orjson.loads(rec.details_json)
    except orjson.JSONDecodeError:
        return 0
    entry = {"partition": stored.partition, "offset": stored.offset, "checkpoint": cp}
    cp_file.write(orjson.dumps(entry) + b"\n")
    return 1


@dataclass(slots=True)
class AuditExport:
    """An export read back: each partition's links and the checkpoints kept beside them."""

    manifest: dict[str, Any]
    links: dict[int, list[Link]] = field(default_factory=dict)
    checkpoints: dict[int, list[tuple[int | None, Checkpoint]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def starts_at(self, partition: int) -> int | None:
        """Where a partial (``--since``) export deliberately starts, per its manifest."""
        if not self.manifest.get("since"):
            return None
        for part in self.manifest.get("partitions", []):
            if part.get("partition") == partition:
                first = part.get("first_seq")
                return int(first) if first is not None else None
        return None

    def check(self, keys: Mapping[str, Ed25519PublicKey] | None) -> list[PartitionReport]:
        return [
            check_partition(
                p,
                self.links[p],
                keys=keys,
                extra_checkpoints=self.checkpoints.get(p, []),
                starts_at=self.starts_at(p),
            )
            for p in sorted(self.links)
        ]


class ExportError(Exception):
    """The directory is not an audit export."""


def load_export(directory: Path) -> AuditExport:
    """Read an export written by :func:`export_audit`; ``ExportError`` if it is not one."""
    manifest_path = directory / "manifest.json"
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ExportError(
            f"{manifest_path} is missing or unreadable ({exc}); is {directory} a directory "
            "written by `agentmesh audit export`?"
        ) from exc
    if manifest.get("format") != FORMAT:
        raise ExportError(f"{manifest_path}: format {manifest.get('format')!r}, not {FORMAT}")
    export = AuditExport(manifest)
    for part in manifest.get("partitions", []):
        p = int(part["partition"])
        path = directory / str(part["file"])
        if not path.exists():
            export.problems.append(f"{path.name} is missing")
            export.links[p] = []
            continue
        export.links[p] = [_link(n, line) for n, line in enumerate(_lines(path))]
    cp_path = directory / str(manifest.get("checkpoints_file", CHECKPOINTS))
    if cp_path.exists():
        for line in _lines(cp_path):
            try:
                entry = orjson.loads(line)
                cp = Checkpoint.from_json(entry["checkpoint"])
                export.checkpoints.setdefault(int(entry["partition"]), []).append(
                    (entry.get("offset"), cp)
                )
            except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
                export.problems.append(f"{cp_path.name}: an unreadable line")
    return export


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _link(n: int, line: bytes) -> Link:
    try:
        data = orjson.loads(line)
        offset = int(data["offset"])
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        return Link.unreadable(-1, f"line {n + 1} is not JSON with an offset: {exc}")
    record = data.get("record")
    if not isinstance(record, dict):
        return Link.unreadable(offset, str(data.get("error") or "no record"))
    return Link.from_json(offset, record)
