"""Avro schema resolution as a checker: can a reader schema decode data written with a writer's?

The rules are those of the Avro specification ("Schema Resolution") and of Java's
``SchemaCompatibility``: numeric and string/bytes promotions, record fields matched by name or
by the *reader* field's aliases, missing reader fields need a default, writer fields the reader
lacks are skipped, enums need the writer's symbols (or a reader enum ``default``), every branch
a writer union can produce must be readable. Logical types are ignored, as Java does.

Apache avro's ``avro.compatibility`` implements the same rules, but it is not used here: the
``avro-python3`` baseline in the ``bench`` group installs into the same ``avro`` package and
overwrites ``avro/schema.py``, which leaves ``avro.compatibility`` crashing
(``RecordSchema`` has no ``fields_dict``). Its findings are also unordered sets that lose which
message belongs to which location, while we need both to tell the user what to fix.

Schemas given to :func:`compare` are fastavro-parsed (names fully qualified, later uses of a
named type are its full name as a string) and come with their table of named types.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Finding", "ProblemKind", "compare", "describe", "kind_of"]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "enum", "fixed"})
_COMPLEX = _NAMED | {"error", "array", "map"}

# writer type -> reader types that can decode it (the spec's allowed promotions)
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}

Named = dict[str, Any]


class ProblemKind(StrEnum):
    """What is wrong: a broken resolution rule, or (the last three) a lineage not well formed."""

    MISSING_DEFAULT = "missing-default"
    TYPE_MISMATCH = "type-mismatch"
    NAME_MISMATCH = "name-mismatch"
    MISSING_ENUM_SYMBOL = "missing-enum-symbol"
    FIXED_SIZE_MISMATCH = "fixed-size-mismatch"
    MISSING_UNION_BRANCH = "missing-union-branch"
    INVALID_SCHEMA = "invalid-schema"
    VERSION_GAP = "version-gap"
    STRAY_FILE = "stray-file"


@dataclass(frozen=True)
class Finding:
    """One broken rule, as facts; :mod:`agentmesh.contracts._compat_messages` turns it into advice.

    ``subject`` is the field name, type name or union branch concerned; ``reader`` and
    ``writer`` describe each side's type there; ``extra`` holds what the rule needs to explain
    itself (the writer's unmatched field names, or the enum symbols the reader lacks).
    """

    kind: ProblemKind
    location: str
    subject: str
    reader: str
    writer: str
    extra: tuple[str, ...] = ()


def compare(reader: Any, writer: Any, reader_named: Named, writer_named: Named) -> list[Finding]:
    """Everything that stops ``reader`` from decoding data written with ``writer``."""
    return _Comparer(reader_named, writer_named).compare(reader, writer, _root_label(reader))


def kind_of(schema: Any) -> str:
    """``union`` for a list, else the Avro type name (``record``, ``int``, ...)."""
    if isinstance(schema, list):
        return "union"
    kind = str(schema["type"]) if isinstance(schema, dict) else str(schema)
    return "record" if kind == "error" else kind


def describe(schema: Any) -> str:
    """A short spelling of a type: ``int``, ``record Meta``, ``array<long>``, ``[null, int]``."""
    kind = kind_of(schema)
    if isinstance(schema, list):
        return "[" + ", ".join(describe(branch) for branch in schema) + "]"
    if kind in _NAMED:
        return f"{kind} {_short(schema['name'])}"
    if kind == "array":
        return f"array<{describe(schema['items'])}>"
    if kind == "map":
        return f"map<{describe(schema['values'])}>"
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        return _short(schema)  # a named type not resolved yet
    return kind


class _Comparer:
    def __init__(self, reader_named: Named, writer_named: Named) -> None:
        self._named = (reader_named, writer_named)
        # Pairs of named types being compared further up the stack: a recursive type meets
        # itself again, and is taken as compatible there (Java's "recursion in progress").
        self._in_progress: set[tuple[str, str]] = set()

    def compare(self, reader: Any, writer: Any, loc: str) -> list[Finding]:
        reader, writer = _resolve(reader, self._named[0]), _resolve(writer, self._named[1])
        if isinstance(writer, list):
            return [found for branch in writer for found in self.compare(reader, branch, loc)]
        if isinstance(reader, list):
            return self._reader_union(reader, writer, loc)
        r_kind, w_kind = kind_of(reader), kind_of(writer)
        if r_kind == w_kind:
            return self._same_kind(reader, writer, loc)
        if r_kind in _PROMOTIONS.get(w_kind, ()):
            return []
        return [_finding(ProblemKind.TYPE_MISMATCH, loc, reader, writer)]

    def _same_kind(self, reader: Any, writer: Any, loc: str) -> list[Finding]:
        kind = kind_of(reader)
        if kind in _NAMED:
            return self._named_types(reader, writer, loc)
        if kind == "array":
            return self.compare(reader["items"], writer["items"], f"{loc}.items")
        if kind == "map":
            return self.compare(reader["values"], writer["values"], f"{loc}.values")
        return []

    def _reader_union(self, reader: list[Any], writer: Any, loc: str) -> list[Finding]:
        tried = [self.compare(branch, writer, loc) for branch in reader]
        if any(not found for found in tried):
            return []
        # Explain through the branch the writer's type was evidently meant for, if there is one.
        for branch, found in zip(reader, tried, strict=True):
            if _same_shape(_resolve(branch, self._named[0]), writer):
                return found
        return [_finding(ProblemKind.MISSING_UNION_BRANCH, loc, reader, writer, describe(writer))]

    def _named_types(self, reader: Any, writer: Any, loc: str) -> list[Finding]:
        if not _names_match(reader, writer):
            return [_finding(ProblemKind.NAME_MISMATCH, loc, reader, writer, writer["name"])]
        kind = kind_of(reader)
        if kind == "fixed":
            if reader["size"] == writer["size"]:
                return []
            sizes = (f"{reader['size']} bytes", f"{writer['size']} bytes")
            name = _short(reader["name"])
            return [Finding(ProblemKind.FIXED_SIZE_MISMATCH, loc, name, *sizes)]
        if kind == "enum":
            return _enum_symbols(reader, writer, loc)
        pair = (reader["name"], writer["name"])
        if pair in self._in_progress:
            return []
        self._in_progress.add(pair)
        try:
            return self._record_fields(reader, writer, loc)
        finally:
            self._in_progress.discard(pair)

    def _record_fields(self, reader: Any, writer: Any, loc: str) -> list[Finding]:
        by_name = {field["name"]: field for field in writer["fields"]}
        matched: set[str] = set()
        found: list[Finding] = []
        missing: list[dict[str, Any]] = []
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            source = next((by_name[name] for name in names if name in by_name), None)
            if source is None:
                if "default" not in field:
                    missing.append(field)
                continue
            matched.add(source["name"])
            where = f"{loc}.fields.{field['name']}"
            found += self.compare(field["type"], source["type"], where)
        # Unmatched writer fields are named in the message: one of them may be a rename.
        unmatched = tuple(name for name in by_name if name not in matched)
        for field in missing:
            where = f"{loc}.fields.{field['name']}"
            kind = ProblemKind.MISSING_DEFAULT
            found.append(
                Finding(kind, where, field["name"], describe(field["type"]), "", unmatched)
            )
        return found


def _enum_symbols(reader: Any, writer: Any, loc: str) -> list[Finding]:
    unknown = tuple(s for s in writer["symbols"] if s not in reader["symbols"])
    if not unknown or "default" in reader:
        return []
    name = _short(reader["name"])
    return [Finding(ProblemKind.MISSING_ENUM_SYMBOL, loc, name, "", "", unknown)]


def _finding(kind: ProblemKind, loc: str, reader: Any, writer: Any, subject: str = "") -> Finding:
    return Finding(kind, loc, subject or loc.rsplit(".", 1)[-1], describe(reader), describe(writer))


def _resolve(schema: Any, named: Named) -> Any:
    """Replace a named-type reference by its definition and ``{"type": "int"}`` by ``int``."""
    if (
        isinstance(schema, dict)
        and isinstance(schema["type"], str)
        and schema["type"] not in _COMPLEX
    ):
        schema = schema["type"]  # {"type": "long", "logicalType": ...} or {"type": "ns.Name"}
    return named.get(schema, schema) if isinstance(schema, str) else schema


def _same_shape(branch: Any, writer: Any) -> bool:
    if kind_of(branch) != kind_of(writer):
        return False
    return kind_of(writer) not in _NAMED or _short(branch["name"]) == _short(writer["name"])


def _names_match(reader: Any, writer: Any) -> bool:
    """Same unqualified name (as the spec and Java say), or the writer's name is a reader alias."""
    if _short(reader["name"]) == _short(writer["name"]):
        return True
    namespace = reader["name"].rpartition(".")[0]
    # Aliases are relative to the type's namespace, as its name is.
    aliases = {
        a if "." in a or not namespace else f"{namespace}.{a}" for a in reader.get("aliases", ())
    }
    return writer["name"] in aliases


def _short(fullname: str) -> str:
    return fullname.rpartition(".")[2]


def _root_label(schema: Any) -> str:
    return _short(schema["name"]) if kind_of(schema) in _NAMED else kind_of(schema)
