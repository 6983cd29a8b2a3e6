"""Schema compatibility across the versions of each message schema, checked before deploy.

A *lineage* is a directory holding ``v1.avsc``, ``v2.avsc``, ...: every version of one schema,
kept forever, the highest number current. The checks compare the current version with earlier
ones in the registry's modes (same names as Confluent's):

- ``BACKWARD``: the current version, as reader, reads data written with the previous version;
- ``FORWARD``: the previous version, as reader, reads data written with the current one;
- ``FULL``: both; the ``*_TRANSITIVE`` modes do the same against *every* earlier version;
- ``NONE``: no compatibility check (files are still validated).

The default is ``FULL_TRANSITIVE``, stricter than the registry's ``BACKWARD_TRANSITIVE``:
during a rolling deploy consumers still on an old version keep reading what upgraded producers
write, and a replay of the log decodes every version it holds. Under it, removing a field that
has no default, changing a type, or renaming a field fail (even with an alias, which only a
reader declaring it understands), while adding an optional field passes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from agentmesh.contracts._compat_messages import Newer, explain
from agentmesh.contracts._compat_rules import Named, ProblemKind, compare
from agentmesh.contracts._compat_schema import SchemaError, load_schema, parse

__all__ = [
    "CompatMode",
    "Incompatibility",
    "Mismatch",
    "ProblemKind",
    "check_lineage",
    "check_pair",
    "find_lineages",
    "lineage_versions",
]

_VERSION_FILE = re.compile(r"v(\d+)\.avsc")
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


class CompatMode(Enum):
    """Which versions must read which, named as in the Confluent schema registry."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def backward(self) -> bool:
        """The current version must read data written with earlier ones."""
        return self.name.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        """Earlier versions must read data written with the current one."""
        return self.name.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        """Against every earlier version, not only the previous one."""
        return self.name.endswith("_TRANSITIVE")


@dataclass(frozen=True)
class Mismatch:
    """Why a reader schema cannot read data written with a writer schema, and how to fix it."""

    kind: ProblemKind
    location: str
    """Where in the reader schema, e.g. ``Handoff.fields.hop`` or ``Handoff.fields.tags.items``."""
    message: str


@dataclass(frozen=True)
class Incompatibility:
    """One problem in a lineage: a pair of versions that do not resolve, or a bad file.

    For a compatibility problem both versions are set. For a file problem ``reader_version``
    is that file's version (``None`` for a stray file), ``writer_version`` is ``None`` and
    ``location`` is the file name.
    """

    lineage: Path
    kind: ProblemKind
    reader_version: int | None
    writer_version: int | None
    location: str
    message: str


def check_pair(
    reader: Any,
    writer: Any,
    *,
    reader_label: str = "the reader schema",
    writer_label: str = "the writer schema",
) -> list[Mismatch]:
    """Everything that stops ``reader`` from decoding data written with ``writer``.

    Both are schemas as JSON data (as loaded from an ``.avsc``). The labels name them in the
    messages. Raises ``ValueError`` when either is not a valid Avro schema.
    """
    return _pair(parse(reader), parse(writer), reader_label, writer_label, None)


def lineage_versions(path: Path) -> list[int]:
    """The version numbers of the ``v<N>.avsc`` files directly in ``path``, ascending."""
    return sorted(v for v in (_version_of(p) for p in path.iterdir() if p.is_file()) if v)


def find_lineages(roots: Iterable[Path]) -> list[Path]:
    """Every directory at or under ``roots`` that directly holds a ``v<N>.avsc`` file.

    Hidden directories, ``__pycache__`` and ``node_modules`` are skipped. Sorted, no repeats.
    """
    found: set[Path] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIPPED_DIRS]
            if any(_VERSION_FILE.fullmatch(name) for name in filenames):
                found.add(Path(dirpath))
    return sorted(found)


def check_lineage(
    path: Path, mode: CompatMode = CompatMode.FULL_TRANSITIVE
) -> list[Incompatibility]:
    """Validate every file of the lineage at ``path`` and check its current version in ``mode``.

    Reports, besides compatibility problems: files that are not JSON or not valid Avro, gaps
    in the numbering, and files in the directory not named ``v<N>.avsc``. Pairs involving an
    invalid version are not compared (that version is already reported).
    """
    problems = _stray_files(path)
    versions = lineage_versions(path)
    problems += _gaps(path, versions)
    schemas: dict[int, tuple[Any, Named]] = {}
    for version in versions:
        try:
            schemas[version] = load_schema(path / f"v{version}.avsc")
        except SchemaError as exc:
            problems.append(_file_problem(path, ProblemKind.INVALID_SCHEMA, version, str(exc)))
    if not versions or versions[-1] not in schemas:
        return problems
    current = versions[-1]
    for earlier in _earlier(versions, mode):
        if earlier not in schemas:
            continue
        if mode.backward:
            problems += _versions(path, schemas, current, earlier, "reader")
        if mode.forward:
            problems += _versions(path, schemas, earlier, current, "writer")
    return problems


def _earlier(versions: list[int], mode: CompatMode) -> list[int]:
    earlier = versions[:-1] if mode.transitive else versions[-2:-1]
    return earlier if mode.backward or mode.forward else []


def _versions(
    path: Path, schemas: dict[int, tuple[Any, Named]], reader: int, writer: int, newer: Newer
) -> list[Incompatibility]:
    labels = f"v{reader}", f"v{writer}"
    return [
        Incompatibility(path, m.kind, reader, writer, m.location, m.message)
        for m in _pair(schemas[reader], schemas[writer], *labels, newer)
    ]


def _pair(
    reader: tuple[Any, Named], writer: tuple[Any, Named], r_label: str, w_label: str, newer: Newer
) -> list[Mismatch]:
    return [
        Mismatch(f.kind, f.location, explain(f, r_label, w_label, newer))
        for f in compare(reader[0], writer[0], reader[1], writer[1])
    ]


def _version_of(path: Path) -> int | None:
    match = _VERSION_FILE.fullmatch(path.name)
    # v0 and zero-padded names are not versions: v01 next to v1 would be ambiguous.
    if match is None or match[1] != str(int(match[1])) or int(match[1]) == 0:
        return None
    return int(match[1])


def _stray_files(path: Path) -> list[Incompatibility]:
    return [
        _file_problem(
            path,
            ProblemKind.STRAY_FILE,
            None,
            f"'{p.name}' is not a version file: a lineage directory holds only v1.avsc, v2.avsc, "
            "...; rename it to the next free v<N>.avsc, or move it out of this directory",
            location=p.name,
        )
        for p in sorted(path.iterdir())
        if p.is_file() and not p.name.startswith(".") and _version_of(p) is None
    ]


def _gaps(path: Path, versions: list[int]) -> list[Incompatibility]:
    missing = sorted(set(range(1, versions[-1] + 1)) - set(versions)) if versions else []
    return [
        _file_problem(
            path,
            ProblemKind.VERSION_GAP,
            version,
            f"v{version}.avsc is missing: versions are numbered v1, v2, ... with none skipped and "
            f"none deleted; restore v{version}.avsc from version control, or, if the versions "
            "after it were never published, renumber them to close the gap",
        )
        for version in missing
    ]


def _file_problem(
    path: Path, kind: ProblemKind, version: int | None, message: str, *, location: str = ""
) -> Incompatibility:
    return Incompatibility(path, kind, version, None, location or f"v{version}.avsc", message)
