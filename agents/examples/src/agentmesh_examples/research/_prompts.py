"""The research prompts: text files in ``prompts/``, versioned by a hash of their text.

``prompts/<name>/<label>.txt`` keeps earlier versions; ``AGENTMESH_PROMPTS=writer=v1`` pins one.

Every model call names its prompt and version, so the usage events tie a change in quality
or cost to the prompt change that caused it. The same prompts serve a real model
(``AGENTMESH_LLM=openai:<model>``) and the offline demo model.
"""

from __future__ import annotations

from typing import Literal

from agentmesh.agents import Context, Prompt, PromptSet

__all__ = ["PROMPTS", "Prompt", "PromptName", "ask", "load_prompt"]

PromptName = Literal["planner", "researcher", "writer", "reviewer"]


def load_prompt(name: str) -> Prompt:
    """The prompt in force for ``name`` (current, or pinned with ``AGENTMESH_PROMPTS``)."""
    return _SET.get(name)


_SET = PromptSet("agentmesh_examples.research")
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
