"""Schema compatibility across versions: the rules, the lineage checks and the CLI command."""

import importlib
import io
import json
from pathlib import Path
from typing import Any, get_args

import fastavro
import orjson
import pytest
from typer.testing import CliRunner

from agentmesh.cli import app
from agentmesh.cli._contracts import Mode
from agentmesh.contracts._compat import (
    CompatMode,
    Incompatibility,
    Mismatch,
    ProblemKind,
    check_lineage,
    check_pair,
    find_lineages,
    lineage_versions,
)

CASES = Path(__file__).parent / "compat_cases"
HANDOFF = CASES / "handoff"  # v1 -> v2 adds a field with a default -> v3 adds an optional one
runner = CliRunner()

FULL = CompatMode.FULL_TRANSITIVE
BACKWARD = CompatMode.BACKWARD_TRANSITIVE
KEEP_TYPE = (
    "keep the type (Avro only promotes int to long/float/double, long to float/double, float "
    "to double, string to/from bytes), or add a new field with the new type and a default"
)


def cannot_convert(name: str, written: str, read: str, writer: int, reader: int) -> str:
    return (
        f"field '{name}' is written as {written} by v{writer} but read as {read} by v{reader}, "
        f"and Avro cannot convert {written} to {read}, so v{reader} cannot read data written "
        f"with v{writer}: {KEEP_TYPE}"
    )


def record(*fields: dict[str, Any], name: str = "Handoff") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "agentmesh.test", "fields": list(fields)}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def lineage(root: Path, *versions: dict[str, Any] | str, name: str = "handoff") -> Path:
    """A lineage directory with ``v1.avsc`` ... in order; a string is written as it is."""
    directory = root / name
    directory.mkdir(parents=True)
    for number, schema in enumerate(versions, start=1):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        (directory / f"v{number}.avsc").write_text(text)
    return directory


ID = field("task_id", "string")
HOP = "Handoff.fields.hop"
HOP_ADDED = (
    "field 'hop' was added in v2 without a default, so v2 cannot read data written with v1: "
    'give \'hop\' a default in v2 (to make it optional: "type": ["null", "int"], "default": null)'
)
HOP_REMOVED = (
    "field 'hop' has no default in v1 and v2 no longer has it (removed or renamed), so v1 cannot "
    "read data written with v2: keep 'hop' in v2 under that name (a field's aliases only help "
    "readers that declare them, and v1 does not)"
)


# --- what passes ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(CompatMode))
def test_the_handoff_case_adds_fields_compatibly_in_every_mode(mode: CompatMode) -> None:
    assert check_lineage(HANDOFF, mode) == []


def test_adding_an_optional_field_passes_both_ways(tmp_path: Path) -> None:
    optional = field("trace_id", ["null", "string"], default=None)
    assert check_lineage(lineage(tmp_path, record(ID), record(ID, optional)), FULL) == []


def test_adding_a_field_with_a_default_passes_both_ways(tmp_path: Path) -> None:
    hop = field("hop", "int", default=0)
    assert check_lineage(lineage(tmp_path, record(ID), record(ID, hop)), FULL) == []


def test_a_recursive_type_is_compared_without_looping() -> None:
    def node(value_type: str) -> dict[str, Any]:
        return record(
            field("next", ["null", "Node"], default=None), field("v", value_type), name="Node"
        )

    assert check_pair(node("long"), node("int")) == []


# --- what fails, and what it says -----------------------------------------------------------


def test_adding_a_field_without_default_says_to_give_it_one(tmp_path: Path) -> None:
    path = lineage(tmp_path, record(ID), record(ID, field("hop", "int")))
    expected = [Incompatibility(path, ProblemKind.MISSING_DEFAULT, 2, 1, HOP, HOP_ADDED)]
    assert expected == check_lineage(path, BACKWARD)


def test_removing_a_field_without_default_fails_only_forward(tmp_path: Path) -> None:
    # The new reader simply skips the removed field; it is old readers that still need it.
    path = lineage(tmp_path, record(ID, field("hop", "int")), record(ID))
    expected = [Incompatibility(path, ProblemKind.MISSING_DEFAULT, 1, 2, HOP, HOP_REMOVED)]
    assert ([], expected) == (check_lineage(path, BACKWARD), check_lineage(path, FULL))


