"""Run one agent's handler with a scripted model and fake tools, no broker: for agent authors.

    harness = AgentHarness(mesh, "planner", model=ScriptedModel(["a", "b"]))
    run = await harness.run(PlannerInput(question="why?"))
    assert [h.to_agent for h in run.handoffs] == ["researcher", "researcher"]

The harness goes through the same step code, policies and codecs as the Kafka worker
(with an in-memory schema registry), so what passes here encodes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentmesh.agents._codecs import Codecs
from agentmesh.agents._context import StepEnv
from agentmesh.agents._control import ControlState
from agentmesh.agents._journal import MemoryJournal
from agentmesh.agents._llm import ChatModel
from agentmesh.agents._mesh import Mesh
from agentmesh.agents._processor import RecordProcessor
from agentmesh.agents._records import RawRecord
from agentmesh.agents._scripted import ScriptedModel
from agentmesh.agents._state import StateView
from agentmesh.contracts import (
    AgentEvent,
    Budget,
    ContextRef,
    Contract,
    ControlCommand,
    DeadLetter,
    EventBody,
    Handoff,
    LlmCall,
    Recording,
    ReviewRequest,
    ToolCall,
    Topics,
    validate_payload,
)
from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core.policy import Policy

__all__ = ["AgentHarness", "HarnessRun", "ScriptedModel"]


@dataclass
class HarnessRun:
    """Everything one step produced, decoded."""

    handoffs: list[Handoff[Any]] = field(default_factory=list)
    events: list[AgentEvent] = field(default_factory=list)
    usage: list[LlmCall | ToolCall] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    handoff_headers: list[list[tuple[str, bytes]]] = field(default_factory=list)
    parked: list[ReviewRequest] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)  # when the env has a recorder

    @property
    def output(self) -> str | None:
        """The task result's JSON, if the step completed the task."""
        for e in self.events:
            if e.body.kind == "task_completed":
                return e.body.output_json
        return None

    @property
    def kinds(self) -> list[str]:
        """The step's event kinds in order (usage events not included)."""
        return [e.body.kind for e in self.events]


class AgentHarness:
    """One agent of a mesh, driven input by input."""

    def __init__(
        self,
        mesh: Mesh,
        agent: str,
        *,
        model: ChatModel | None = None,
        control: ControlState | None = None,
        journal: MemoryJournal | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.mesh = mesh
        self.agent = mesh.get(agent)
        self.control = control or ControlState()
        self.journal = journal or MemoryJournal()
        self.topics = Topics("harness")
        self.codecs = Codecs(mesh, agent, self.topics, InMemorySchemaRegistry())
        self._usage: list[LlmCall | ToolCall] = []

        async def emit(_envelope: Handoff[Any], body: EventBody) -> None:
            assert isinstance(body, LlmCall | ToolCall), "steps emit only usage events at once"
            self._usage.append(body)

        self.state = StateView()  # survives across runs, like the state topic
        self.records: dict[tuple[str, int, int], bytes] = {}  # every input it was fed

        async def fetch(topic: str, partition: int, offset: int) -> Handoff[Any]:
            return await self.codecs.decode_handoff(topic, self.records[topic, partition, offset])

        self.env = StepEnv(
            mesh, self.agent, self.control, self.journal, emit, model, self.state, fetch, policy
        )
        self.processor = RecordProcessor(lambda _p: self.env, self.codecs, "harness")
        self._offset = 0

    def apply(self, command: ControlCommand) -> None:
        """Deliver a control record, as the control topic would."""
        self.control.apply(command.key, command)

    async def run(
        self,
        payload: Contract | dict[str, Any],
        *,
        task_id: str = "task-1",
        budget: Budget | None = None,
        hop: int = 0,
        context: list[ContextRef] | None = None,
        commit: bool = True,
    ) -> HarnessRun:
        """Hand ``payload`` to the agent and collect what its step wrote.

        ``commit=False`` plays a crash before the step's transaction committed: the journal
        keeps its calls and ``ctx.state`` keeps its previous value.
        """
        await self.codecs.register()
        envelope = self.mesh.inbox_model(self.agent.name)(
            task_id=task_id,
            from_agent="harness",
            to_agent=self.agent.name,
            hop=hop,
            budget=budget or Budget(),
            context=context or [],
            payload=validate_payload(self.agent.input, payload),
        )
        return await self.run_raw(
            self.codecs.inbox.encode(envelope), key=task_id.encode(), commit=commit
        )

    async def run_envelope(self, envelope: Handoff[Any], *, commit: bool = True) -> HarnessRun:
        """Feed a handoff as received (e.g. one a previous run emitted to this agent)."""
        await self.codecs.register()
        key = envelope.task_id.encode()
        return await self.run_raw(self.codecs.inbox.encode(envelope), key=key, commit=commit)

    async def run_raw(
        self,
        value: bytes,
        key: bytes | None = None,
        *,
        commit: bool = True,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> HarnessRun:
        """Feed raw bytes, as a consumer would see them (for bad-input tests)."""
        await self.codecs.register()
        self._usage.clear()
        topic = self.topics.agent(self.agent.name)
        record = RawRecord(topic, 0, self._offset, key, value, headers or [])
        self.records[record.topic, record.partition, record.offset] = value
        self._offset += 1
        run = HarnessRun(usage=self._usage.copy())
        for emission in await self.processor.process(record):
            if emission.value is None or emission.topic.endswith((".state", ".journal", ".done")):
                continue
            if emission.topic == self.topics.events:
                run.events.append(await self.codecs.events.decode(emission.value))
            elif emission.topic == self.topics.dlq:
                run.dead_letters.append(await self.codecs.dlq.decode(emission.value))
            elif emission.topic == self.topics.review_requests:
                run.parked.append(await self.codecs.review.decode(emission.value))
            elif emission.topic == self.topics.recordings and self.env.recorder is not None:
                assert self.env.recorder.codec is not None
                run.recordings.append(await self.env.recorder.codec.decode(emission.value))
            else:
                target = emission.topic.rsplit(".", 1)[-1]
                run.handoffs.append(
                    await (await self.codecs.inbox_of(target)).decode(emission.value)
                )
                run.handoff_headers.append(emission.headers)
        run.usage = list(self._usage)
        if commit:
            self.processor.committed(0)
        else:
            self.processor.rolled_back(0)
        return run
