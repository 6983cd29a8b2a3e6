"""Who works: the agent runtime and the model providers.

Write an agent as a typed async handler; the runtime makes it a Kafka consumer with
exactly-once handoffs, journaled LLM/tool calls, retries, dead-lettering and control::

    class Question(Contract):
        text: str

    @agent("answerer", output=Answer, tools=[search])
    async def answerer(q: Question, ctx: Context) -> Answer:
        hits = await ctx.tool("search", SearchArgs(query=q.text))
        reply = await ctx.llm(f"Answer {q.text!r} from: {hits}")
        return Answer(text=reply.text)

    mesh = Mesh([answerer])      # `agentmesh run agent answerer --app mymodule:mesh`

Put work into it with :class:`Submitter` (one producer for many tasks) or
:func:`submit_task` (one task).
"""

from agentmesh.agents._agent import Agent, Handler, StepPolicy, agent
from agentmesh.agents._context import Context, StepEnv
from agentmesh.agents._control import ControlState
from agentmesh.agents._errors import (
    AgentError,
    BudgetExceeded,
    HandoffNotAllowedError,
    StepStopped,
    ToolArgumentsError,
    ToolBreakerOpen,
    ToolFailed,
    TransientError,
    UnknownAgentError,
    UnknownToolError,
)
from agentmesh.agents._estimate import CallEstimate, TokenCounter
from agentmesh.agents._interceptors import Call, CallResult, Interceptor, Next, compose
from agentmesh.agents._llm import ChatModel, LlmRequest, LlmResponse, Message
from agentmesh.agents._mesh import Mesh, load_mesh
from agentmesh.agents._outcome import Outcome, Outgoing
from agentmesh.agents._prompts import Prompt, PromptSet
from agentmesh.agents._scripted import ScriptedModel
from agentmesh.agents._submit import submit_task
from agentmesh.agents._submitter import Submission, Submitter
from agentmesh.agents._tools import RetryPolicy, Tool, tool
from agentmesh.agents.providers import (
    AnthropicChatModel,
    AnthropicConfig,
    FallbackExhausted,
    FallbackModel,
    ModelPrice,
    OpenAIChatModel,
    OpenAIConfig,
    PriceTable,
    ProviderError,
    model_from_spec,
)

__all__ = [
    "Agent",
    "AgentError",
    "AnthropicChatModel",
    "AnthropicConfig",
    "BudgetExceeded",
    "Call",
    "CallEstimate",
    "CallResult",
    "ChatModel",
    "Context",
    "ControlState",
    "FallbackExhausted",
    "FallbackModel",
    "Handler",
    "HandoffNotAllowedError",
    "Interceptor",
    "LlmRequest",
    "LlmResponse",
    "Mesh",
    "Message",
    "ModelPrice",
    "Next",
    "OpenAIChatModel",
    "OpenAIConfig",
    "Outcome",
    "Outgoing",
    "PriceTable",
    "Prompt",
    "PromptSet",
    "ProviderError",
    "RetryPolicy",
    "ScriptedModel",
    "StepEnv",
    "StepPolicy",
    "StepStopped",
    "Submission",
    "Submitter",
    "TokenCounter",
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
    "model_from_spec",
    "submit_task",
    "tool",
]
