"""Evaluating review rules against a tool call or a handoff (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentmesh.core.policy._model import FieldMatch, Policy, ReviewRule

__all__ = ["ReviewMatch", "field_value", "match_handoff", "match_tool_call"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class ReviewMatch:
    """The rule that asks for approval, and how (approvals, timeout)."""

    rule: ReviewRule
    timeout_s: float
    on_timeout: str

    @property
    def reason(self) -> str:
        return f"review rule {self.rule.name!r}"


def field_value(data: Any, path: str) -> Any:
    """``data['a']['b']`` for ``a.b``; a missing step gives a private sentinel."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _field_holds(match: FieldMatch | None, data: Any) -> bool:
    if match is None:
        return True
    value = field_value(data, match.path)
    if match.exists is not None and (value is not _MISSING) != match.exists:
        return False
    if match.equals is not None and value != match.equals:
        return False
    if match.gt is not None:
        return isinstance(value, int | float) and not isinstance(value, bool) and value > match.gt
    return match.exists is not None or match.equals is not None or value is not _MISSING


def _matched(policy: Policy, rule: ReviewRule) -> ReviewMatch:
    return ReviewMatch(
        rule=rule,
        timeout_s=rule.timeout_s or policy.reviews.timeout_s,
        on_timeout=rule.on_timeout or policy.reviews.on_timeout,
    )


def match_tool_call(policy: Policy, tool: str, arguments: Any) -> ReviewMatch | None:
    """The first rule that requires approval before ``tool`` is called with ``arguments``."""
    for rule in policy.reviews.rules:
        if rule.tool == tool and _field_holds(rule.field, arguments):
            return _matched(policy, rule)
    return None


def match_handoff(policy: Policy, to_agent: str, payload: Any) -> ReviewMatch | None:
    """The first rule that requires approval before a handoff to ``to_agent`` is delivered."""
    for rule in policy.reviews.rules:
        if rule.agent == to_agent and _field_holds(rule.field, payload):
            return _matched(policy, rule)
    return None
