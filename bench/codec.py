"""Encode + decode throughput of a ~1 KB handoff: fastavro vs avro-python3, and agentmesh's Codec.

``.venv/bin/python -m bench.codec [--repeats 7] [--iterations 8000] [--json]`` times three cases
in turns, in one process, on one record: fastavro's ``schemaless_writer``/``schemaless_reader``
(what Codec uses); avro-python3's ``DatumWriter``/``DatumReader`` (the deprecated baseline);
and agentmesh's ``Codec``, i.e. fastavro plus ``model_dump``, pydantic validation and framing.
Before timing, each must round-trip to an equal value, and avro-python3 must write the very
bytes fastavro writes: all three do the same work at the Avro level.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import importlib
import importlib.util
import io
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from agentmesh.contracts import Budget, Codec, ContextRef, Contract, Handoff, avro_schema, to_datum
from agentmesh.contracts.testing import InMemorySchemaRegistry
from bench._stats import (
    Measurement,
    Timer,
    atime_per_op,
    interleave,
    measurement_table,
    positive_int,
    time_per_op,
)

__all__ = ["BaselineUnavailableError", "ResearchBrief", "main", "run", "sample_handoff"]

RoundTrip = Callable[[], tuple[bytes, Any]]
"""Encodes the benchmark datum and decodes it again; returns the bytes and the decoded value."""


class ResearchBrief(Contract):
    """A research agent's input: the question, how the planner split it, what to keep in mind."""

    question: str
    sub_questions: list[str]
    notes: dict[str, str]
    priority: int = 1


BriefHandoff = Handoff[ResearchBrief]

_TASK = "7f3c9a2e4b1d4c8e9a6f0b2d3e4f5a6b"


def sample_handoff() -> BriefHandoff:
    """A planner -> researcher handoff whose Avro body is about 1 KB (fixed ids and times)."""
    return BriefHandoff(
        task_id=_TASK,
        handoff_id="c41d8e0f9b7a4e62a5d3f1b08e6c2d94",
        parent_id="0b9e2f6a1c3d4e5f8a7b6c5d4e3f2a1b",
        idempotency_key="e5a1f0c3b2d94e87a6f5c4b3a2918d7e",
        from_agent="planner",
        to_agent="researcher",
        hop=2,
        created_at=datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC),
        tenant="acme-legal",
        budget=Budget(
            max_tokens=48_000,
            max_cost_usd=Decimal("0.8125"),
            max_steps=24,
            max_hops=6,
            deadline=datetime(2025, 3, 14, 10, 0, tzinfo=UTC),
        ),
        context=[
            ContextRef(
                kind="claim_check",
                ref="sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                summary="EU AI Act, articles 50-55 (general-purpose AI models), as crawled.",
                size_bytes=184_320,
            ),
            ContextRef(
                kind="journal",
                ref=f"task/{_TASK}/step/4",
                summary="Planner so far: the user cares about disclosure duties only.",
                size_bytes=2_310,
            ),
            ContextRef(kind="url", ref="https://www.federalregister.gov/d/2023-24283"),
        ],
        payload=ResearchBrief(
            question="What must a provider of a general-purpose AI model disclose about its "
            "training data under the EU AI Act and under US federal guidance?",
            sub_questions=[
                "Which EU AI Act articles apply to general-purpose models, and from when?",
                "What does US federal guidance ask developers to report, and to whom?",
                "Could one publication satisfy both?",
            ],
            notes={
                "audience": "in-house counsel; cite articles and sections",
                "format": "a comparison table, then at most 300 words of caveats",
            },
            priority=2,
        ),
    )


# --- the baseline library -------------------------------------------------------------------
#
# avro-python3 and Apache avro 1.12 (a runtime dependency, for its compatibility checker) both
# install the top-level package `avro` into the same directory. Each file they share goes to
# whichever wheel the installer unpacked last (uv unpacks in parallel, so this can change from
# one `uv sync` to the next), and `import avro` yields a mix of the two. So we never trust
# `import avro`: we check each distribution's files against the hashes in its own RECORD, and
# import avro-python3 from those files under a private name, independent of whatever
# `sys.modules["avro"]` holds. Only if its files were overwritten do we fall back to Apache avro
# (then intact, and plain `import avro` is it) and say so in the output.

_PRIVATE_NAME = "_avro_python3"


class BaselineUnavailableError(RuntimeError):
    """Neither avro-python3 nor Apache avro is installed intact."""


@dataclass(frozen=True)
class Baseline:
    """The pure-Python Avro library fastavro is compared with."""

    library: str
    name: str  # with the version: the row label
    schema: ModuleType
    io: ModuleType
    logical_types: bool
    notes: tuple[str, ...]


