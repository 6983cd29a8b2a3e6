"""``planner``: splits a research question into sub-questions and fans them out.

The planner-executor pattern: one model call decides what to find out, and each
sub-question goes to its own ``researcher`` step.
"""

from __future__ import annotations

import re

from agentmesh.agents import Context, Outgoing, agent
from agentmesh_examples.research._models import ResearchQuestion, SubQuestion
from agentmesh_examples.research._prompts import ask
from agentmesh_examples.research._text import one_line

__all__ = ["parse_subquestions", "planner"]

# "1.", "2)", "(3)", "-", "*", "•", "Q1:" and markdown emphasis: how models dress up lists.
_BULLET = re.compile(r"^(?:[-*•]+|\(?\d+[.):]|q\d+[.):])\s*", re.IGNORECASE)
_WRAPPING = "*_`\"' "


def parse_subquestions(text: str, limit: int) -> list[str]:
    """The sub-questions in a model's reply: one per line, at most ``limit``, no repeats.

    Numbering, bullets and emphasis are stripped; blank lines and preamble lines ending in
    ":" ("Here are the sub-questions:") are dropped. May be empty.
    """
    found: list[str] = []
    seen: set[str] = set()
    for raw in text.splitlines():
        line = one_line(_BULLET.sub("", raw.strip()).strip(_WRAPPING))
        if not line or line.endswith(":") or line.casefold() in seen:
            continue
        seen.add(line.casefold())
        found.append(line)
    return found[:limit]


@agent("planner", hands_off_to=["researcher"])
async def planner(request: ResearchQuestion, ctx: Context) -> list[Outgoing]:
    """Ask the model for sub-questions and hand one to a ``researcher`` each."""
    question = one_line(request.question)
    reply = await ask(ctx, "planner", question=question, max_subquestions=request.max_subquestions)
    # A reply with no usable line still gets researched: the question is its own sub-question.
    parts = parse_subquestions(reply, request.max_subquestions) or [question]
    return [
        ctx.handoff(
            "researcher",
            SubQuestion(
                index=i,
                of=len(parts),
                question=question,
                sub_question=part,
                max_revisions=request.max_revisions,
            ),
        )
        for i, part in enumerate(parts)
    ]
