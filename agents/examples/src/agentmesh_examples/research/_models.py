"""What the research agents hand each other, and the task's result.

Every model is a :class:`contracts.Contract` with only Avro-mappable fields: each travels
inside a ``Handoff[...]`` envelope on an agent's inbox, whose schema is registered.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from agentmesh.contracts import Contract

__all__ = [
    "Draft",
    "Finding",
    "Report",
    "ResearchContract",
    "ResearchQuestion",
    "SubQuestion",
    "WriterInput",
]


class ResearchContract(Contract):
    """Base of the research models: their own Avro namespace, apart from the core messages."""

    avro_namespace: ClassVar[str] = "dev.agentmesh.research"


class ResearchQuestion(ResearchContract):
    """A question to research: the planner's input, and what a task is submitted with."""

    question: str = Field(min_length=1)
    max_subquestions: int = Field(default=3, ge=1, le=10, description="the fan-out width")
    max_revisions: int = Field(
        default=2, ge=0, le=5, description="how often the reviewer may send a draft back"
    )


class _Part(ResearchContract):
    """A part ``index`` (0-based) of ``of`` parts."""

    index: int = Field(ge=0)
    of: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_in_range(self) -> Self:
        if self.index >= self.of:
            raise ValueError(f"index {self.index} is not below of={self.of}")
        return self


class SubQuestion(_Part):
    """One part of the plan: the researcher's input."""

    question: str = Field(description="the original research question")
    sub_question: str
    max_revisions: int = Field(default=2, ge=0)


class Finding(_Part):
    """What a researcher found for one sub-question; the writer waits for all ``of`` of them."""

    question: str = Field(description="the original research question")
    sub_question: str
    summary: str
    sources: list[str] = Field(default_factory=list, description="corpus passage ids")
    max_revisions: int = Field(default=2, ge=0)


class Draft(ResearchContract):
    """A report draft: the reviewer's input, and what the writer revises."""

    question: str
    text: str
    revision: int = Field(default=0, ge=0, description="0 for the first draft")
    max_revisions: int = Field(default=2, ge=0)
    findings: list[Finding]


class WriterInput(ResearchContract):
    """The writer's input: a tagged union of its two kinds of work.

    An agent has one input model, and the writer is sent two things: a ``finding`` from a
    researcher (``finding`` set), or a ``revise`` request from the reviewer (``draft`` and
    ``feedback`` set). ``kind`` says which; the other fields stay ``None``. Build one with
    :meth:`of_finding` or :meth:`revise`.
    """

    kind: Literal["finding", "revise"]
    finding: Finding | None = None
    draft: Draft | None = None
    feedback: str | None = None

    @classmethod
    def of_finding(cls, finding: Finding) -> WriterInput:
        """A researcher's finding for the fan-in."""
        return cls(kind="finding", finding=finding)

    @classmethod
    def revise(cls, draft: Draft, feedback: str) -> WriterInput:
        """The reviewer's request to revise ``draft``."""
        return cls(kind="revise", draft=draft, feedback=feedback)

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Self:
        if self.kind == "finding":
            ok = self.finding is not None and self.draft is None and self.feedback is None
            expected = "a finding and no draft or feedback"
        else:
            ok = self.finding is None and self.draft is not None and self.feedback is not None
            expected = "a draft and feedback and no finding"
        if not ok:
            raise ValueError(f"a {self.kind!r} writer input needs {expected}")
        return self


class Report(ResearchContract):
    """The task's result: the reviewed report."""

    question: str
    text: str
    revisions: int = Field(ge=0, description="how many times the draft was revised")
    approved: bool = Field(description="false when the revision limit ended the loop")
    sources: list[str] = Field(
        default_factory=list, description="corpus passage ids the findings drew on"
    )
