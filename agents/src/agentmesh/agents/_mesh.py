"""The agents one deployment knows: who exists, and what each accepts."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from agentmesh.agents._agent import Agent
from agentmesh.agents._errors import HandoffNotAllowedError, UnknownAgentError
from agentmesh.agents._llm import ChatModel
from agentmesh.contracts import Contract, Handoff, Lineage

__all__ = ["Mesh", "load_mesh"]


class Mesh:
    """A set of agents (and a default model) that hand work to each other."""

    def __init__(
        self,
        agents: Iterable[Agent[Any, Any]],
        *,
        model: ChatModel | None = None,
        schema_dir: Path | None = None,
    ) -> None:
        self.agents: dict[str, Agent[Any, Any]] = {}
        for a in agents:
            if a.name in self.agents:
                raise ValueError(f"two agents are named {a.name!r}")
            self.agents[a.name] = a
        for a in self.agents.values():
            unknown = sorted((a.hands_off_to or frozenset()) - self.agents.keys())
            if unknown:
                raise ValueError(
                    f"agent {a.name!r} declares hands_off_to {unknown}, which this mesh does "
                    f"not have; its agents: {', '.join(sorted(self.agents))}"
                )
        self.model = model
        self.schema_dir = schema_dir  # where the agents' payload schema versions are kept
        self._inboxes: dict[str, type[Handoff[Any]]] = {}  # built once: every step asks

    def get(self, name: str) -> Agent[Any, Any]:
        """The agent called ``name``, or :class:`UnknownAgentError` naming the known ones."""
        try:
            return self.agents[name]
        except KeyError:
            raise UnknownAgentError(name, list(self.agents)) from None

    def check_handoff(self, sender: str, target: str) -> None:
        """Raise unless ``sender`` may hand off to ``target`` (both must exist)."""
        source = self.get(sender)
        self.get(target)
        if not source.may_hand_off_to(target):
            raise HandoffNotAllowedError(sender, target, source.hands_off_to or frozenset())

    def handoff_targets(self, sender: str) -> list[str]:
        """The agents ``sender`` may hand off to (every agent when it declared no limit)."""
        source = self.get(sender)
        return sorted(n for n in self.agents if source.may_hand_off_to(n))

    def inbox_model(self, name: str) -> type[Handoff[Any]]:
        """The envelope type carried on agent ``name``'s inbox."""
        found = self._inboxes.get(name)
        if found is None:
            # A runtime-parametrised generic: mypy cannot follow it, pydantic builds the class.
            found = cast("type[Handoff[Any]]", Handoff.__class_getitem__(self.get(name).input))
            self._inboxes[name] = found
        return found

    def payload_lineages(self) -> list[Lineage]:
        """Lineages of every agent's input and output, under ``schema_dir/<agent>.<kind>``."""
        lineages: list[Lineage] = []
        root = self.schema_dir
        if root is None:
            return lineages
        for a in self.agents.values():
            models: list[tuple[str, type[Contract] | None]] = [
                ("input", a.input),
                ("output", a.output),
            ]
            lineages.extend(
                Lineage(m, root / f"{a.name}.{kind}") for kind, m in models if m is not None
            )
        return lineages


def load_mesh(spec: str) -> Mesh:
    """Import ``module:attribute`` and return the :class:`Mesh` it names."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--app must look like 'package.module:mesh', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for --app {spec!r}: {exc}") from exc
    mesh = getattr(module, attr, None)
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{spec!r} is {type(mesh).__name__}, not an agents.Mesh")
    return mesh
