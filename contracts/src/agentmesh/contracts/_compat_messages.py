"""Turn a broken resolution rule into a sentence that says what is wrong and how to fix it.

The fix always targets the *newer* schema of the pair when we know which one it is: published
versions are never edited, so advice to change an old version would be useless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from agentmesh.contracts._compat_rules import Finding, ProblemKind

__all__ = ["Newer", "explain"]

Newer = Literal["reader", "writer"] | None
"""Which side of the pair is the newer version, or ``None`` when the caller does not know."""

_Explainer = Callable[[Finding, str, str, Newer], str]


def explain(finding: Finding, reader: str, writer: str, newer: Newer = None) -> str:
    """One sentence for ``finding``, naming the two schemas by their labels (``v2``, ``v1``)."""
    return _EXPLAINERS[finding.kind](finding, reader, writer, newer)


def _cannot(reader: str, writer: str) -> str:
    return f"so {reader} cannot read data written with {writer}"


def _missing_default(f: Finding, reader: str, writer: str, newer: Newer) -> str:
    so = _cannot(reader, writer)
    name = f.subject
    if newer == "writer":
        return (
            f"field '{name}' has no default in {reader} and {writer} no longer has it (removed or "
            f"renamed), {so}: keep '{name}' in {writer} under that name (a field's aliases "
            f"only help readers that declare them, and {reader} does not)"
        )
    if newer == "reader":
        problem = f"field '{name}' was added in {reader} without a default, {so}"
    else:
        problem = f"field '{name}' has no default in {reader} and {writer} has no such field, {so}"
    optional = f'"type": ["null", {_json_type(f.reader)}], "default": null'
    fix = f"give '{name}' a default in {reader} (to make it optional: {optional})"
    if f.extra:
        olds = ", ".join(f"'{old}'" for old in f.extra)
        fix += f'; if it renames {writer}\'s {olds}, add the old name to its "aliases"'
    return f"{problem}: {fix}"


def _type_mismatch(f: Finding, reader: str, writer: str, newer: Newer) -> str:
    so = _cannot(reader, writer)
    return (
        f"{_where(f.location)} is written as {f.writer} by {writer} but read as {f.reader} by "
        f"{reader}, and Avro cannot convert {f.writer} to {f.reader}, {so}: keep the type "
        "(Avro only promotes int to long/float/double, long to float/double, float to double, "
        "string to/from bytes), or add a new field with the new type and a default"
    )


def _name_mismatch(f: Finding, reader: str, writer: str, newer: Newer) -> str:
    so = _cannot(reader, writer)
    problem = (
        f"{_where(f.location)} is {f.writer} in {writer} but {f.reader} in {reader}, and named "
        f"types resolve by name, {so}"
    )
    if newer == "writer":
        return f"{problem}: keep the name {f.subject} ({reader} cannot learn an alias)"
    return f'{problem}: keep the name, or add "aliases": ["{f.subject}"] to the type in {reader}'


def _missing_enum_symbol(f: Finding, reader: str, writer: str, newer: Newer) -> str:
    so = _cannot(reader, writer)
    symbols = ", ".join(f"'{s}'" for s in f.extra)
    problem = (
        f"enum {f.subject} in {writer} has {symbols}, which {reader} lacks, and {reader}'s enum "
        f'has no "default" symbol, {so}'
    )
    if newer == "reader":
        return f"{problem}: keep {symbols} in {reader}'s symbols"
    if newer == "writer":
        return (
            f"{problem}: do not add symbols to an enum whose older versions have no "
            '"default"; add a new field with a default instead'
        )
    return f'{problem}: add {symbols} to {reader}\'s symbols, or give that enum a "default"'


def _fixed_size_mismatch(f: Finding, reader: str, writer: str, newer: Newer) -> str:
    so = _cannot(reader, writer)
    return (
        f"fixed {f.subject} is {f.writer} in {writer} but {f.reader} in {reader}, {so}: "
        "keep the size, and use a new fixed type in a new field for the new size"
    )


def _missing_union_branch(f: Finding, reader: str, writer: str, newer: Newer) -> str:
    so = _cannot(reader, writer)
    problem = (
        f"{_where(f.location)} can be {f.writer} in {writer} but {reader}'s type there, "
        f"{f.reader}, has no branch that reads {f.writer}, {so}"
    )
    if newer == "writer":
        return f"{problem}: do not let {writer} write {f.writer} there; {reader} will never read it"
    return f"{problem}: add {f.writer} to the union in {reader}"


_EXPLAINERS: dict[ProblemKind, _Explainer] = {
    ProblemKind.MISSING_DEFAULT: _missing_default,
    ProblemKind.TYPE_MISMATCH: _type_mismatch,
    ProblemKind.NAME_MISMATCH: _name_mismatch,
    ProblemKind.MISSING_ENUM_SYMBOL: _missing_enum_symbol,
    ProblemKind.FIXED_SIZE_MISMATCH: _fixed_size_mismatch,
    ProblemKind.MISSING_UNION_BRANCH: _missing_union_branch,
}


def _where(location: str) -> str:
    """``Handoff.fields.tags.items`` -> ``field 'tags' (items)``; else ``the type at <loc>``."""
    if ".fields." not in location:
        return f"the type at {location}"
    name, _, rest = location.rsplit(".fields.", 1)[1].partition(".")
    return f"field '{name}'" + (f" ({rest})" if rest else "")


def _json_type(described: str) -> str:
    """Our spelling of a type, as it would go in JSON for the common, primitive case."""
    return f'"{described}"' if " " not in described and "<" not in described else "..."
