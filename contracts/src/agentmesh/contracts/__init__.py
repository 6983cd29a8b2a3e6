"""What is said on agentmesh topics: message models, their Avro schemas, the codec, topic names.

Every message is an Avro record in Confluent's wire format, registered in a schema registry
and allowed to evolve only compatibly. The pydantic models here are the source of truth;
the ``.avsc`` files in ``schemas/`` beside this module are generated from them and every
version is kept.
"""

from agentmesh.contracts._asyncapi import asyncapi_document, dump_asyncapi
from agentmesh.contracts._audit import AuditDecision, AuditRecord
from agentmesh.contracts._avro import AvroMappingError, avro_schema
from agentmesh.contracts._base import AvroDecimal, Contract, Usd
from agentmesh.contracts._calls import CallTally
from agentmesh.contracts._catalog import (
    CATALOG,
    SCHEMA_DIR,
    ContractSpec,
    Lineage,
    drift,
    read_versions,
    write_new_versions,
)
from agentmesh.contracts._claims import ChunkRef, ClaimChunk, ClaimTicket
from agentmesh.contracts._common import Budget, ContextRef, new_id, utcnow
from agentmesh.contracts._compat import (
    CompatMode,
    Incompatibility,
    Mismatch,
    ProblemKind,
    check_lineage,
    check_pair,
    find_lineages,
    lineage_versions,
)
from agentmesh.contracts._control import ControlCommand, ControlScope
from agentmesh.contracts._datum import to_datum
from agentmesh.contracts._deadletter import DeadLetter, Header
from agentmesh.contracts._errors import (
    ContractError,
    DecodeError,
    IncompatibleSchemaError,
    InvalidMessageError,
    MalformedPayloadError,
    PayloadValidationError,
    RegistryUnavailableError,
    SchemaRegistrationError,
    TruncatedMessageError,
    UnknownMagicByteError,
    UnknownSchemaIdError,
)
from agentmesh.contracts._events import (
    AgentEvent,
    EmittedHandoff,
    EventBody,
    HandoffEmitted,
    LlmCall,
    StepFinished,
    StepStarted,
    TaskCompleted,
    TaskFailed,
    ToolCall,
)
from agentmesh.contracts._handoff import Handoff, PayloadT
from agentmesh.contracts._headers import (
    CLAIM_HEADER,
    REDRIVE_BY_HEADER,
    REDRIVE_COUNT_HEADER,
    REDRIVE_FROM_HEADER,
    REDRIVE_OF_HEADER,
    REDRIVE_REASON_HEADER,
    RELEASED_AT_HEADER,
    REVIEW_ID_HEADER,
)
from agentmesh.contracts._journal import JournalEntry
from agentmesh.contracts._recording import Recording
from agentmesh.contracts._registry import DEFAULT_COMPATIBILITY, SchemaRegistry, SchemaStore
from agentmesh.contracts._review import ReviewDecision, ReviewRequest, shown_sha256
from agentmesh.contracts._rewrite import EditRejected, rewrite_handoff
from agentmesh.contracts._serde import Codec, validate_payload
from agentmesh.contracts._signing import (
    key_id,
    load_public_key,
    public_pem,
    signed_bytes,
    verify_decision,
    write_private_key,
)
from agentmesh.contracts._state import StepDone, TaskStateRecord
from agentmesh.contracts._task import TaskSubmitted, task_id_for
from agentmesh.contracts._topics import Topics
from agentmesh.contracts._wire import HEADER_SIZE, MAGIC_BYTE, frame_header, read_header

__all__ = [
    "CATALOG",
    "CLAIM_HEADER",
    "DEFAULT_COMPATIBILITY",
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "REDRIVE_BY_HEADER",
    "REDRIVE_COUNT_HEADER",
    "REDRIVE_FROM_HEADER",
    "REDRIVE_OF_HEADER",
    "REDRIVE_REASON_HEADER",
    "RELEASED_AT_HEADER",
    "REVIEW_ID_HEADER",
    "SCHEMA_DIR",
    "AgentEvent",
    "AuditDecision",
    "AuditRecord",
    "AvroDecimal",
    "AvroMappingError",
    "Budget",
    "CallTally",
    "ChunkRef",
    "ClaimChunk",
    "ClaimTicket",
    "Codec",
    "CompatMode",
    "ContextRef",
    "Contract",
    "ContractError",
    "ContractSpec",
    "ControlCommand",
    "ControlScope",
    "DeadLetter",
    "DecodeError",
    "EditRejected",
    "EmittedHandoff",
    "EventBody",
    "Handoff",
    "HandoffEmitted",
    "Header",
    "Incompatibility",
    "IncompatibleSchemaError",
    "InvalidMessageError",
    "JournalEntry",
    "Lineage",
    "LlmCall",
    "MalformedPayloadError",
    "Mismatch",
    "PayloadT",
    "PayloadValidationError",
    "ProblemKind",
    "Recording",
    "RegistryUnavailableError",
    "ReviewDecision",
    "ReviewRequest",
    "SchemaRegistrationError",
    "SchemaRegistry",
    "SchemaStore",
    "StepDone",
    "StepFinished",
    "StepStarted",
    "TaskCompleted",
    "TaskFailed",
    "TaskStateRecord",
    "TaskSubmitted",
    "ToolCall",
    "Topics",
    "TruncatedMessageError",
    "UnknownMagicByteError",
    "UnknownSchemaIdError",
    "Usd",
    "asyncapi_document",
    "avro_schema",
    "check_lineage",
    "check_pair",
    "drift",
    "dump_asyncapi",
    "find_lineages",
    "frame_header",
    "key_id",
    "lineage_versions",
    "load_public_key",
    "new_id",
    "public_pem",
    "read_header",
    "read_versions",
    "rewrite_handoff",
    "shown_sha256",
    "signed_bytes",
    "task_id_for",
    "to_datum",
    "utcnow",
    "validate_payload",
    "verify_decision",
    "write_new_versions",
    "write_private_key",
]
