"""Every topic a mesh needs, with what it is for and who writes and reads it.

The one place topic configuration is decided: agents, the supervisor, the gateway and the
CLI create what they need from here, ``agentmesh topics check`` compares a cluster with it,
and ACLs are derived from its ``writers``/``readers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from agentmesh.contracts import Topics
from agentmesh.core._settings import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.transport import TopicSpec

__all__ = [
    "AGENTS",
    "AGENT_CREATES",
    "DEFAULT_PARTITIONS",
    "GATEWAY",
    "OPERATOR",
    "SERVICE_CREATES",
    "SUPERVISOR",
    "SUPERVISOR_TABLES",
    "MeshTopic",
    "TopicCatalog",
    "TopicKind",
    "agent_role",
]

DEFAULT_PARTITIONS = 6
DAY_MS = 86_400_000

# Who touches a topic, as ACLs need it. ``agent:<name>`` is one agent's principal; AGENTS is
# every agent (an inbox's writers are narrowed further by who may hand off to it).
AGENTS = "agent:*"
SUPERVISOR = "supervisor"
GATEWAY = "gateway"
OPERATOR = "operator"  # the CLI run by a person or a job with admin rights

# The supervisor's faust tables: each has a compacted changelog `<ns>.supervisor-<t>-changelog`.
SUPERVISOR_TABLES = ("ledgers", "reviews", "breakers", "spend")

TopicKind = Literal[
    "tasks",
    "inbox",
    "journal",
    "state",
    "done",
    "events",
    "recordings",
    "control",
    "claims",
    "review_requests",
    "review_decisions",
    "dlq",
    "audit",
    "audit_intents",
    "supervisor_internal",
    "supervisor_changelog",
]


# The shared topics each process makes sure of at start (an agent also makes its inbox and
# its own journal, state and done topics): read by the topology code and by the ACLs that
# grant those processes CREATE, so the two cannot drift apart.
AGENT_CREATES: tuple[TopicKind, ...] = (
    "tasks",
    "events",
    "dlq",
    "control",
    "claims",
    "review_requests",
    "recordings",
)
SERVICE_CREATES: tuple[TopicKind, ...] = (  # the gateway's; the supervisor's, with its own
    "tasks",
    "events",
    "review_requests",
    "review_decisions",
    "dlq",
    "audit",
    "control",
)

_COMPACT: Mapping[str, str] = {"cleanup.policy": "compact"}
_DELETE: Mapping[str, str] = {"cleanup.policy": "delete"}
_WEEK_MS = str(7 * DAY_MS)


def _retained(ms: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(ms)}


def agent_role(name: str) -> str:
    """The role (ACL principal) of agent ``name``."""
    return f"agent:{name}"


@dataclass(frozen=True, slots=True)
class MeshTopic:
    """One topic of a mesh: its shape, its configuration and who may touch it.

    ``configs`` are the topic-level configs agentmesh sets (and ``topics check`` compares);
    anything else is the broker's default. ``writers`` and ``readers`` are roles: ``agent:*``,
    ``agent:<name>``, ``supervisor``, ``gateway``, ``operator``.
    """

    name: str
    kind: TopicKind
    purpose: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]
    writers: frozenset[str]
    readers: frozenset[str]
    agent: str | None = None  # the agent a per-agent topic belongs to
    # True: ``partitions`` is what it must have (as the topics it is joined with, or as its
    # agent's inbox); False: its count is its own (control: 1; audit: set at creation).
    co_partitioned: bool = True

    def spec(self) -> TopicSpec:
        """What :func:`~agentmesh.core.transport.ensure_topics` creates."""
        return TopicSpec(self.name, self.partitions, self.replication_factor, dict(self.configs))


@dataclass(frozen=True, slots=True)
class TopicCatalog:
    """The topics of one namespace, configured by its settings and policy.

    ``partitions`` is the count of everything keyed by task id (they must all match: the
    supervisor joins them); ``replication_factor`` is resolved (see
    :func:`~agentmesh.core.topics.resolve_replication_factor`).
    """

    settings: Settings
    policy: Policy
    replication_factor: int
    partitions: int = 0  # 0: the settings' topic_partitions
    audit_partitions: int | None = None  # None: as ``partitions`` (what a new audit topic gets)
    topics: Topics = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", Topics(self.settings.namespace))
        if self.partitions <= 0:
            object.__setattr__(self, "partitions", self.settings.topic_partitions)

    def everything(self, agents: Iterable[str]) -> list[MeshTopic]:
        """Every topic a mesh of ``agents`` needs, shared, per-agent and the supervisor's."""
        found = self.shared()
        for name in sorted(agents):
            found += [self.inbox(name), *self.agent_sides(name)]
        return found + self.supervisor_internal()

    def shared(self) -> list[MeshTopic]:
        """The topics every part of the mesh meets on (not per agent, not supervisor-only)."""
        t, s = self.topics, self.settings
        everyone = frozenset({AGENTS, SUPERVISOR, GATEWAY, OPERATOR})
        return [
            self._topic(
                t.tasks,
                "tasks",
                "submitted tasks, folded into ledgers",
                {GATEWAY, OPERATOR},
                {SUPERVISOR, GATEWAY, OPERATOR},
            ),
            self._topic(
                t.events,
                "events",
                "every step, call and outcome: ledgers, timelines",
                {AGENTS, SUPERVISOR, GATEWAY, OPERATOR},
                {SUPERVISOR, GATEWAY, OPERATOR},
                configs=_retained(s.events_retention_ms),
            ),
            self._topic(
                t.recordings,
                "recordings",
                "model and tool exchanges, step inputs: replay",
                {AGENTS},
                {GATEWAY, OPERATOR},
                configs=_retained(int(self.policy.recording.retention_days * DAY_MS)),
            ),
            self._topic(
                t.control,
                "control",
                "kill switch, pauses, breakers (newest per target)",
                {SUPERVISOR, GATEWAY, OPERATOR},
                everyone,
                configs=_COMPACT,
                partitions=1,
                co_partitioned=False,
            ),
            self._topic(
                t.claims,
                "claims",
                "claim-checked payloads too large for a record",
                {AGENTS, GATEWAY, OPERATOR},
                everyone,
                configs=_COMPACT,
            ),
            self._topic(
                t.review_requests,
                "review_requests",
                "work parked for a person",
                {AGENTS, SUPERVISOR},
                {SUPERVISOR, GATEWAY, OPERATOR},
                configs=_retained(s.review_retention_ms),
            ),
            self._topic(
                t.review_decisions,
                "review_decisions",
                "signed approvals and rejections",
                {GATEWAY, OPERATOR},
                {SUPERVISOR, GATEWAY, OPERATOR},
                configs=_retained(s.review_retention_ms),
            ),
            self._topic(
                t.dlq,
                "dlq",
                "dead letters, for inspection and redrive",
                {AGENTS, SUPERVISOR},
                {GATEWAY, OPERATOR},
                configs=_retained(s.dlq_retention_ms),
            ),
            self.audit(),
            self._topic(
                t.audit_intents,
                "audit_intents",
                "decisions for the supervisor to append to the audit chain",
                {SUPERVISOR, GATEWAY, OPERATOR},
                {SUPERVISOR},
                configs=_DELETE,
                # Intents for audit partition p go to partition p: as many as the audit topic.
                partitions=self._audit_partitions,
            ),
        ]

    def audit(self) -> MeshTopic:
        """The audit chain: never compacted; kept forever unless the policy sets a retention
        (which it refuses under 400 days)."""
        days = self.policy.audit.retention_days
        kept = "-1" if days is None else str(int(days * DAY_MS))
        return self._topic(
            self.topics.audit,
            "audit",
            "the hash-chained audit trail (one chain per partition)",
            {SUPERVISOR},
            {SUPERVISOR, GATEWAY, OPERATOR},
            configs={"cleanup.policy": "delete", "retention.ms": kept, "retention.bytes": "-1"},
            partitions=self._audit_partitions,
            co_partitioned=False,
        )

    def inbox(self, agent: str, partitions: int | None = None) -> MeshTopic:
        """Agent ``agent``'s inbox (writers: whoever may hand off to it, and the releasers)."""
        return self._topic(
            self.topics.agent(agent),
            "inbox",
            f"handoffs to agent {agent}",
            {AGENTS, SUPERVISOR, GATEWAY, OPERATOR},
            {agent_role(agent)},
            configs=_DELETE,
            partitions=partitions,
            agent=agent,
        )

    def agent_sides(self, agent: str, partitions: int | None = None) -> list[MeshTopic]:
        """Agent ``agent``'s journal, state and done topics: co-partitioned with its inbox
        (give ``partitions`` = the inbox's), written and read by that agent alone."""
        t, own = self.topics, {agent_role(agent)}
        return [
            self._topic(
                t.agent_journal(agent),
                "journal",
                f"agent {agent}'s completed calls",
                own,
                own,
                configs=_COMPACT,
                partitions=partitions,
                agent=agent,
            ),
            self._topic(
                t.agent_state(agent),
                "state",
                f"agent {agent}'s per-task state",
                own,
                own,
                configs=_COMPACT,
                partitions=partitions,
                agent=agent,
            ),
            # Compacted to the newest marker per input, and forgotten after a week: the window
            # in which a repeat of an input is recognised across restarts.
            self._topic(
                t.agent_done(agent),
                "done",
                f"inputs agent {agent} has handled",
                own,
                own,
                configs={"cleanup.policy": "compact,delete", "retention.ms": _WEEK_MS},
                partitions=partitions,
                agent=agent,
            ),
        ]

    def supervisor_internal(self) -> list[MeshTopic]:
        """The supervisor's own topics: timers, breaker signals, faust's table changelogs and
        its assignor's leader topic (created here so they get the mesh's settings)."""
        app_id = f"{self.topics.namespace}.supervisor"
        me = {SUPERVISOR}
        found = [
            self._topic(
                f"{app_id}.ticks",
                "supervisor_internal",
                "per-task timers (deadlines)",
                me,
                me,
                configs=_DELETE,
            ),
            self._topic(
                f"{app_id}.signals",
                "supervisor_internal",
                "breaker and spend signals between supervisor partitions",
                me,
                me,
                configs=_DELETE,
                co_partitioned=False,
            ),
            self._topic(
                f"{app_id}-__assignor-__leader",
                "supervisor_internal",
                "faust's leader election",
                me,
                me,
                configs={},
                partitions=1,
                co_partitioned=False,
            ),
        ]
        found += [
            self._topic(
                f"{app_id}-{table}-changelog",
                "supervisor_changelog",
                f"the supervisor's {table} table",
                me,
                me,
                configs=_COMPACT,
            )
            for table in SUPERVISOR_TABLES
        ]
        return found

    def get(self, name: str, agents: Iterable[str] = ()) -> MeshTopic | None:
        """The topic called ``name`` (per-agent ones only for ``agents``), or None."""
        return next((m for m in self.everything(agents) if m.name == name), None)

    def of_kind(self, *kinds: TopicKind) -> list[MeshTopic]:
        """The shared and supervisor topics of these kinds, in catalog order."""
        return [m for m in self.shared() + self.supervisor_internal() if m.kind in kinds]

    @property
    def _audit_partitions(self) -> int:
        return self.audit_partitions or self.partitions

    def _topic(
        self,
        name: str,
        kind: TopicKind,
        purpose: str,
        writers: Iterable[str],
        readers: Iterable[str],
        *,
        configs: Mapping[str, str] = _DELETE,
        partitions: int | None = None,
        co_partitioned: bool = True,
        agent: str | None = None,
    ) -> MeshTopic:
        rf = self.replication_factor
        # With acks=all, a write succeeds only once this many replicas have it: two when the
        # cluster can, so losing one broker loses no acknowledged record.
        full = {**configs, "min.insync.replicas": str(min(2, rf))}
        return MeshTopic(
            name=name,
            kind=kind,
            purpose=purpose,
            partitions=partitions or self.partitions,
            replication_factor=rf,
            configs=full,
            writers=frozenset(writers),
            readers=frozenset(readers),
            agent=agent,
            co_partitioned=co_partitioned,
        )
