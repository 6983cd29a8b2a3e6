"""What every way of submitting a task shares: ``agentmesh task submit``, the gateway's
``POST /v1/tasks`` and ``agentmesh.agents.Submitter``.

- :func:`check_input`: the task's input checked by the entry agent's own model, each
  problem naming the field as the user wrote it (``input.question``);
- :func:`check_idempotency_key`: what may name a submission;
- :class:`GroupCommit`: concurrent submissions written in shared Kafka transactions.
"""

from agentmesh.core.submission._group_commit import GroupCommit, Headers, Record
from agentmesh.core.submission._input import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    InputRejected,
    Problem,
    check_idempotency_key,
    check_input,
)

__all__ = [
    "IDEMPOTENCY_KEY_MAX_LENGTH",
    "IDEMPOTENCY_KEY_PATTERN",
    "GroupCommit",
    "Headers",
    "InputRejected",
    "Problem",
    "Record",
    "check_idempotency_key",
    "check_input",
]
