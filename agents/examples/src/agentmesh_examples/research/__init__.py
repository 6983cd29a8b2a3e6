"""The research sample mesh: plan, fan out research, fan in, write, review.

``agentmesh run agent <name> --app agentmesh_examples.research:mesh`` runs one of its agents:

- ``planner`` (planner-executor) takes a :class:`ResearchQuestion`, asks the model for
  sub-questions and fans out one :class:`SubQuestion` per researcher;
- ``researcher`` (fan-out) searches the bundled corpus with its local ``search`` tool,
  summarises the hits and hands a :class:`Finding` to the writer;
- ``writer`` (fan-in with durable state) keeps findings in ``ctx.state`` until all arrived,
  drafts the report, and revises it when the reviewer asks; its input is the tagged
  :class:`WriterInput`;
- ``reviewer`` (bounded loop) sends a :class:`Draft` back at most ``max_revisions`` times,
  then returns the task's result, a :class:`Report`.

The default model is :func:`demo_model`, deterministic and offline; a configured model
(``AGENTMESH_LLM``) replaces it and gets the same versioned prompts from ``prompts/``::

    task = ResearchQuestion(question=DEFAULT_QUESTION)
"""

from pathlib import Path

from agentmesh.agents import Mesh
from agentmesh_examples.research._demo import demo_model
from agentmesh_examples.research._models import (
    Draft,
    Finding,
    Report,
    ResearchQuestion,
    SubQuestion,
    WriterInput,
)
from agentmesh_examples.research._planner import planner
from agentmesh_examples.research._prompts import PROMPTS, Prompt
from agentmesh_examples.research._researcher import researcher
from agentmesh_examples.research._reviewer import reviewer
from agentmesh_examples.research._search import SearchArgs, SearchHit, SearchResult, search
from agentmesh_examples.research._writer import writer

__all__ = [
    "DEFAULT_QUESTION",
    "DEMO_INPUT",
    "DEMO_POLICY",
    "PROMPTS",
    "Draft",
    "Finding",
    "Prompt",
    "Report",
    "ResearchQuestion",
    "SearchArgs",
    "SearchHit",
    "SearchResult",
    "SubQuestion",
    "WriterInput",
    "demo_model",
    "mesh",
    "planner",
    "researcher",
    "reviewer",
    "search",
    "writer",
]

DEMO_POLICY = Path(__file__).parent / "policy.yaml"
"""The governance policy `make run` starts the supervisor (and agents) with."""

DEFAULT_QUESTION = (
    "How do Kafka transactions, idempotency keys and circuit breakers keep AI agents reliable?"
)
"""The demo's question: the corpus covers it, and the demo planner splits it in three."""

DEMO_INPUT = {"question": DEFAULT_QUESTION}
"""The task `agentmesh demo` submits to the entry agent when no --input is given."""

mesh = Mesh(
    [planner, researcher, writer, reviewer],
    model=demo_model(),
    schema_dir=Path(__file__).parent / "schemas",
)