def test_changing_int_to_string_fails(tmp_path: Path) -> None:
    path = lineage(tmp_path, record(field("hop", "int")), record(field("hop", "string")))
    expected = [
        Incompatibility(
            path, ProblemKind.TYPE_MISMATCH, 2, 1, HOP, cannot_convert("hop", "int", "string", 1, 2)
        )
    ]
    assert expected == check_lineage(path, BACKWARD)


def test_promoting_int_to_long_is_backward_but_not_forward(tmp_path: Path) -> None:
    path = lineage(tmp_path, record(field("hop", "int")), record(field("hop", "long")))
    expected = [
        Incompatibility(
            path, ProblemKind.TYPE_MISMATCH, 1, 2, HOP, cannot_convert("hop", "long", "int", 2, 1)
        )
    ]
    assert ([], expected) == (check_lineage(path, BACKWARD), check_lineage(path, FULL))


def test_renaming_without_alias_fails_and_suggests_the_alias(tmp_path: Path) -> None:
    path = lineage(tmp_path, record(field("hop", "int")), record(field("hops", "int")))
    expected = [
        Incompatibility(
            path,
            ProblemKind.MISSING_DEFAULT,
            2,
            1,
            "Handoff.fields.hops",
            "field 'hops' was added in v2 without a default, so v2 cannot read data written with "
            'v1: give \'hops\' a default in v2 (to make it optional: "type": ["null", "int"], '
            '"default": null); if it renames v1\'s \'hop\', add the old name to its "aliases"',
        )
    ]
    assert expected == check_lineage(path, BACKWARD)


def test_renaming_with_alias_passes_backward_only(tmp_path: Path) -> None:
    # Old readers do not know the alias, so under FULL a rename needs a default as well.
    renamed = record(field("hops", "int", aliases=["hop"]))
    path = lineage(tmp_path, record(field("hop", "int")), renamed)
    expected = [Incompatibility(path, ProblemKind.MISSING_DEFAULT, 1, 2, HOP, HOP_REMOVED)]
    assert ([], expected) == (check_lineage(path, BACKWARD), check_lineage(path, FULL))


def test_renaming_with_alias_and_default_passes_both_ways(tmp_path: Path) -> None:
    v1 = record(field("hop", "int", default=0))
    v2 = record(field("hops", "int", default=0, aliases=["hop"]))
    assert check_lineage(lineage(tmp_path, v1, v2), FULL) == []


def test_transitive_mode_names_the_old_version_that_breaks(tmp_path: Path) -> None:
    # v2 drops x (fine backward); v3 brings x back as a string: fine after v2, not after v1.
    v1, v2 = record(field("x", "int")), record()
    v3 = record(field("x", "string", default=""))
    path = lineage(tmp_path, v1, v2, v3)
    expected = [
        Incompatibility(
            path,
            ProblemKind.TYPE_MISMATCH,
            3,
            1,
            "Handoff.fields.x",
            cannot_convert("x", "int", "string", 1, 3),
        )
    ]
    assert ([], expected) == (
        check_lineage(path, CompatMode.BACKWARD),
        check_lineage(path, BACKWARD),
    )


def test_an_enum_symbol_added_without_a_default_breaks_old_readers(tmp_path: Path) -> None:
    def status(*symbols: str) -> dict[str, Any]:
        return record(field("status", {"type": "enum", "name": "Status", "symbols": list(symbols)}))

    path = lineage(tmp_path, status("OK"), status("OK", "FAILED"))
    expected = [
        Incompatibility(
            path,
            ProblemKind.MISSING_ENUM_SYMBOL,
            1,
            2,
            "Handoff.fields.status",
            "enum Status in v2 has 'FAILED', which v1 lacks, and v1's enum has no \"default\" "
            "symbol, so v1 cannot read data written with v2: do not add symbols to an enum whose "
            'older versions have no "default"; add a new field with a default instead',
        )
    ]
    assert ([], expected) == (check_lineage(path, BACKWARD), check_lineage(path, FULL))


