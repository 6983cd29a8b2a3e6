"""An agent: a name, typed input and output, tools, and an async handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, get_type_hints

from agentmesh.agents._llm import ChatModel
from agentmesh.agents._tools import Tool
from agentmesh.contracts import Contract, Topics

if TYPE_CHECKING:
    from agentmesh.agents._context import Context
    from agentmesh.agents._outcome import Outcome

__all__ = ["Agent", "Handler", "StepPolicy", "agent"]

InT = TypeVar("InT", bound=Contract)
OutT = TypeVar("OutT", bound=Contract)

Handler = Callable[[InT, "Context"], Awaitable["Outcome"]]


@dataclass(frozen=True, slots=True)
class StepPolicy:
    """How often a failing step is retried before its input is dead-lettered."""

    attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Agent(Generic[InT, OutT]):
    """A worker in the mesh; ``agentmesh run agent NAME`` runs one as its own process."""

    name: str
    input: type[InT]
    handler: Handler[InT]
    output: type[OutT] | None = None
    tools: Sequence[Tool[Any, Any]] = ()
    model: ChatModel | None = None
    policy: StepPolicy = field(default_factory=StepPolicy)
    description: str = ""
    # Whom this agent may hand off to; None: any agent of the mesh (the broker's ACLs then
    # let it write every inbox). Declared edges are what `agentmesh acl plan` grants.
    hands_off_to: frozenset[str] | None = None

    def __post_init__(self) -> None:
        Topics().agent(self.name)  # validates the name early, with a helpful message
        for target in self.hands_off_to or ():
            Topics().agent(target)

    def may_hand_off_to(self, target: str) -> bool:
        """True when this agent declared ``target`` (or declared no limit)."""
        return self.hands_off_to is None or target in self.hands_off_to

    def tool_named(self, name: str) -> Tool[Any, Any] | None:
        """This agent's tool called ``name``."""
        return next((t for t in self.tools if t.name == name), None)


def agent(
    name: str,
    *,
    output: type[OutT] | None = None,
    tools: Sequence[Tool[Any, Any]] = (),
    model: ChatModel | None = None,
    policy: StepPolicy | None = None,
    hands_off_to: Iterable[str] | None = None,
) -> Callable[[Handler[InT]], Agent[InT, OutT]]:
    """Declare an agent from ``async def handler(payload: InputModel, ctx: Context)``.

    The input model is read from the payload parameter's annotation. The handler returns
    a handoff (``ctx.handoff(...)``), a list of them (fan-out), an ``output`` instance (the
    task's result), or ``None`` (nothing to emit yet, e.g. waiting for more inputs).

    ``hands_off_to`` names the agents it may hand off to (``[]``: none, it only returns
    results); a handoff to any other fails at the sender with
    :class:`~agents.HandoffNotAllowedError` (the input is dead-lettered with that reason).
    Unset: any agent of the mesh, as before; the ACLs derived from the mesh then let this
    agent write every inbox, so declare it.
    """

    def wrap(handler: Handler[InT]) -> Agent[InT, OutT]:
        hints = get_type_hints(handler)
        params = [v for k, v in hints.items() if k != "return"]
        if not params or not (isinstance(params[0], type) and issubclass(params[0], Contract)):
            raise TypeError(
                f"agent {name!r}: the handler's first parameter must be annotated with a "
                "contracts.Contract model (the agent's input)"
            )
        input_model = cast("type[InT]", params[0])
        return Agent(
            name=name,
            input=input_model,
            handler=handler,
            output=output,
            tools=tuple(tools),
            model=model,
            policy=policy or StepPolicy(),
            description=(handler.__doc__ or "").strip(),
            hands_off_to=_targets(hands_off_to),
        )

    return wrap


def _targets(names: Iterable[str] | None) -> frozenset[str] | None:
    # A lone string is one agent's name, not an iterable of one-letter names.
    if names is None:
        return None
    return frozenset([names] if isinstance(names, str) else names)
