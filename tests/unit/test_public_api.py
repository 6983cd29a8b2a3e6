"""Locks the public API: every name in ``__all__`` exists, and nothing leaks or vanishes unnoticed.

A change here is a change to what users import; update CHANGELOG.md with it.
"""

import importlib

import pytest

PACKAGES = ["agentmesh", "agentmesh.transport", "agents", "contracts", "infra"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []  # ruff RUF022 sorts it


@pytest.mark.parametrize("name", PACKAGES)
def test_nothing_public_is_left_unexported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", name).startswith(name)
    }
    # Anything public defined in the package must be exported (or be a documented submodule).
    submodules = {"cli", "transport", "testing", "providers", "research", "policy"}
    assert sorted(public - set(module.__all__) - submodules - {"annotations"}) == []


def test_agents_api() -> None:
    import agents

    assert sorted(agents.__all__) == sorted(
        [
            "Agent",
            "AgentError",
            "AnthropicChatModel",
            "AnthropicConfig",
            "FallbackExhausted",
            "FallbackModel",
            "ModelPrice",
            "OpenAIChatModel",
            "OpenAIConfig",
            "PriceTable",
            "ProviderError",
            "model_from_spec",
            "BudgetExceeded",
            "Call",
            "CallResult",
            "ChatModel",
            "Context",
            "ControlState",
            "Handler",
            "Interceptor",
            "LlmRequest",
            "LlmResponse",
            "Mesh",
            "Message",
            "Next",
            "Outcome",
            "Outgoing",
            "RetryPolicy",
            "ScriptedModel",
            "StepEnv",
            "StepPolicy",
            "StepStopped",
            "Tool",
            "ToolArgumentsError",
            "ToolBreakerOpen",
            "ToolFailed",
            "TransientError",
            "UnknownAgentError",
            "UnknownToolError",
            "agent",
            "compose",
            "load_mesh",
            "tool",
        ]
    )
