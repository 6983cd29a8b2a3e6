"""A deterministic offline model for the research mesh: plausible replies, no network.

It answers the four research prompts (by ``request.prompt_name``) from what the rendered
prompt contains, the way a model would but predictably:

- planner: one sub-question per clause of the question ("How do A, B and C ...?" gives
  three), at most N, one per line;
- researcher: the first sentence of the two best search results, cited by id;
- writer: a title line and one paragraph per finding; given feedback, it adds a one-line
  answer at the top;
- reviewer: ``REVISE: <feedback>`` for revision 0, ``APPROVE`` afterwards, so a demo task
  goes round the revision loop exactly once.

Tokens are counted by :class:`~agents.ScriptedModel` (words).
"""

from __future__ import annotations

import re

from agentmesh.agents import LlmRequest, ScriptedModel
from agentmesh_examples.research._text import first_sentence
from agentmesh_examples.research._writer import NO_FEEDBACK

__all__ = ["DEMO_FEEDBACK", "demo_clauses", "demo_model", "demo_reply"]

DEMO_FEEDBACK = "Open with a one-sentence answer before the details."

# Where the demo planner cuts a question into parts, and the words it drops from the front
# of a part ("How do Kafka transactions" -> "Kafka transactions").
_CLAUSE_BREAK = re.compile(
    r"\s*[,;:]\s*|\s+(?=(?:and|or|but|while|when|because|with|without|if)\s)", re.IGNORECASE
)
_LEADING_WORD_LIST = """
    how what why when which who where can could do does did is are was were should would
    will may might must and or but so while with without because if then also
"""
_LEADING_WORDS = frozenset(_LEADING_WORD_LIST.split())

_HIT = re.compile(r"^\[(?P<id>[^\]]+)\] \([^)]*\) (?P<text>.+)$", re.MULTILINE)


def demo_model() -> ScriptedModel:
    """A fresh demo model; ``Mesh(model=demo_model())`` makes it the mesh's default."""
    return ScriptedModel([demo_reply], model="research-demo", loop=True)


def demo_reply(request: LlmRequest) -> str:
    """The demo's answer to one research prompt."""
    prompt = "\n".join(m.content for m in request.messages)
    match request.prompt_name:
        case "planner":
            return _plan(prompt)
        case "researcher":
            return _summarise(prompt)
        case "writer":
            return _write(prompt)
        case "reviewer":
            return _review(prompt)
        case other:
            raise ValueError(
                f"the research demo model answers research prompts only, not {other!r}"
            )


def _field(prompt: str, label: str) -> str:
    """The rest of the first line starting with ``label: ``, or ""."""
    found = re.search(rf"^{re.escape(label)}: ?(.*)$", prompt, re.MULTILINE)
    return found.group(1).strip() if found else ""


def _section(prompt: str, start: str, end: str | None = None) -> str:
    """The text after the line ``start:``, up to the line starting with ``end`` if given."""
    _, _, rest = prompt.partition(f"\n{start}:\n")
    return rest.split(f"\n{end}", 1)[0] if end else rest


def _plan(prompt: str) -> str:
    wanted = re.search(r"at most (\d+)", prompt)
    parts = demo_clauses(_field(prompt, "Question"), int(wanted.group(1)) if wanted else 3)
    # "what is known" adds no search terms: none of its words is in the corpus.
    return "\n".join(f"{p[0].upper()}{p[1:]}: what is known?" for p in parts)


def demo_clauses(question: str, limit: int) -> list[str]:
    """The question's clauses, at most ``limit`` (the last absorbs the rest); may be fewer."""
    parts: list[str] = []
    for piece in _CLAUSE_BREAK.split(question.strip().rstrip("?")):
        words = piece.split()
        while words and words[0].casefold() in _LEADING_WORDS:
            words.pop(0)
        if words:
            parts.append(" ".join(words))
    if len(parts) > limit:
        parts[limit - 1 :] = [" and ".join(parts[limit - 1 :])]
    return parts


def _summarise(prompt: str) -> str:
    hits = [(m["id"], m["text"]) for m in _HIT.finditer(_section(prompt, "Search results"))]
    if not hits:
        return "The search results do not answer this sub-question."
    return " ".join(f"{first_sentence(text)} [{hit_id}]" for hit_id, text in hits[:2])


def _write(prompt: str) -> str:
    question = _field(prompt, "Question")
    findings = _section(prompt, "Findings", "Previous draft:")
    summaries = [s for s in re.findall(r"^Summary: (.*)$", findings, re.MULTILINE) if s]
    body = [f"Report: {question}"]
    if _field(prompt, "Reviewer feedback") not in ("", NO_FEEDBACK) and summaries:
        body.append(f"In short: {first_sentence(summaries[0])}")
    body.extend(summaries)
    return "\n\n".join(body)


def _review(prompt: str) -> str:
    return f"REVISE: {DEMO_FEEDBACK}" if _field(prompt, "Revision").startswith("0") else "APPROVE"
