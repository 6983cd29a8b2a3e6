"""``--app``: which mesh a command works on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agentmesh.cli._output import fail

if TYPE_CHECKING:
    from agents import Mesh
    from contracts import Lineage

__all__ = ["AppOption", "all_lineages", "load_app"]

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
    from agents import load_mesh

    try:
        return load_mesh(app)
    except (ValueError, TypeError) as exc:
        fail(str(exc), json_mode=json_mode)


def all_lineages(mesh: Mesh | None) -> list[Lineage]:
    """Core contract lineages plus the mesh's payload lineages."""
    from contracts import CATALOG

    core = [spec.lineage for spec in CATALOG]
    return core + (mesh.payload_lineages() if mesh else [])
