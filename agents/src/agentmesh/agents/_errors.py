"""Errors an agent's step can end with, each mapped to a route (retry, dead letter, stop)."""

from __future__ import annotations

from agentmesh.contracts import ControlCommand

__all__ = [
    "AgentError",
    "BudgetExceeded",
    "CallNotRecorded",
    "HandoffNotAllowedError",
    "ReviewRequired",
    "StepStopped",
    "ToolArgumentsError",
    "ToolBreakerOpen",
    "ToolFailed",
    "TransientError",
    "UnknownAgentError",
    "UnknownToolError",
]


class AgentError(Exception):
    """Base class of runtime errors raised into or out of handlers."""


class TransientError(AgentError):
    """A failure worth retrying (raise it from tools and providers: timeouts, 5xx, resets)."""


class UnknownAgentError(AgentError):
    """A handoff names an agent this mesh does not know."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no agent named {name!r}; known agents: {', '.join(sorted(known))}")
        self.name = name


class HandoffNotAllowedError(AgentError):
    """A handoff to an agent the sender did not declare in ``hands_off_to``."""

    def __init__(self, sender: str, target: str, allowed: frozenset[str]) -> None:
        names = ", ".join(sorted(allowed)) or "none (it may only return a result)"
        super().__init__(
            f"agent {sender!r} may not hand off to {target!r}; allowed targets: {names} "
            f"(declare more with @agent({sender!r}, hands_off_to=[...]))"
        )
        self.sender = sender
        self.target = target
        self.allowed = allowed


class UnknownToolError(AgentError):
    """A call names a tool the agent was not given."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no tool named {name!r}; this agent's tools: {', '.join(sorted(known))}")


class ToolArgumentsError(AgentError):
    """Tool arguments failed validation; the tool was not called."""


class ToolFailed(AgentError):
    """A tool kept failing after its retries (or failed permanently)."""


class ToolBreakerOpen(AgentError):
    """The tool's (or model provider's) circuit breaker is open: failing fast."""


class CallNotRecorded(AgentError):
    """A replayed step made a call that its recording cannot answer: nothing was called.

    Only ``agentmesh replay run`` raises it; retrying cannot help (the recording stays what
    it is), so the step ends at once.
    """


class StepStopped(AgentError):
    """A control record stopped this step before its next LLM or tool call."""

    def __init__(self, command: ControlCommand) -> None:
        super().__init__(
            f"{command.action} by {command.issued_by} for {command.scope} "
            f"{command.target!r}: {command.reason}"
        )
        self.command = command


class ReviewRequired(AgentError):
    """A review rule asks a person to approve this call before it runs: the step parks."""

    def __init__(
        self,
        kind: str,
        reason: str,
        payload_json: str,
        *,
        approvals: int = 1,
        timeout_s: float | None = None,
        on_timeout: str = "reject",
        target: str = "",
    ) -> None:
        super().__init__(f"needs approval: {reason}")
        self.kind = kind
        self.reason = reason
        self.payload_json = payload_json
        self.approvals = approvals
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout
        self.target = target


class BudgetExceeded(AgentError):
    """The task's remaining budget does not allow another step."""

    def __init__(self, limit: str, used: object, allowed: object) -> None:
        super().__init__(f"budget exceeded: {limit} used {used}, allowed {allowed}")
        self.limit = limit
