"""Which model is carried on which topic, and where its schema versions are kept.

The checked-in ``.avsc`` files are generated from the models (``agentmesh contracts
generate``); :func:`drift` proves the newest file of each lineage equals what the model
generates today, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agentmesh.contracts._audit import AuditRecord
from agentmesh.contracts._avro import avro_schema
from agentmesh.contracts._base import Contract
from agentmesh.contracts._claims import ClaimChunk, ClaimTicket
from agentmesh.contracts._control import ControlCommand
from agentmesh.contracts._deadletter import DeadLetter
from agentmesh.contracts._events import AgentEvent
from agentmesh.contracts._handoff import Handoff
from agentmesh.contracts._journal import JournalEntry
from agentmesh.contracts._recording import Recording
from agentmesh.contracts._review import ReviewDecision, ReviewRequest
from agentmesh.contracts._state import StepDone, TaskStateRecord
from agentmesh.contracts._task import TaskSubmitted
from agentmesh.contracts._topics import Topics

__all__ = [
    "CATALOG",
    "SCHEMA_DIR",
    "ContractSpec",
    "Lineage",
    "drift",
    "read_versions",
    "write_new_versions",
]

SCHEMA_DIR = Path(__file__).parent / "schemas"
_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


@dataclass(frozen=True, slots=True)
class Lineage:
    """A model and the directory that keeps every version of its schema."""

    model: type[Contract]
    directory: Path

    def generated(self) -> dict[str, Any]:
        return avro_schema(self.model)


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """A core message type: its lineage and the topic whose values it is."""

    name: str
    model: type[Contract]
    topic: Callable[[Topics], str] | None
    key: str

    @property
    def lineage(self) -> Lineage:
        return Lineage(self.model, SCHEMA_DIR / self.name)


CATALOG: tuple[ContractSpec, ...] = (
    ContractSpec("task", TaskSubmitted, lambda t: t.tasks, "task_id"),
    # Handoffs are registered per inbox, composed with the receiving agent's input model.
    ContractSpec("handoff", Handoff, None, "task_id"),
    ContractSpec("event", AgentEvent, lambda t: t.events, "task_id"),
    ContractSpec("control", ControlCommand, lambda t: t.control, "scope:target (compacted)"),
    ContractSpec("review-request", ReviewRequest, lambda t: t.review_requests, "review_id"),
    ContractSpec("review-decision", ReviewDecision, lambda t: t.review_decisions, "review_id"),
    ContractSpec("dead-letter", DeadLetter, lambda t: t.dlq, "task_id"),
    ContractSpec("audit", AuditRecord, lambda t: t.audit, "chain"),
    # One journal per agent, co-partitioned with its inbox.
    ContractSpec("journal-entry", JournalEntry, None, "handoff_id/seq (compacted)"),
    ContractSpec("task-state", TaskStateRecord, None, "task_id (compacted)"),
    ContractSpec("step-done", StepDone, None, "idempotency_key (compacted, retained 7 days)"),
    ContractSpec("claim-chunk", ClaimChunk, lambda t: t.claims, "sha256/index (compacted)"),
    # Tickets ride on the topic of the message they replace, under their own subject.
    ContractSpec("claim-ticket", ClaimTicket, None, "that of the replaced message"),
    ContractSpec("recording", Recording, lambda t: t.recordings, "task_id"),
)


def read_versions(directory: Path) -> dict[int, dict[str, Any]]:
    """Every ``v<N>.avsc`` in ``directory`` by version number."""
    versions: dict[int, dict[str, Any]] = {}
    if directory.is_dir():
        for path in directory.iterdir():
            match = _VERSION_FILE.match(path.name)
            if match:
                versions[int(match.group(1))] = orjson.loads(path.read_bytes())
    return versions


def drift(lineages: Iterable[Lineage]) -> list[str]:
    """One message per lineage whose newest file differs from what its model generates."""
    problems = []
    for lineage in lineages:
        versions = read_versions(lineage.directory)
        if not versions:
            problems.append(
                f"{lineage.directory}: no schema file for {lineage.model.__name__}; "
                "run `agentmesh contracts generate`"
            )
        elif versions[max(versions)] != lineage.generated():
            problems.append(
                f"{lineage.directory}: {lineage.model.__name__} changed since v{max(versions)}; "
                f"run `agentmesh contracts generate` to write v{max(versions) + 1}, then "
                "`agentmesh contracts check`"
            )
    return problems


def write_new_versions(lineages: Iterable[Lineage]) -> list[Path]:
    """Write ``v<N+1>.avsc`` for each lineage whose model changed; the paths written."""
    written = []
    for lineage in lineages:
        versions = read_versions(lineage.directory)
        schema = lineage.generated()
        if versions and versions[max(versions)] == schema:
            continue
        lineage.directory.mkdir(parents=True, exist_ok=True)
        path = lineage.directory / f"v{max(versions, default=0) + 1}.avsc"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    return written
