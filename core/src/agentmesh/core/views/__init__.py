"""The mesh's topics as people and scripts see them: a task's timeline, its ledger, its
recordings and its whole story, the review queue, dead letters (and their redrive), control
rules, and any topic tailed as readable records.

The CLI and the gateway read through these, so both show the same thing.
"""

from agentmesh.core.views._control import (
    live_rules,
    publish_control,
)
from agentmesh.core.views._dlq import (
    MAX_REDRIVES,
    DeadLetterEntry,
    DeadLetterError,
    UnknownDeadLetter,
    find_dead_letter,
    original_handoff,
    read_dead_letters,
    why_not_redrivable,
)
from agentmesh.core.views._dlq_redrive import (
    Redriven,
    RedriveRefused,
    RedriveSuperseded,
    redrive,
    redrive_key,
)
from agentmesh.core.views._ledger import (
    TaskLedgerView,
    read_ledger,
)
from agentmesh.core.views._recordings import read_recordings
from agentmesh.core.views._reviews import (
    ReviewConflict,
    ReviewEntry,
    ReviewError,
    UnknownReview,
    decide,
    fold_reviews,
    read_reviews,
)
from agentmesh.core.views._story import StepNode, TaskStory, build_story, read_story
from agentmesh.core.views._tail import (
    Start,
    TailRecord,
    TailSpec,
    TopicMissing,
    dumps_line,
    jsonable,
    parse_since,
    record_time,
    resolve_topic,
    tail_kafka,
)
from agentmesh.core.views._timeline import (
    TaskTimeline,
    read_timeline,
)

__all__ = [
    "MAX_REDRIVES",
    "DeadLetterEntry",
    "DeadLetterError",
    "RedriveRefused",
    "RedriveSuperseded",
    "Redriven",
    "ReviewConflict",
    "ReviewEntry",
    "ReviewError",
    "Start",
    "StepNode",
    "TailRecord",
    "TailSpec",
    "TaskLedgerView",
    "TaskStory",
    "TaskTimeline",
    "TopicMissing",
    "UnknownDeadLetter",
    "UnknownReview",
    "build_story",
    "decide",
    "dumps_line",
    "find_dead_letter",
    "fold_reviews",
    "jsonable",
    "live_rules",
    "original_handoff",
    "parse_since",
    "publish_control",
    "read_dead_letters",
    "read_ledger",
    "read_recordings",
    "read_reviews",
    "read_story",
    "read_timeline",
    "record_time",
    "redrive",
    "redrive_key",
    "resolve_topic",
    "tail_kafka",
    "why_not_redrivable",
]
