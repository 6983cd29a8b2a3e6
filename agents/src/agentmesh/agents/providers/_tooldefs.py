"""Tools offered to a model, and the provider-neutral shape of the calls it asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from agentmesh.agents._errors import TransientError
from agentmesh.agents._tools import Tool

__all__ = ["ToolDefinition", "parse_arguments", "tool_call"]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may ask to call; the provider only offers it, never runs it."""

    name: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    description: str = ""

    @classmethod
    def from_tool(cls, tool: Tool[Any, Any]) -> ToolDefinition:
        """Offer an agent tool, with its pydantic arguments model as the schema."""
        return cls(tool.name, tool.args.model_json_schema(), tool.description)


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``LlmResponse.extra["tool_calls"]`` (plain JSON, so journals replay it)."""
    return {"id": call_id, "name": name, "arguments": arguments}


def parse_arguments(provider: str, name: str, raw: str) -> dict[str, Any]:
    """Decode a tool call's JSON arguments; a malformed reply is worth asking again."""
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise TransientError(
            f"{provider}: tool call {name!r} came with malformed arguments {raw!r}"
        )
    return value