def test_check_pair_speaks_of_reader_and_writer() -> None:
    reader = record(
        field("meta", ["null", record(field("trace", "string"), name="Meta")], default=None)
    )
    writer = record(field("meta", ["null", record(name="Meta")], default=None))
    expected = [
        Mismatch(
            ProblemKind.MISSING_DEFAULT,
            "Handoff.fields.meta.fields.trace",
            "field 'trace' has no default in the reader schema and the writer schema has no such "
            "field, so the reader schema cannot read data written with the writer schema: give "
            '\'trace\' a default in the reader schema (to make it optional: "type": ["null", '
            '"string"], "default": null)',
        )
    ]
    assert expected == check_pair(reader, writer)


# --- lineages that are not well formed ------------------------------------------------------


def test_a_gap_in_the_numbering_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "handoff"
    path.mkdir()
    for version in (1, 3):
        (path / f"v{version}.avsc").write_text(json.dumps(record(ID)))
    expected = [
        Incompatibility(
            path,
            ProblemKind.VERSION_GAP,
            2,
            None,
            "v2.avsc",
            "v2.avsc is missing: versions are numbered v1, v2, ... with none skipped and none "
            "deleted; restore v2.avsc from version control, or, if the versions after it were "
            "never published, renumber them to close the gap",
        )
    ]
    assert expected == check_lineage(path)


def test_invalid_json_and_invalid_avro_are_reported_and_not_compared(tmp_path: Path) -> None:
    bad_avro = record(field("hop", "integer"))
    path = lineage(tmp_path, record(ID), '{"type": "record",', bad_avro)

    def invalid(version: int, message: str) -> Incompatibility:
        return Incompatibility(
            path, ProblemKind.INVALID_SCHEMA, version, None, f"v{version}.avsc", message
        )

    expected = [
        invalid(2, "not valid JSON: unexpected end of data: line 1 column 19 (char 18)"),
        invalid(
            3,
            "not a valid Avro schema: unknown type 'integer' (as 'agentmesh.test.integer'): "
            "neither a primitive type nor a named type defined earlier in the schema",
        ),
    ]
    assert expected == check_lineage(path)


def test_a_union_default_must_match_the_first_branch(tmp_path: Path) -> None:
    # fastavro accepts this; the registry (Java) refuses it at registration.
    path = lineage(tmp_path, record(field("hop", ["null", "int"], default=0)))
    expected = [
        Incompatibility(
            path,
            ProblemKind.INVALID_SCHEMA,
            1,
            None,
            "v1.avsc",
            "not a valid Avro schema: the default of agentmesh.test.Handoff.fields.hop must match "
            'the union\'s first type (null): put the type of the default first ("null" first for '
            "a default of null)",
        )
    ]
    assert expected == check_lineage(path)


def test_other_files_in_a_lineage_are_reported(tmp_path: Path) -> None:
    path = lineage(tmp_path, record(ID))
    (path / "v01.avsc").write_text(json.dumps(record(ID)))
    (path / ".gitkeep").write_text("")  # hidden files are not ours to judge
    expected = [
        Incompatibility(
            path,
            ProblemKind.STRAY_FILE,
            None,
            None,
            "v01.avsc",
            "'v01.avsc' is not a version file: a lineage directory holds only v1.avsc, v2.avsc, "
            "...; rename it to the next free v<N>.avsc, or move it out of this directory",
        )
    ]
    assert ([1], expected) == (lineage_versions(path), check_lineage(path))


def test_find_lineages_walks_roots_and_skips_hidden_directories(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts" / "schemas"
    agents = tmp_path / "agents"
    for directory in (
        contracts / "handoff",
        contracts / "task",
        agents / "research" / "schemas" / "planner.input",
        agents / "research" / ".cache" / "old",
    ):
        directory.mkdir(parents=True)
        (directory / "v1.avsc").write_text(json.dumps(record(ID)))
    (agents / "research" / "schemas" / "notes.avsc").write_text("{}")
    expected = [
        agents / "research" / "schemas" / "planner.input",
        contracts / "handoff",
        contracts / "task",
    ]
    assert expected == find_lineages([contracts, agents, contracts / "task"])


# --- the data agrees ------------------------------------------------------------------------


def _roundtrip(record_: dict[str, Any], writer: Path, reader: Path) -> Any:
    writer_schema = fastavro.parse_schema(json.loads(writer.read_text()))
    reader_schema = fastavro.parse_schema(json.loads(reader.read_text()))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer_schema, record_)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, writer_schema, reader_schema)


