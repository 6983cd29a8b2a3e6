"""The names of agentmesh's topics under one namespace prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Topics"]

_AGENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one namespace (``AGENTMESH_NAMESPACE``)."""

    namespace: str = "agentmesh"

    @property
    def tasks(self) -> str:
        return f"{self.namespace}.tasks"

    @property
    def events(self) -> str:
        return f"{self.namespace}.events"

    @property
    def control(self) -> str:
        return f"{self.namespace}.control"

    @property
    def review_requests(self) -> str:
        return f"{self.namespace}.review.requests"

    @property
    def review_decisions(self) -> str:
        return f"{self.namespace}.review.decisions"

    @property
    def dlq(self) -> str:
        return f"{self.namespace}.dlq"

    @property
    def audit(self) -> str:
        return f"{self.namespace}.audit"

    @property
    def claims(self) -> str:
        return f"{self.namespace}.claims"

    @property
    def recordings(self) -> str:
        """Every step's input and every model and tool call, keyed by task (for replay)."""
        return f"{self.namespace}.recordings"

    @property
    def audit_intents(self) -> str:
        """Decisions for the supervisor to append to the audit chain (its ``audit`` agent is
        the one writer of each chain); people's actions (a redrive) are audited through it."""
        return f"{self.namespace}.supervisor.audit-intents"

    @property
    def ledgers(self) -> str:
        """The supervisor's task ledgers (faust's changelog of its ``ledgers`` table, keyed by
        the task id as JSON, co-partitioned with the events): what budgets are enforced on."""
        return f"{self.namespace}.supervisor-ledgers-changelog"

    def agent(self, name: str) -> str:
        """The inbox of agent ``name``."""
        if not _AGENT_NAME.match(name):
            raise ValueError(
                f"agent name {name!r} must be lowercase letters, digits, '-' or '_', "
                "starting with a letter (it becomes part of a topic name)"
            )
        return f"{self.namespace}.agent.{name}"

    def agent_journal(self, name: str) -> str:
        """Agent ``name``'s journal of completed LLM/tool calls (co-partitioned with its inbox)."""
        return f"{self.agent(name)}.journal"

    def agent_state(self, name: str) -> str:
        """Agent ``name``'s durable per-task state (co-partitioned with its inbox)."""
        return f"{self.agent(name)}.state"

    def agent_done(self, name: str) -> str:
        """Agent ``name``'s record of handled inputs (co-partitioned with its inbox)."""
        return f"{self.agent(name)}.done"

    @staticmethod
    def subject(topic: str) -> str:
        """The registry subject of a topic's values (Confluent TopicNameStrategy)."""
        return f"{topic}-value"