def load_baseline() -> Baseline:
    """avro-python3 if its files are intact, else Apache avro (with a note saying why)."""
    try:
        return _load_avro_python3()
    except BaselineUnavailableError as missing:
        try:
            return _load_apache_avro(reason=str(missing))
        except BaselineUnavailableError as also_missing:
            raise BaselineUnavailableError(f"{missing}; {also_missing}") from None


def _load_avro_python3() -> Baseline:
    dist = _intact_distribution("avro-python3")
    io_module = _import_private_copy(Path(str(dist.locate_file("avro"))))
    return Baseline(
        library="avro-python3",
        name=f"avro-python3 {dist.version}",
        schema=io_module.schema,
        io=io_module,
        logical_types=False,
        notes=(
            "avro-python3 has no logical types: it gets the decimal as bytes and timestamps "
            "as int micros, and writes bytes identical to fastavro's (checked)",
            "avro-python3 validates each datum before writing it (fastavro does not)",
            f"avro-python3 loaded from its own files as `{_PRIVATE_NAME}`: it and Apache avro "
            "both install the package `avro`",
        ),
    )


def _load_apache_avro(reason: str) -> Baseline:
    dist = _intact_distribution("avro")
    return Baseline(
        library="avro",
        name=f"avro {dist.version}",
        schema=importlib.import_module("avro.schema"),
        io=importlib.import_module("avro.io"),
        logical_types=True,
        notes=(f"measured Apache avro in place of avro-python3, because {reason}",),
    )


def _intact_distribution(name: str) -> metadata.Distribution:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise BaselineUnavailableError(f"{name} is not installed (uv sync --group bench)") from None
    changed = [str(f) for f in dist.files or () if f.parts[0] == "avro" and not _as_recorded(f)]
    if changed:
        raise BaselineUnavailableError(
            f"{name} {dist.version} was overwritten by another package that installs `avro` "
            f"({', '.join(changed)}); reinstall it: uv sync --reinstall-package {name}"
        )
    return dist


