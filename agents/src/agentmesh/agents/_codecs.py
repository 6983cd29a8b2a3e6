"""The codecs one agent process needs, registered once at start (targets on first use)."""

from __future__ import annotations

from typing import Any

from agentmesh.agents._mesh import Mesh
from agentmesh.contracts import (
    AgentEvent,
    ClaimChunk,
    ClaimTicket,
    Codec,
    ControlCommand,
    DeadLetter,
    Handoff,
    JournalEntry,
    ReviewRequest,
    SchemaStore,
    StepDone,
    TaskStateRecord,
    Topics,
)

__all__ = ["Codecs"]


class Codecs:
    """Encoders/decoders for an agent's inbox, outgoing handoffs, events, dead letters, journal."""

    def __init__(self, mesh: Mesh, agent: str, topics: Topics, registry: SchemaStore) -> None:
        self.mesh = mesh
        self.topics = topics
        self.registry = registry
        sub = Topics.subject
        self.inbox: Codec[Handoff[Any]] = Codec(
            mesh.inbox_model(agent), sub(topics.agent(agent)), registry
        )
        self.events = Codec(AgentEvent, sub(topics.events), registry)
        self.dlq = Codec(DeadLetter, sub(topics.dlq), registry)
        self.review = Codec(ReviewRequest, sub(topics.review_requests), registry)
        self.journal = Codec(JournalEntry, sub(topics.agent_journal(agent)), registry)
        self.control = Codec(ControlCommand, sub(topics.control), registry)
        self.state = Codec(TaskStateRecord, sub(topics.agent_state(agent)), registry)
        self.done = Codec(StepDone, sub(topics.agent_done(agent)), registry)
        self.claim_chunk = Codec(ClaimChunk, sub(topics.claims), registry)
        self.claim_ticket = Codec(ClaimTicket, f"{topics.claims}.ticket-value", registry)
        self._inboxes: dict[str, Codec[Handoff[Any]]] = {agent: self.inbox}

    async def register(self) -> None:
        """Register every schema this agent writes or reads."""
        for codec in (
            self.inbox,
            self.events,
            self.dlq,
            self.journal,
            self.control,
            self.state,
            self.done,
            self.claim_chunk,
            self.claim_ticket,
            self.review,
        ):
            await codec.register()

    async def decode_handoff(self, topic: str, value: bytes) -> Handoff[Any]:
        """A handoff read back from any agent's inbox topic of this namespace."""
        prefix = f"{self.topics.namespace}.agent."
        agent = topic.removeprefix(prefix)
        if agent == topic or "." in agent:
            raise ValueError(f"{topic} is not an agent inbox of namespace {self.topics.namespace}")
        return await (await self.inbox_of(agent)).decode(value)

    async def inbox_of(self, agent: str) -> Codec[Handoff[Any]]:
        """The codec for agent ``agent``'s inbox (raises UnknownAgentError)."""
        codec = self._inboxes.get(agent)
        if codec is None:
            codec = Codec(
                self.mesh.inbox_model(agent),
                Topics.subject(self.topics.agent(agent)),
                self.registry,
            )
            await codec.register()
            self._inboxes[agent] = codec
        return codec
