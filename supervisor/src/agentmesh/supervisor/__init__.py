"""The supervisor: a faust-streaming control plane over ``<ns>.events``.

It folds every task's events into a ledger (tokens, cost, steps, hops, deadline), stops
tasks that breach their budget or loop, opens and closes circuit breakers for tools, model
providers and agents, releases or ends work parked for review, and appends every decision
that changed a task's course to the hash-chained ``<ns>.audit`` topic.
"""

from agentmesh.supervisor._app import Inbound, Supervisor, SupervisorOptions
from agentmesh.supervisor._audit_check import check_partition
from agentmesh.supervisor._audit_export import AuditExport, ExportError, export_audit, load_export
from agentmesh.supervisor._audit_findings import Finding, Link, PartitionReport
from agentmesh.supervisor._breakers import Breaker, Transition
from agentmesh.supervisor._chain import GENESIS, ChainBreak, record_hash, verify_chain
from agentmesh.supervisor._checkpoints import (
    Checkpoint,
    CheckpointClock,
    CheckpointSigner,
    SigningKeyError,
    create_key_file,
    load_public_keys,
    local_signing_key_path,
    signing_key,
)
from agentmesh.supervisor._ledger import Breach, TaskLedger
from agentmesh.supervisor._reviews import Escalate, Reject, Release, ReviewBook
from agentmesh.supervisor._run import run_supervisor
from agentmesh.supervisor._spend import TenantSpend
from agentmesh.supervisor._topology import SupervisorTopics, ensure_supervisor_topics
from agentmesh.supervisor._verify import check_topic, read_chains

__all__ = [
    "GENESIS",
    "AuditExport",
    "Breach",
    "Breaker",
    "ChainBreak",
    "Checkpoint",
    "CheckpointClock",
    "CheckpointSigner",
    "Escalate",
    "ExportError",
    "Finding",
    "Inbound",
    "Link",
    "PartitionReport",
    "Reject",
    "Release",
    "ReviewBook",
    "SigningKeyError",
    "Supervisor",
    "SupervisorOptions",
    "SupervisorTopics",
    "TaskLedger",
    "TenantSpend",
    "Transition",
    "check_partition",
    "check_topic",
    "create_key_file",
    "ensure_supervisor_topics",
    "export_audit",
    "load_export",
    "load_public_keys",
    "local_signing_key_path",
    "read_chains",
    "record_hash",
    "run_supervisor",
    "signing_key",
    "verify_chain",
]