def test_old_and_new_readers_decode_each_others_data() -> None:
    old = {"task_id": "t1", "target": "planner", "payload": b"{}"}
    new = {**old, "hop": 2, "trace_id": "abc"}
    assert ({**old, "hop": 0, "trace_id": None}, old) == (
        _roundtrip(old, writer=HANDOFF / "v1.avsc", reader=HANDOFF / "v3.avsc"),
        _roundtrip(new, writer=HANDOFF / "v3.avsc", reader=HANDOFF / "v1.avsc"),
    )


# --- agreement with Apache avro's checker ---------------------------------------------------

PAIRS = {
    "optional field added": (record(ID, field("t", ["null", "int"], default=None)), record(ID)),
    "field added without default": (record(ID, field("hop", "int")), record(ID)),
    "int to long": (record(field("hop", "long")), record(field("hop", "int"))),
    "long to int": (record(field("hop", "int")), record(field("hop", "long"))),
    "int to string": (record(field("hop", "string")), record(field("hop", "int"))),
    "rename with alias": (record(field("b", "int", aliases=["a"])), record(field("a", "int"))),
    "union narrowed": (record(field("a", "int")), record(field("a", ["null", "int"]))),
    "union widened": (record(field("a", ["null", "int"])), record(field("a", "int"))),
}


@pytest.mark.parametrize(("reader", "writer"), PAIRS.values(), ids=PAIRS.keys())
def test_verdicts_agree_with_apache_avro(reader: dict[str, Any], writer: dict[str, Any]) -> None:
    # Through import_module: avro's functions are untyped, and mypy --strict rejects calling them.
    compatibility: Any = importlib.import_module("avro.compatibility")
    schema: Any = importlib.import_module("avro.schema")
    try:
        apache = compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
            schema.parse(json.dumps(reader)), schema.parse(json.dumps(writer))
        )
    except AttributeError as exc:
        # avro-python3 (the bench baseline) installs over avro's own files in the same package.
        pytest.skip(f"Apache avro's checker is unusable in this environment: {exc}")
    agrees = compatibility.SchemaCompatibilityType.compatible == apache.compatibility
    assert agrees == (not check_pair(reader, writer))


# --- the command ----------------------------------------------------------------------------


def test_cli_modes_are_the_compat_modes() -> None:
    assert get_args(Mode) == tuple(m.value.lower().replace("_", "-") for m in CompatMode)


def test_cli_check_passes_a_compatible_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)
    result = runner.invoke(app, ["contracts", "check", str(HANDOFF)])
    assert (result.exit_code, result.stdout) == (0, "ok  handoff (3 versions)\n")


def test_cli_check_fails_and_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lineage(tmp_path, record(ID), record(ID, field("hop", "int")))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["contracts", "check", "."])
    expected = (
        "FAIL handoff (2 versions)\n"
        "  v2 reading v1 data, at Handoff.fields.hop [missing-default]\n"
        f"    {HOP_ADDED}\n"
    )
    assert (1, expected) == (result.exit_code, result.stdout)


def test_cli_check_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lineage(tmp_path, record(ID, field("hop", "int")), record(ID))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["contracts", "check", "--json", "handoff"])
    expected = {
        "ok": False,
        "mode": "FULL_TRANSITIVE",
        "lineages": [{"path": "handoff", "versions": [1, 2], "ok": False}],
        "problems": [
            {
                "lineage": "handoff",
                "kind": "missing-default",
                "reader_version": 1,
                "writer_version": 2,
                "location": HOP,
                "message": HOP_REMOVED,
            }
        ],
        "drift": [],  # the core contracts match their models
    }
    assert (1, expected) == (result.exit_code, orjson.loads(result.stdout))


def test_cli_check_in_a_weaker_mode_passes(tmp_path: Path) -> None:
    path = lineage(tmp_path, record(ID, field("hop", "int")), record(ID))
    result = runner.invoke(app, ["contracts", "check", "--mode", "backward-transitive", str(path)])
    assert (0, f"ok  {path} (2 versions)\n") == (result.exit_code, result.stdout)


def test_cli_check_refuses_a_missing_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["contracts", "check", "--json", str(tmp_path / "nope")])
    expected = {"ok": False, "error": f"not a directory: {tmp_path / 'nope'}"}
    assert (1, expected) == (result.exit_code, orjson.loads(result.stdout))
