"""``--app``: which mesh a command works on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from agentmesh.cli._output import err_console, fail

if TYPE_CHECKING:
    from agentmesh.agents import Mesh
    from agentmesh.contracts import Lineage
    from agentmesh.core import Settings

__all__ = [
    "AppOption",
    "all_lineages",
    "forget_demo",
    "load_app",
    "remember_demo",
    "running_demo_app",
]

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="The mesh, as 'package.module:attribute' (default: AGENTMESH_APP).",
        show_default=False,
    ),
]


def load_app(app: str | None, *, json_mode: bool) -> Mesh | None:
    """The mesh named by ``--app``, or None; a bad spec is a clear error."""
    if app is None:
        return None
    from agentmesh.agents import load_mesh

    try:
        return load_mesh(app)
    except (ValueError, TypeError) as exc:
        fail(str(exc), json_mode=json_mode)


def all_lineages(mesh: Mesh | None) -> list[Lineage]:
    """Core contract lineages plus the mesh's payload lineages."""
    from agentmesh.contracts import CATALOG

    core = [spec.lineage for spec in CATALOG]
    return core + (mesh.payload_lineages() if mesh else [])


# While `agentmesh demo` (`make run`) runs, it leaves its mesh here, so the commands it
# suggests (`agentmesh task submit planner --input ...`) work without --app.
def _demo_marker(settings: Settings) -> Path:
    return settings.local_dir / "demo" / "mesh.json"


def remember_demo(settings: Settings, app: str) -> None:
    """Record that this process runs the demo of ``app`` in ``settings.namespace``."""
    marker = _demo_marker(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    record = {"app": app, "namespace": settings.namespace, "pid": os.getpid()}
    marker.write_bytes(orjson.dumps(record))


def forget_demo(settings: Settings) -> None:
    """Remove the record :func:`remember_demo` left (the demo stopped)."""
    _demo_marker(settings).unlink(missing_ok=True)


def running_demo_app(settings: Settings) -> str | None:
    """The app of a demo running now in ``settings.namespace``, or None; says so on stderr."""
    try:
        record = orjson.loads(_demo_marker(settings).read_bytes())
        os.kill(int(record["pid"]), 0)  # still running? (signal 0 only checks)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if record.get("namespace") != settings.namespace or not isinstance(record.get("app"), str):
        return None
    err_console.print(f"[dim]using the running demo's mesh: --app {record['app']}[/]")
    app: str = record["app"]
    return app
