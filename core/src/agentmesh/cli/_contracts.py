"""``agentmesh contracts``: the message schemas, checked before they reach a registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from agentmesh.cli._apps import AppOption, all_lineages, load_app
from agentmesh.cli._output import JsonOption, err_console, fail, out_console, print_json

if TYPE_CHECKING:
    from agentmesh.contracts._compat import Incompatibility

__all__ = ["contracts_app"]

# The values of contracts.CompatMode, spelled for a command line; kept here so that
# `agentmesh --help` does not import the contracts package (a test keeps the two in step).
Mode = Literal[
    "backward",
    "backward-transitive",
    "forward",
    "forward-transitive",
    "full",
    "full-transitive",
    "none",
]

contracts_app = typer.Typer(
    help=(
        "The message contracts: Avro schemas, one directory (a lineage) per schema holding "
        "v1.avsc, v2.avsc, ... with every version kept and the highest one current."
    ),
    no_args_is_help=True,
)

PathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Directories to search for lineages (default: the core schemas and ./agents).",
        show_default=False,
    ),
]
ModeOption = Annotated[
    Mode,
    typer.Option(
        "--mode",
        case_sensitive=False,
        help="Which versions must read which (the schema registry's compatibility modes).",
    ),
]


_CHECK_HELP = "\n\n".join(
    [
        "Check every schema lineage under PATHS: valid files, no gaps, compatible versions.",
        "A lineage is any directory that directly holds v<N>.avsc files. Each file must be valid "
        "JSON and valid Avro, numbering starts at v1 with no gaps, and no other files sit beside "
        "them. The current (highest) version is then checked against earlier ones. backward: it "
        "reads data written with the previous version; forward: the previous version reads data "
        "it writes; full: both; *-transitive: against every earlier version, not only the "
        "previous one; none: no compatibility check.",
        "The default, full-transitive, is stricter than the registry's backward-transitive on "
        "purpose: during a rolling deploy, consumers still on an old version must read what "
        "upgraded producers write, and a replay must decode every version on the log. So adding "
        "an optional field passes, while removing a field without a default, changing a type, "
        "or renaming a field (even with an alias, which old readers do not have) fails.",
        "Without PATHS, the schemas of the installed agentmesh.contracts package are searched, "
        "and ./agents when the current directory has one (a checkout of agentmesh, or a "
        "project laid out like it). Exits 1 when any problem is found.",
    ]
)


@contracts_app.command(help=_CHECK_HELP)
def check(
    paths: PathsArgument = None,
    mode: ModeOption = "full-transitive",
    app: AppOption = None,
    json_out: JsonOption = False,
) -> None:
    """Check the schema lineages under ``paths``; the help text above says what and how."""
    from agentmesh.contracts import drift
    from agentmesh.contracts._compat import (
        CompatMode,
        check_lineage,
        find_lineages,
        lineage_versions,
    )

    roots = [p.resolve() for p in paths] if paths else _default_roots()
    missing = [str(p) for p in roots if not p.is_dir()]
    if missing:
        fail(f"not a directory: {', '.join(missing)}", json_mode=json_out)
    compat_mode = CompatMode[mode.upper().replace("-", "_")]
    lineages = find_lineages(roots)
    results = [(p, lineage_versions(p), check_lineage(p, compat_mode)) for p in lineages]
    # The newest files must also be what the models generate today (core contracts, plus the
    # payloads of --app's agents).
    drifted = drift(all_lineages(load_app(app, json_mode=json_out)))
    ok = not drifted and not any(problems for _, _, problems in results)
    if json_out:
        print_json(
            {
                "ok": ok,
                "mode": compat_mode.value,
                "lineages": [
                    {"path": _shown(p), "versions": v, "ok": not problems}
                    for p, v, problems in results
                ],
                "problems": [_problem_dict(x) for _, _, problems in results for x in problems],
                "drift": drifted,
            }
        )
    else:
        for lineage, versions, problems in results:
            _print_lineage(lineage, versions, problems)
        for message in drifted:
            _say(f"DRIFT {message}")
        if not lineages:
            err_console.print(
                f"no schema lineages (directories with v<N>.avsc files) under: "
                f"{', '.join(_shown(p) for p in roots) or 'nothing (no default directory exists)'}",
                markup=False,
                highlight=False,
            )
    if not ok:
        raise typer.Exit(1)


def _default_roots() -> list[Path]:
    from agentmesh.contracts import SCHEMA_DIR

    # The core contracts wherever they are installed; in a checkout of agentmesh (or of a
    # project laid out like it), the agents' payload schemas under agents/ too.
    agents = Path.cwd() / "agents"
    return [SCHEMA_DIR, *([agents] if agents.is_dir() else [])]


def _print_lineage(lineage: Path, versions: list[int], problems: list[Incompatibility]) -> None:
    count = f"{len(versions)} version{'' if len(versions) == 1 else 's'}"
    status = "FAIL " if problems else "ok  "
    _say(f"{status}{_shown(lineage)} ({count})")
    for problem in problems:
        if problem.writer_version is None:
            where = problem.location
        else:
            where = (
                f"v{problem.reader_version} reading v{problem.writer_version} data, "
                f"at {problem.location}"
            )
        _say(f"  {where} [{problem.kind}]")
        _say(f"    {problem.message}")


def _say(line: str) -> None:
    # Messages quote JSON ("aliases": ["a"]), which rich would take for markup; and one line
    # per message, unwrapped, keeps the output greppable.
    out_console.print(line, markup=False, highlight=False, soft_wrap=True)


def _problem_dict(problem: Incompatibility) -> dict[str, object]:
    return {
        "lineage": _shown(problem.lineage),
        "kind": str(problem.kind),
        "reader_version": problem.reader_version,
        "writer_version": problem.writer_version,
        "location": problem.location,
        "message": problem.message,
    }


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())
