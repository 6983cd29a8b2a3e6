"""The governance policy file shared by the supervisor and the agent runtime.

One small typed YAML file (``AGENTMESH_POLICY``) says what a task may spend, when breakers
open, what counts as a loop and which work needs a person's approval. The supervisor
enforces the task-wide parts; every agent process evaluates the review rules before a tool
call or a handoff leaves it.
"""

from agentmesh.core.policy._load import PolicyError, load_policy
from agentmesh.core.policy._model import (
    MIN_AUDIT_RETENTION_DAYS,
    AuditPolicy,
    BreakerPolicy,
    BudgetPolicy,
    Extension,
    FieldMatch,
    Limits,
    LoopPolicy,
    Policy,
    RecordingPolicy,
    Redaction,
    ReviewPolicy,
    ReviewRule,
    SpendLimit,
    TenantPolicy,
    effective_budget,
)
from agentmesh.core.policy._rules import ReviewMatch, field_value, match_handoff, match_tool_call

__all__ = [
    "MIN_AUDIT_RETENTION_DAYS",
    "AuditPolicy",
    "BreakerPolicy",
    "BudgetPolicy",
    "Extension",
    "FieldMatch",
    "Limits",
    "LoopPolicy",
    "Policy",
    "PolicyError",
    "RecordingPolicy",
    "Redaction",
    "ReviewMatch",
    "ReviewPolicy",
    "ReviewRule",
    "SpendLimit",
    "TenantPolicy",
    "effective_budget",
    "field_value",
    "load_policy",
    "match_handoff",
    "match_tool_call",
]