def _as_recorded(file: metadata.PackagePath) -> bool:
    """Whether ``file`` still holds the bytes its wheel's RECORD lists."""
    if file.hash is None:  # RECORD hashes neither itself nor compiled files
        return True
    path = Path(str(file.locate()))
    if not path.is_file():
        return False
    digest = hashlib.new(file.hash.mode, path.read_bytes()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == file.hash.value


def _import_private_copy(package_dir: Path) -> ModuleType:
    """avro-python3's ``avro.io`` from ``package_dir``, imported as ``_avro_python3.io``."""
    if f"{_PRIVATE_NAME}.io" in sys.modules:
        return sys.modules[f"{_PRIVATE_NAME}.io"]
    spec = importlib.util.spec_from_file_location(
        _PRIVATE_NAME, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    # Registered before it runs: its __init__ reads VERSION.txt via pkgutil, which looks it up.
    sys.modules[_PRIVATE_NAME] = package
    spec.loader.exec_module(package)
    # Its io.py says `from avro import schema`; `avro` must mean this copy while it runs.
    saved = sys.modules.get("avro")
    sys.modules["avro"] = package
    try:
        return importlib.import_module(f"{_PRIVATE_NAME}.io")
    finally:
        if saved is None:
            del sys.modules["avro"]
        else:
            sys.modules["avro"] = saved


# --- the three cases ------------------------------------------------------------------------


def fastavro_roundtrip(schema: dict[str, Any], datum: Any) -> RoundTrip:
    """fastavro's schemaless write and read of ``datum``, with a schema parsed once."""
    parsed = parse_schema(schema)

    def roundtrip() -> tuple[bytes, Any]:
        out = io.BytesIO()
        schemaless_writer(out, parsed, datum)
        data = out.getvalue()
        return data, schemaless_reader(io.BytesIO(data), parsed)

    return roundtrip


def baseline_roundtrip(baseline: Baseline, schema: dict[str, Any], datum: Any) -> RoundTrip:
    """The baseline's DatumWriter/DatumReader write and read of ``datum``."""
    avro_io = baseline.io
    parsed = baseline.schema.parse(json.dumps(schema))
    writer, reader = avro_io.DatumWriter(parsed), avro_io.DatumReader(parsed)
    encoder, decoder = avro_io.BinaryEncoder, avro_io.BinaryDecoder

    def roundtrip() -> tuple[bytes, Any]:
        out = io.BytesIO()
        writer.write(datum, encoder(out))
        data = out.getvalue()
        return data, reader.read(decoder(io.BytesIO(data)))

    return roundtrip


def baseline_datum(baseline: Baseline, schema: dict[str, Any], body: bytes) -> Any:
    """The record as ``baseline`` takes it: fastavro's ``body`` read back in its types.

    A library without logical types gets decimals and timestamps in their Avro base types,
    read with the logical types stripped from the schema (same bytes, plainer values).
    """
    if not baseline.logical_types:
        schema = _without_logical_types(schema)
    return schemaless_reader(io.BytesIO(body), parse_schema(schema))


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


def _expect_equal(what: str, expected: object, actual: object) -> None:
    # Not `assert`: timing a path that does not round-trip must fail under `python -O` too.
    if expected != actual:
        raise AssertionError(f"{what} does not round-trip to an equal value; not timing it")


# --- running and reporting ------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One benchmark run: fastavro, baseline and Codec rows, in that order."""

    rows: tuple[Measurement, Measurement, Measurement]
    body_bytes: int
    framed_bytes: int
    repeats: int
    iterations: int
    baseline: Baseline

    @property
    def speedup(self) -> float:
        """How many times faster fastavro is than the baseline."""
        return self.rows[0].times_faster_than(self.rows[1])

    @property
    def codec_cost(self) -> float:
        """Codec's time per round trip as a multiple of raw fastavro's."""
        return self.rows[0].times_faster_than(self.rows[2])

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable form printed by ``--json``."""
        return {
            "benchmark": "codec",
            "record": "Handoff[ResearchBrief]",
            "avro_body_bytes": self.body_bytes,
            "framed_bytes": self.framed_bytes,
            "repeats": self.repeats,
            "iterations": self.iterations,
            "baseline": self.baseline.name,
            "rows": [row.as_dict() for row in self.rows],
            "fastavro_speedup_vs_baseline": self.speedup,
            "codec_time_vs_fastavro": self.codec_cost,
            "notes": list(self.baseline.notes),
        }


def run(*, repeats: int, iterations: int) -> Report:
    """Check all three cases round-trip, then time them in turns."""
    baseline = load_baseline()
    handoff = sample_handoff()
    schema = avro_schema(BriefHandoff)
    fast = fastavro_roundtrip(schema, to_datum(handoff))
    body, decoded = fast()
    _expect_equal("fastavro", handoff, BriefHandoff.model_validate(decoded))
    slow_datum = baseline_datum(baseline, schema, body)
    slow = baseline_roundtrip(baseline, schema, slow_datum)
    _expect_equal(baseline.name, (body, slow_datum), slow())
    with asyncio.Runner() as runner:
        codec_roundtrip, framed_bytes = _checked_codec(runner, handoff)
        timers: dict[str, Timer] = {
            f"fastavro {metadata.version('fastavro')}": lambda n: time_per_op(fast, n),
            baseline.name: lambda n: time_per_op(slow, n),
            "agentmesh Codec": lambda n: runner.run(atime_per_op(codec_roundtrip, n)),
        }
        fa, base, codec = interleave(
            timers, repeats=repeats, iterations=iterations, warmup=max(1, iterations // 10)
        )
    return Report((fa, base, codec), len(body), framed_bytes, repeats, iterations, baseline)


def _checked_codec(
    runner: asyncio.Runner, handoff: BriefHandoff
) -> tuple[Callable[[], Awaitable[BriefHandoff]], int]:
    codec = Codec(BriefHandoff, "bench-value", InMemorySchemaRegistry())
    runner.run(codec.register())
    framed = codec.encode(handoff)
    _expect_equal("agentmesh Codec", handoff, runner.run(codec.decode(framed)))

    async def roundtrip() -> BriefHandoff:
        return await codec.decode(codec.encode(handoff))

    return roundtrip, len(framed)


def render(report: Report) -> str:
    """The human-readable report: a table, the ratios, the caveats."""
    fa, codec = report.rows[0], report.rows[2]
    overhead_us = (codec.median_s - fa.median_s) * 1e6
    return "\n".join(
        [
            "encode + decode of one Handoff[ResearchBrief]: "
            f"{report.body_bytes:,} B Avro body, {report.framed_bytes:,} B framed by Codec",
            f"median of {report.repeats} runs x {report.iterations:,} round trips, after a warm-up",
            "",
            measurement_table(report.rows),
            "",
            f"fastavro is {report.speedup:.1f}x faster than {report.baseline.library} "
            f"(median of {report.repeats} runs; machines are noisy: compare ratios)",
            f"agentmesh Codec takes {report.codec_cost:.2f}x raw fastavro's time "
            f"(+{overhead_us:.1f} us/op for model_dump, pydantic validation and framing)",
            *(f"note: {note}" for note in report.baseline.notes),
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.codec",
        description="Encode + decode per second of a ~1 KB agentmesh handoff: fastavro vs "
        "avro-python3 side by side, and agentmesh's Codec for reference.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # The defaults take about 15 s in all on a 2-core machine.
    parser.add_argument("--repeats", type=positive_int, default=7, help="timed runs per case")
    parser.add_argument("--iterations", type=positive_int, default=8000, help="round trips per run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 2 when no baseline library is importable."""
    args = _parser().parse_args(argv)
    try:
        report = run(repeats=args.repeats, iterations=args.iterations)
    except BaselineUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
