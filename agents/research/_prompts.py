"""The research prompts: plain text files in ``prompts/``, versioned by a hash of their text.

Every model call names its prompt and version, so the usage events tie a change in quality
or cost to the prompt change that caused it. The same prompts serve a real model
(``AGENTMESH_LLM=openai:<model>``) and the offline demo model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Literal

from agents import Context

__all__ = ["PROMPTS", "Prompt", "PromptName", "ask", "load_prompt"]

PromptName = Literal["planner", "researcher", "writer", "reviewer"]


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt template (``string.Template``: ``$name`` placeholders) and its version."""

    name: str
    template: str
    version: str

    def render(self, **values: object) -> str:
        """The prompt with every placeholder filled (a missing one raises ``KeyError``)."""
        # Template, not str.format: values may hold braces, and they are never re-parsed.
        return Template(self.template).substitute({k: str(v) for k, v in values.items()})


def load_prompt(name: str) -> Prompt:
    """Read ``prompts/<name>.txt`` from the package; the version hashes its exact bytes."""
    folder = resources.files("agents.research").joinpath("prompts")
    data = folder.joinpath(f"{name}.txt").read_bytes()
    version = hashlib.sha256(data).hexdigest()[:12]
    return Prompt(name=name, template=data.decode("utf-8").rstrip("\n"), version=version)


PROMPTS: dict[PromptName, Prompt] = {
    name: load_prompt(name) for name in ("planner", "researcher", "writer", "reviewer")
}


async def ask(ctx: Context, name: PromptName, **values: object) -> str:
    """Render prompt ``name`` with ``values``, ask the model, return its stripped reply."""
    prompt = PROMPTS[name]
    reply = await ctx.llm(
        prompt.render(**values), prompt_name=prompt.name, prompt_version=prompt.version
    )
    return reply.text.strip()
