"""``researcher``: searches the corpus for one sub-question and summarises what it found.

Each sub-question of the fan-out is one researcher step; each hands its :class:`Finding`
to the ``writer``, which waits for all of them. Researchers of different tasks run in
parallel across the inbox's partitions and the worker replicas. The sub-questions of one
task share its key (the task id), so they land in one partition and run in turn: that same
keying is what brings all findings of a task to the one writer partition holding its state.
"""

from __future__ import annotations

from agentmesh.agents import Context, Outgoing, agent
from agentmesh_examples.research._models import Finding, SubQuestion, WriterInput
from agentmesh_examples.research._prompts import ask
from agentmesh_examples.research._search import SearchArgs, SearchHit, SearchResult, search
from agentmesh_examples.research._text import first_sentence, one_line

__all__ = ["NOTHING_FOUND", "format_hits", "researcher"]

NOTHING_FOUND = "The corpus has nothing on this sub-question."


def format_hits(hits: list[SearchHit]) -> str:
    """Search hits as prompt lines: ``[id] (title) text``."""
    return "\n".join(f"[{h.id}] ({h.title}) {one_line(h.text)}" for h in hits)


def _cited(summary: str, hits: list[SearchHit]) -> list[str]:
    # The sources a finding rests on: the hits its summary cites, else every hit it was given.
    cited = [h.id for h in hits if f"[{h.id}]" in summary]
    return cited or [h.id for h in hits]


@agent("researcher", tools=[search], hands_off_to=["writer"])
async def researcher(task: SubQuestion, ctx: Context) -> Outgoing:
    """Search, summarise the hits with the model, hand the finding to the ``writer``."""
    result: SearchResult = await ctx.tool("search", SearchArgs(query=task.sub_question))
    hits = result.hits
    if hits:
        summary = await ask(
            ctx,
            "researcher",
            question=task.question,
            sub_question=task.sub_question,
            results=format_hits(hits),
        )
        # An empty reply must not become an empty finding: fall back to the best hit.
        summary = summary or f"{first_sentence(hits[0].text)} [{hits[0].id}]"
    else:
        summary = NOTHING_FOUND  # nothing to summarise: no model call to pay for
    finding = Finding(
        index=task.index,
        of=task.of,
        question=task.question,
        sub_question=task.sub_question,
        summary=summary,
        sources=_cited(summary, hits),
        max_revisions=task.max_revisions,
    )
    return ctx.handoff("writer", WriterInput.of_finding(finding))
