"""Prompts as versioned files: the version is a hash of the text, and a setting pins one.

A package keeps ``prompts/<name>.txt`` (current) and, optionally, earlier versions as
``prompts/<name>/<label>.txt``. ``AGENTMESH_PROMPTS="writer=v1,planner=3f2a9c"`` pins a
prompt to a kept label or to a version-hash prefix, so going back to an earlier prompt is a
configuration change, and every ``llm_call`` event records which version answered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from string import Template

from agentmesh.core import get_settings

__all__ = ["Prompt", "PromptSet", "parse_pins"]


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt template (``string.Template``: ``$name`` placeholders) and its version."""

    name: str
    template: str
    version: str  # first 12 hex characters of the sha256 of the file's bytes
    label: str = "current"

    def render(self, **values: object) -> str:
        """The prompt with every placeholder filled (a missing one raises ``KeyError``)."""
        # Template, not str.format: values may hold braces, and they are never re-parsed.
        return Template(self.template).substitute({k: str(v) for k, v in values.items()})


def parse_pins(spec: str | None) -> dict[str, str]:
    """``"a=v1,b=3f2a"`` -> ``{"a": "v1", "b": "3f2a"}``."""
    pins: dict[str, str] = {}
    for item in (spec or "").split(","):
        if item.strip():
            name, sep, want = item.partition("=")
            if not sep or not name.strip() or not want.strip():
                raise ValueError(f"AGENTMESH_PROMPTS item {item!r} must look like name=version")
            pins[name.strip()] = want.strip()
    return pins


class PromptSet:
    """The prompts of one package (``<package>/prompts``)."""

    def __init__(self, package: str, folder: str = "prompts", pins: dict[str, str] | None = None):
        self.root = resources.files(package).joinpath(folder)
        self.pins = parse_pins(get_settings().prompts) if pins is None else pins

    def versions(self, name: str) -> list[Prompt]:
        """The current prompt and every kept one."""
        found = [_load(name, self.root.joinpath(f"{name}.txt"), "current")]
        kept = self.root.joinpath(name)
        if kept.is_dir():
            found += [
                _load(name, f, f.name.removesuffix(".txt"))
                for f in sorted(kept.iterdir(), key=lambda f: f.name)
                if f.name.endswith(".txt")
            ]
        return found

    def get(self, name: str) -> Prompt:
        """The prompt in force: the pinned version if one is pinned, else the current one."""
        want = self.pins.get(name)
        versions = self.versions(name)
        if want is None:
            return versions[0]
        for prompt in versions:
            if want in (prompt.label, prompt.version) or (
                len(want) >= 6 and prompt.version.startswith(want)
            ):
                return prompt
        known = ", ".join(f"{p.label} ({p.version})" for p in versions)
        raise LookupError(f"no version {want!r} of prompt {name!r}; known: {known}")


def _load(name: str, file: Traversable, label: str) -> Prompt:
    data = file.read_bytes()
    version = hashlib.sha256(data).hexdigest()[:12]
    return Prompt(
        name=name, template=data.decode("utf-8").rstrip("\n"), version=version, label=label
    )
