"""``writer``: the fan-in. Collects a task's findings, drafts the report, revises it on request.

Findings wait in ``ctx.state`` (durable per-task state, committed with the step), so a
writer that restarts halfway through a fan-in still has the findings that arrived before.
The first draft goes out once all ``of`` findings are there; a finding whose index already
arrived is ignored, so a repeat cannot complete the fan-in early or count twice. Once the
draft goes out the state is cleared (repeats of whole handoffs are dropped by the runtime
by idempotency key).
"""

from __future__ import annotations

from typing import Any

from agentmesh.agents import Context, Outgoing, agent
from agentmesh_examples.research._models import Draft, Finding, WriterInput
from agentmesh_examples.research._prompts import ask
from agentmesh_examples.research._text import one_line

__all__ = ["NO_FEEDBACK", "NO_PREVIOUS_DRAFT", "add_finding", "format_findings", "writer"]

NO_PREVIOUS_DRAFT = "(none: this is the first draft)"
NO_FEEDBACK = "(none)"


def add_finding(state: dict[str, Any], finding: Finding) -> tuple[dict[str, Any], list[Finding]]:
    """The state with ``finding`` added (unless its index is there), and all findings so far.

    The state is ``{"of": n, "findings": {"<index>": <finding as JSON>}}``; JSON objects
    need string keys. The findings come back in index order.
    """
    stored: dict[str, Any] = dict(state.get("findings", {}))
    stored.setdefault(str(finding.index), finding.model_dump(mode="json"))
    findings = sorted((Finding.model_validate(v) for v in stored.values()), key=lambda f: f.index)
    return {"of": finding.of, "findings": stored}, findings


def format_findings(findings: list[Finding]) -> str:
    """Findings as prompt blocks, one per finding, separated by blank lines."""
    return "\n\n".join(
        f"Finding {f.index + 1} of {f.of}\n"
        f"Sub-question: {one_line(f.sub_question)}\n"
        f"Summary: {one_line(f.summary)}\n"
        f"Sources: {', '.join(f.sources) or '(none)'}"
        for f in findings
    )


@agent("writer", hands_off_to=["reviewer"])
async def writer(work: WriterInput, ctx: Context) -> Outgoing | None:
    """Collect findings until all arrived, then draft; or revise a draft with feedback."""
    if work.kind == "revise":
        # WriterInput's validator guarantees these; the asserts only narrow the types.
        assert work.draft is not None
        assert work.feedback is not None
        revised = await _write(ctx, work.draft.findings, work.draft, work.feedback)
        return ctx.handoff("reviewer", revised)
    assert work.finding is not None
    before = ctx.state.get()
    state, findings = add_finding(before, work.finding)
    if len(findings) < work.finding.of:
        if state != before:
            ctx.state.set(state)
        return None
    # Cleared before the model call on purpose: the clear commits only with the draft's
    # handoff, and a failed step starts again from the committed findings.
    ctx.state.clear()
    return ctx.handoff("reviewer", await _write(ctx, findings, None, None))


async def _write(
    ctx: Context, findings: list[Finding], previous: Draft | None, feedback: str | None
) -> Draft:
    first = findings[0]
    text = await ask(
        ctx,
        "writer",
        question=first.question,
        findings=format_findings(findings),
        previous_draft=previous.text if previous else NO_PREVIOUS_DRAFT,
        feedback=one_line(feedback) if feedback else NO_FEEDBACK,
    )
    if not text:
        # An empty reply is still a report: the previous draft, or the findings as they are.
        text = previous.text if previous else _plain_report(first.question, findings)
    return Draft(
        question=first.question,
        text=text,
        revision=previous.revision + 1 if previous else 0,
        max_revisions=previous.max_revisions if previous else first.max_revisions,
        findings=findings,
    )


def _plain_report(question: str, findings: list[Finding]) -> str:
    return "\n\n".join([question, *(one_line(f.summary) for f in findings)])
