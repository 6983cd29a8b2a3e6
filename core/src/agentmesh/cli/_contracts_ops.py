"""``agentmesh contracts generate | register | asyncapi``: from models to files and registry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from agentmesh.cli._apps import AppOption, all_lineages, load_app
from agentmesh.cli._contracts import contracts_app
from agentmesh.cli._output import JsonOption, fail, out_console, print_json
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.agents import Mesh

__all__: list[str] = []  # commands register themselves on contracts_app


@contracts_app.command()
def generate(app: AppOption = None, json_out: JsonOption = False) -> None:
    """Write a new v<N+1>.avsc for every model that changed since its newest schema file.

    The pydantic models are the source of truth; run this after changing one, then
    `agentmesh contracts check` to see whether the change is compatible.
    """
    from agentmesh.contracts import write_new_versions

    written = write_new_versions(all_lineages(load_app(app, json_mode=json_out)))
    if json_out:
        print_json({"ok": True, "written": [str(p) for p in written]})
        return
    for path in written:
        out_console.print(f"wrote {path}", highlight=False)
    if not written:
        out_console.print("every schema file is up to date with its model")


@contracts_app.command()
def register(app: AppOption = None, json_out: JsonOption = False) -> None:
    """Register every topic's schema in the registry (idempotent) as BACKWARD_TRANSITIVE.

    Core topics of AGENTMESH_NAMESPACE, plus each agent inbox of --app (the handoff envelope
    composed with the agent's input model). Prints subject and schema id.
    """
    mesh = load_app(app, json_mode=json_out)
    try:
        ids = asyncio.run(_register(mesh))
    except Exception as exc:  # noqa: BLE001 - shown to the user with its type
        fail(f"{type(exc).__name__}: {exc}", json_mode=json_out)
    if json_out:
        print_json({"ok": True, "subjects": ids})
        return
    for subject, schema_id in ids.items():
        out_console.print(f"{schema_id:>6}  {subject}", highlight=False)


async def _register(mesh: Mesh | None) -> dict[str, int]:
    from agentmesh.contracts import CATALOG, SchemaRegistry, Topics, avro_schema

    settings = get_settings()
    topics = Topics(settings.namespace)
    registry = SchemaRegistry(settings.registry_url)
    ids: dict[str, int] = {}
    try:
        for spec in CATALOG:
            if spec.topic is not None:
                subject = Topics.subject(spec.topic(topics))
                ids[subject] = await registry.register(subject, avro_schema(spec.model))
        for name in mesh.agents if mesh else ():
            assert mesh is not None
            subject = Topics.subject(topics.agent(name))
            ids[subject] = await registry.register(subject, avro_schema(mesh.inbox_model(name)))
    finally:
        await registry.close()
    return ids


@contracts_app.command()
def asyncapi(
    app: AppOption = None,
    fmt: Annotated[Literal["yaml", "json"], typer.Option("--format")] = "yaml",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
) -> None:
    """Write an AsyncAPI 3 document of every topic, key and message schema."""
    from agentmesh.contracts import Topics, asyncapi_document, dump_asyncapi

    settings = get_settings()
    mesh = load_app(app, json_mode=False)
    agents = {name: a.input for name, a in mesh.agents.items()} if mesh else None
    doc = asyncapi_document(
        Topics(settings.namespace),
        agents,
        bootstrap=settings.bootstrap,
        registry_url=settings.registry_url,
    )
    text = dump_asyncapi(doc, fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        out_console.print(f"wrote {output}", highlight=False)
