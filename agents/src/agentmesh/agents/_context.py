"""What a handler can do: call models and tools, hand off, read its budget."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ValidationError

from agentmesh.agents._control import RELEASED_AT, ControlState
from agentmesh.agents._errors import ToolArgumentsError, UnknownToolError
from agentmesh.agents._fetch import format_coordinates, parse_coordinates
from agentmesh.agents._interceptors import Call, CallResult, Interceptor, Next, compose
from agentmesh.agents._journal import JournalView
from agentmesh.agents._ledger import StepLedger
from agentmesh.agents._llm import ChatModel, LlmRequest, LlmResponse, Message
from agentmesh.agents._metrics import call_metrics
from agentmesh.agents._outcome import Outgoing
from agentmesh.agents._policies import (
    budget_gate,
    control_gate,
    journal_replay,
    metering,
    review_gate,
    tool_retry,
)
from agentmesh.agents._recorder import Recorder, recording
from agentmesh.agents._split import pooled
from agentmesh.agents._state import StateView, TaskState
from agentmesh.agents._tracing import tracing
from agentmesh.agents.providers import FallbackModel
from agentmesh.contracts import Budget, ContextRef, Contract, EventBody, Handoff, validate_payload
from agentmesh.core.policy import Policy

if TYPE_CHECKING:
    from agentmesh.agents._agent import Agent
    from agentmesh.agents._mesh import Mesh

__all__ = ["Context", "StepEnv"]


@dataclass(frozen=True, slots=True)
class StepEnv:
    """Everything a step needs from outside; the worker wires Kafka, the harness fakes."""

    mesh: Mesh
    agent: Agent[Any, Any]
    control: ControlState
    journal: JournalView
    emit: Callable[[Handoff[Any], EventBody], Awaitable[None]]  # usage events, written at once
    model: ChatModel | None = None  # the process's configured model; beats agent and mesh
    state: StateView = field(default_factory=StateView)
    # Reads a handoff back by reference (topic@partition:offset); None where nothing can.
    fetch: Callable[[str, int, int], Awaitable[Handoff[Any]]] | None = None
    # The governance policy's review rules (AGENTMESH_POLICY); None: nothing needs approval.
    policy: Policy | None = None
    # Records each call for ``<ns>.recordings`` (the policy's ``recording``); None: off.
    recorder: Recorder | None = None


class Context:
    """Handed to every handler call, for one attempt at one input."""

    def __init__(
        self,
        env: StepEnv,
        envelope: Handoff[Any],
        attempt: int = 1,
        coordinates: tuple[str, int, int] | None = None,
    ) -> None:
        self.env = env
        self.envelope = envelope
        self.attempt = attempt
        self.coordinates = coordinates  # (topic, partition, offset) of the input, when known
        self.state = TaskState(env.state, envelope.task_id)
        self.ledger = StepLedger(pooled(envelope.budget, self.state.banked))
        self._seq = 0

    @functools.cached_property
    def _gates(self) -> list[Interceptor]:
        # Built on the first call only: many steps (routers, fan-ins) call nothing.
        env, envelope = self.env, self.envelope
        gates = [control_gate(env.control, envelope.task_id, env.agent.name, envelope.tenant)]
        if env.policy is not None and env.policy.reviews.rules:
            gates.append(review_gate(env.policy, approved=RELEASED_AT.get() is not None))
        return [
            *gates,
            budget_gate(self.ledger),
            # After the gates: refused calls are not error spans. Before the journal:
            # replayed calls still show, marked agentmesh.replayed.
            tracing(),
            call_metrics(env.agent.name, envelope.tenant),
            metering(self.ledger, self._emit),
            *([] if env.recorder is None else [recording(env.recorder)]),
            journal_replay(env.journal, envelope.task_id, envelope.handoff_id, (_encode, _decode)),
        ]

    @functools.cached_property
    def _llm_chain(self) -> Next:
        return compose(self._gates, self._call_model)

    async def _emit(self, body: EventBody) -> None:
        await self.env.emit(self.envelope, body)

    @property
    def task_id(self) -> str:
        task_id: str = self.envelope.task_id
        return task_id

    @property
    def agent(self) -> str:
        return self.env.agent.name

    @property
    def budget(self) -> Budget:
        """What remains of the budget this step was handed (plus what this agent's earlier
        steps of the task kept, for a fan-in) after this step's calls so far."""
        return self.ledger.after()

    async def llm(
        self,
        prompt: str | Sequence[Message],
        *,
        system: str | None = None,
        model: ChatModel | None = None,
        prompt_name: str | None = None,
        prompt_version: str | None = None,
        max_tokens: int | None = None,
    ) -> LlmResponse:
        """Ask a model (``model``, else the agent's, else the mesh's default)."""
        chosen = model or self.env.model or self.env.agent.model or self.env.mesh.model
        if chosen is None:
            raise RuntimeError(
                f"agent {self.agent!r} called ctx.llm() but has no model: pass model=, "
                "give the agent one, or set Mesh(model=...)"
            )
        _bind_breakers(chosen, self.env.control)
        messages = [Message("user", prompt)] if isinstance(prompt, str) else list(prompt)
        if system is not None:
            messages.insert(0, Message("system", system))
        request = LlmRequest(
            messages=messages,
            prompt_name=prompt_name,
            prompt_version=prompt_version,
            max_tokens=max_tokens,
        )
        call = self._call("llm", chosen.provider, (chosen, request))
        result = await self._llm_chain(call)
        value: LlmResponse = result.value
        return value

    async def tool(self, name: str, args: BaseModel | dict[str, Any]) -> Any:
        """Call one of the agent's tools; arguments are validated before anything runs."""
        spec = self.env.agent.tool_named(name)
        if spec is None:
            raise UnknownToolError(name, [t.name for t in self.env.agent.tools])
        try:
            data = args.model_dump() if isinstance(args, BaseModel) else args
            parsed = spec.args.model_validate(data)
        except ValidationError as exc:
            raise ToolArgumentsError(f"invalid arguments for tool {name!r}: {exc}") from None
        call = self._call("tool", name, (spec, parsed))
        chain = compose([*self._gates, tool_retry(spec.retry, spec.timeout_s)], _call_tool)
        return (await chain(call)).value

    def handoff(
        self,
        to: str,
        payload: Contract | dict[str, Any],
        *,
        context: Sequence[ContextRef] = (),
        budget: Budget | None = None,
    ) -> Outgoing:
        """A handoff to agent ``to``, validated now against its input model (fails here).

        ``context`` adds references (with bounded summaries) to the task's context; a
        handoff carries only the newest ``MAX_CONTEXT_REFS`` of them, so context does not
        grow with the number of hops: large material travels by reference.

        The handoffs a step returns share what remains of the budget (:attr:`budget`) in
        equal parts; ``budget`` asks for this handoff's own amount of some dimensions
        instead (unset ones: an equal share of what the others left). What the handoffs
        ask for may add up to no more than remains, or the step stops with
        :class:`~agents.BudgetExceeded`.
        """
        self.env.mesh.check_handoff(self.agent, to)
        target = self.env.mesh.get(to)
        return Outgoing(
            to=to,
            payload=validate_payload(target.input, payload),
            context=tuple(context),
            budget=budget,
        )

    def input_ref(self, summary: str | None = None) -> ContextRef:
        """A reference to this step's input, for later steps to :meth:`fetch` by reference."""
        if self.coordinates is None:
            raise RuntimeError("this step's input has no coordinates to refer to")
        return ContextRef(
            kind="handoff", ref=format_coordinates(*self.coordinates), summary=summary
        )

    async def fetch(self, ref: ContextRef) -> Handoff[Any]:
        """Read an earlier handoff of the task back by reference (a ``handoff`` ContextRef)."""
        if ref.kind != "handoff":
            raise ValueError(f"ctx.fetch reads 'handoff' references, not {ref.kind!r}")
        if self.env.fetch is None:
            raise RuntimeError("this environment cannot read records back")
        return await self.env.fetch(*parse_coordinates(ref.ref))

    def _call(self, kind: str, target: str, request: Any) -> Call:
        seq = self._seq
        self._seq += 1
        call_id = f"{self.envelope.handoff_id}:{seq}"
        return Call(kind=kind, target=target, seq=seq, call_id=call_id, request=request)  # type: ignore[arg-type]

    async def _call_model(self, call: Call) -> CallResult:
        model, request = call.request
        return CallResult(await model.complete(request))


def _bind_breakers(model: ChatModel, control: ControlState) -> None:
    # A fallback chain skips members whose provider breaker is open; the breaker state lives
    # in this process's control view, so the chain is bound to it on first use.
    if isinstance(model, FallbackModel) and model.is_open is None:
        model.is_open = lambda provider: control.breaker("model", provider) is not None


async def _call_tool(call: Call) -> CallResult:
    spec, args = call.request
    return CallResult(await spec.fn(args))


def _encode(call: Call, value: Any) -> str:
    if call.kind == "llm":
        return orjson.dumps(dataclasses.asdict(value), default=str).decode()
    result: str = value.model_dump_json()
    return result


def _decode(call: Call, text: str) -> Any:
    if call.kind == "llm":
        data = orjson.loads(text)
        cost = data.pop("cost_usd")
        return LlmResponse(**data, cost_usd=None if cost is None else Decimal(cost))
    spec, _ = call.request
    return spec.result.model_validate_json(text)
