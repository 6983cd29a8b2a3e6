"""``reviewer``: the bounded loop. Approves a draft, or sends it back to the writer.

A draft goes back with the model's feedback while ``revision < max_revisions``; after that
the current draft becomes the report even if the model still wants changes, so two models
that never agree cannot loop forever (the task's hop budget is a second fence).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentmesh.agents import Context, Outgoing, agent
from agentmesh_examples.research._models import Draft, Report, WriterInput
from agentmesh_examples.research._prompts import ask

__all__ = ["DEFAULT_FEEDBACK", "Verdict", "parse_verdict", "reviewer"]

DEFAULT_FEEDBACK = "Make the report answer the question more directly and cite its sources."
_DECORATION = "*_`\"'#> \t\n"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The reviewer model's decision: approve, or revise with feedback."""

    approved: bool
    feedback: str = ""


def parse_verdict(text: str) -> Verdict:
    """Any reply starting with "approve" (any case, markdown around it) approves.

    Anything else asks for a revision; the feedback is the reply without a leading
    "REVISE:", or :data:`DEFAULT_FEEDBACK` when nothing is left.
    """
    cleaned = text.strip(_DECORATION)
    if cleaned.casefold().startswith("approve"):
        return Verdict(approved=True)
    head, sep, rest = cleaned.partition(":")
    feedback = rest if sep and head.strip(_DECORATION).casefold() == "revise" else cleaned
    return Verdict(approved=False, feedback=feedback.strip(_DECORATION) or DEFAULT_FEEDBACK)


@agent("reviewer", output=Report, hands_off_to=["writer"])
async def reviewer(draft: Draft, ctx: Context) -> Outgoing | Report:
    """Ask the model for a verdict; send the draft back, or return the final report."""
    reply = await ask(
        ctx,
        "reviewer",
        question=draft.question,
        revision=draft.revision,
        max_revisions=draft.max_revisions,
        draft=draft.text,
    )
    verdict = parse_verdict(reply)
    if not verdict.approved and draft.revision < draft.max_revisions:
        return ctx.handoff("writer", WriterInput.revise(draft, verdict.feedback))
    sources = list(dict.fromkeys(s for f in draft.findings for s in f.sources))
    return Report(
        question=draft.question,
        text=draft.text,
        revisions=draft.revision,
        approved=verdict.approved,
        sources=sources,
    )
