"""Publishing a task from the gateway, checked as the agent will check it.

With the mesh's code at hand (``AGENTMESH_APP``, as ``make run`` sets it) the input is
checked by the entry agent's own model, with the same function ``agentmesh task submit``
and ``agentmesh.agents.Submitter`` use (:func:`agentmesh.core.submission.check_input`).
Without it, by the schema registered for the agent's inbox (``<ns>.agent.<name>-value``):
missing, unknown and mistyped fields. Either way the error names the field as the user wrote
it (``input.question``). The task record and first handoff are written in one transaction,
exactly as ``agentmesh task submit`` writes them; the first handoff carries the effective
budget (the tightest of the submitted one and the policy's limits), so agents enforce the
policy before each call; the task record keeps what was submitted, from which the
supervisor's ledger derives the same budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastavro import parse_schema, schemaless_writer
from fastavro.validation import ValidationError as AvroValidationError
from fastavro.validation import validate
from opentelemetry import propagate

from agentmesh.contracts import (
    Budget,
    Codec,
    Contract,
    DecodeError,
    SchemaRegistry,
    TaskSubmitted,
    Topics,
    frame_header,
    new_id,
    task_id_for,
    to_datum,
    utcnow,
)
from agentmesh.core import Settings
from agentmesh.core.policy import Policy, effective_budget
from agentmesh.core.submission import InputRejected, Problem, check_idempotency_key, check_input
from agentmesh.core.transport import (
    KafkaConnection,
    ProducerOptions,
    make_admin,
    make_producer,
    read_tail,
)
from agentmesh.gateway._batcher import TransactionalBatcher
from agentmesh.gateway._json import printable, unencodable
from agentmesh.gateway._schema_check import Fingerprint, fingerprint, schema_problems, with_defaults

__all__ = ["KeyReused", "PayloadRejected", "Submitter", "UnknownAgent", "input_models"]


class UnknownAgent(LookupError):
    def __init__(self, agent: str, known: list[str]) -> None:
        super().__init__(f"no agent {agent!r}; known agents: {', '.join(known) or 'none yet'}")
        self.agent = agent
        self.known = known


class PayloadRejected(InputRejected):
    """The input does not fit the agent's input (its model, else its registered schema);
    ``field`` names where, as the user wrote it (``input.order``)."""


class KeyReused(ValueError):
    """An Idempotency-Key sent again with a different request than the one it named."""

    def __init__(self, key: str, task_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {printable(key)!r} was used for a different request (task "
            f"{task_id}: another agent, tenant or input); a retry must resend the original "
            "request unchanged, and a new request needs a new key"
        )
        self.task_id = task_id


def input_models(app: str | None) -> dict[str, type[Contract]]:
    """agent → input model of the mesh ``app`` names (``package.module:attribute``, as
    ``AGENTMESH_APP``); empty without one. The gateway reads the mesh, never runs it."""
    if app is None:
        return {}
    module_name, _, attr = app.partition(":")
    try:
        mesh = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"AGENTMESH_APP={app!r}: {exc}") from None
    agents = getattr(mesh, "agents", None)
    if not isinstance(agents, Mapping):
        raise TypeError(f"AGENTMESH_APP={app!r} is {type(mesh).__name__}, not a mesh")
    return {
        name: a.input
        for name, a in agents.items()
        if isinstance(getattr(a, "input", None), type) and issubclass(a.input, Contract)
    }


@dataclass(frozen=True, slots=True)
class _Inbox:
    """An agent's inbox as registered: framing, parsed schema, its payload's schema."""

    header: bytes
    parsed: Any
    payload: Any  # the payload's schema as registered (fingerprints, defaults)
    named: dict[str, Any]  # named types of the parsed schema (field checks)

    @property
    def payload_parsed(self) -> Any:
        return next(f["type"] for f in self.parsed["fields"] if f["name"] == "payload")


@dataclass(frozen=True, slots=True)
class _Request:
    """One checked submission, ready to be written."""

    agent: str
    datum: Any  # the input as Avro data
    input_json: str  # the input as the task record keeps it
    inbox: _Inbox
    budget: Budget
    tenant: str
    submitted_by: str
    idempotency_key: str | None
    labels: dict[str, str]


class Submitter:
    """One transactional producer, reused; schemas of inboxes cached after first use."""

    def __init__(
        self,
        settings: Settings,
        registry: SchemaRegistry,
        policy: Policy | None = None,
        models: Mapping[str, type[Contract]] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.namespace)
        self.registry = registry
        self.policy = policy or Policy()
        # The entry agents' own models, when the gateway has the mesh (AGENTMESH_APP).
        self.models = dict(models) if models is not None else input_models(settings.app)
        self.conn = KafkaConnection.from_settings(settings)
        self.task_codec = Codec(TaskSubmitted, Topics.subject(self.topics.tasks), registry)
        self._inboxes: dict[str, _Inbox] = {}
        # idempotency key → (task id, the request it named; None: not known)
        self._recent: OrderedDict[str, tuple[str, Fingerprint | None]] = OrderedDict()
        self._inflight: dict[str, tuple[Fingerprint, asyncio.Future[str]]] = {}

        def producer() -> Any:
            txn = f"{self.topics.namespace}.gateway.{new_id()}"
            return make_producer(self.conn, ProducerOptions(transactional_id=txn))

        self._writer = TransactionalBatcher(producer)

    async def start(self) -> None:
        await self.task_codec.register()
        await self._writer.start()
        await self._remember_recent()

    async def _remember_recent(self, per_partition: int = 10_000) -> None:
        """Idempotency keys of the newest submissions, so a retry after a gateway restart
        is still recognised (whoever submitted it: CLI, another gateway)."""
        topic = self.topics.tasks
        schemas: dict[str, Any] = {}  # agent → its input schema (None: unknown now)
        async for rec in read_tail(self.conn, topic, per_partition, client_suffix="gw-recent"):
            if rec.value is None:
                continue
            with contextlib.suppress(DecodeError):
                task = await self.task_codec.decode(rec.value)
                if task.idempotency_key:
                    agent = task.entry_agent
                    if agent not in schemas:
                        schemas[agent] = await self._payload_schema_or_none(agent)
                    seen: Fingerprint | None = None
                    # An input that does not read back is still the key's task: a retry
                    # of it is a duplicate, not compared.
                    with contextlib.suppress(ValueError, TypeError):
                        data = orjson.loads(task.input_json)
                        seen = fingerprint(agent, task.tenant, data, schemas[agent])
                    self._recent[task.idempotency_key] = (task.task_id, seen)

    async def _payload_schema_or_none(self, agent: str) -> Any:
        try:
            return (await self._inbox(agent)).payload
        except UnknownAgent:
            return None

    async def stop(self) -> None:
        await self._writer.stop()

    async def known_agents(self) -> list[str]:
        admin = make_admin(self.conn)
        await admin.start()
        try:
            prefix = f"{self.topics.namespace}.agent."
            names = [
                t.removeprefix(prefix) for t in await admin.list_topics() if t.startswith(prefix)
            ]
        finally:
            await admin.close()
        return sorted(n for n in names if "." not in n)

    async def _inbox(self, agent: str) -> _Inbox:
        cached = self._inboxes.get(agent)
        if cached is not None:
            return cached
        try:
            topic = self.topics.agent(agent)
        except ValueError:
            raise UnknownAgent(agent, await self.known_agents()) from None
        found = await self.registry.latest(Topics.subject(topic))
        if found is None or agent not in await self.known_agents():
            raise UnknownAgent(agent, await self.known_agents())
        schema_id, schema = found
        named: dict[str, Any] = {}
        parsed = parse_schema(schema, named_schemas=named)
        payload = next(f["type"] for f in schema["fields"] if f["name"] == "payload")
        entry = _Inbox(frame_header(schema_id), parsed, payload, named)
        self._inboxes[agent] = entry
        return entry

    async def submit(
        self,
        agent: str,
        payload: dict[str, Any],
        *,
        budget: Budget,
        tenant: str,
        submitted_by: str,
        idempotency_key: str | None,
        labels: dict[str, str],
    ) -> tuple[TaskSubmitted, bool]:
        """Publish; returns the task and whether it is new (False: a retried submission).

        :raises PayloadRejected: the input does not fit (``field`` says where).
        :raises KeyReused: ``idempotency_key`` named a different request.
        """
        inbox = await self._inbox(agent)
        datum, input_json = self._checked(agent, payload, inbox)
        request = _Request(
            agent, datum, input_json, inbox, budget, tenant, submitted_by, idempotency_key, labels
        )
        if idempotency_key is None:
            return await self._publish(request), True
        check_idempotency_key(idempotency_key, field="Idempotency-Key")
        this = fingerprint(agent, tenant, payload, inbox.payload)
        earlier = await self._earlier(idempotency_key, this)
        if earlier is not None:
            return _stub(earlier, agent, tenant, submitted_by, idempotency_key), False
        mine: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[idempotency_key] = (this, mine)
        try:
            task = await self._publish(request)
        except BaseException as exc:
            self._inflight.pop(idempotency_key, None)
            if isinstance(exc, Exception):
                mine.set_exception(exc)
                mine.exception()  # marked retrieved: nobody else may be waiting
            else:
                mine.cancel()
            raise
        self._recent[idempotency_key] = (task.task_id, this)
        while len(self._recent) > 100_000:
            self._recent.popitem(last=False)
        self._inflight.pop(idempotency_key, None)
        mine.set_result(task.task_id)
        return task, True

    async def _earlier(self, key: str, this: Fingerprint) -> str | None:
        """The task ``key`` already names (a retry), or None; KeyReused if it named another
        request. A retry racing the original waits for it rather than publishing again."""
        earlier = self._recent.get(key)
        if earlier is None and key in self._inflight:
            theirs, pending = self._inflight[key]
            with contextlib.suppress(Exception):
                earlier = (await asyncio.shield(pending), theirs)
        if earlier is None:
            return None
        task_id, theirs_or_none = earlier
        if theirs_or_none is not None and theirs_or_none != this:
            raise KeyReused(key, task_id)
        return task_id

    def _checked(self, agent: str, payload: dict[str, Any], inbox: _Inbox) -> tuple[Any, str]:
        """(the payload as its Avro datum, as JSON for the task record), or PayloadRejected."""
        # Parsed as JSON, yet not writable as JSON or Avro (a huge integer, a lone surrogate).
        found = unencodable(payload, "input")
        if found is not None:
            problem = found[1].removeprefix(f"{found[0]}: ")
            raise PayloadRejected([Problem(found[0], f"cannot be written: {problem}")])
        model = self.models.get(agent)
        if model is not None:
            try:
                typed = check_input(model, payload)
            except InputRejected as exc:
                raise PayloadRejected(exc.problems) from None
            return to_datum(typed), typed.model_dump_json()
        problems = schema_problems(inbox.payload_parsed, payload, inbox.named)
        if problems:
            raise PayloadRejected(problems)
        return with_defaults(inbox.payload, payload), orjson.dumps(payload).decode()

    async def _publish(self, r: _Request) -> TaskSubmitted:
        task_id = task_id_for(r.idempotency_key) if r.idempotency_key else new_id()
        now = utcnow()
        handoff = {
            "task_id": task_id,
            "handoff_id": task_id,
            "parent_id": None,
            "from_agent": r.submitted_by,
            "to_agent": r.agent,
            "hop": 0,
            "created_at": now,
            "tenant": r.tenant,
            # What agents enforce locally before each call; the ledger derives the same.
            "budget": to_datum(
                effective_budget(r.budget, self.policy.limits_for(r.tenant, r.agent), now)
            ),
            "context": [],
            "idempotency_key": r.idempotency_key or task_id,
            "payload": r.datum,
        }
        try:
            validate(handoff, r.inbox.parsed, raise_errors=True, strict=True)
            task = TaskSubmitted(
                task_id=task_id,
                tenant=r.tenant,
                entry_agent=r.agent,
                input_json=r.input_json,
                budget=r.budget,
                submitted_at=now,
                submitted_by=r.submitted_by,
                idempotency_key=r.idempotency_key,
                labels=r.labels,
            )
            task_value = self.task_codec.encode(task)
            buf = io.BytesIO()
            buf.write(r.inbox.header)
            schemaless_writer(buf, r.inbox.parsed, handoff)
        except (AvroValidationError, TypeError, ValueError, OverflowError) as exc:
            # Checked field by field above; whatever still does not fit the registered
            # schema (a model newer than it) is the input's fault, not a server error.
            problem = f"does not fit {r.agent!r}'s registered input schema: {exc}"
            raise PayloadRejected([Problem("input", problem)]) from None
        key = task_id.encode()
        trace_context: dict[str, str] = {}
        propagate.inject(trace_context)  # the request's span: the task's trace starts there
        await self._writer.write(
            [
                (self.topics.tasks, key, task_value),
                (self.topics.agent(r.agent), key, buf.getvalue()),
            ],
            [(k, v.encode()) for k, v in trace_context.items()],
        )
        return task


def _stub(task_id: str, agent: str, tenant: str, by: str, key: str) -> TaskSubmitted:
    return TaskSubmitted(
        task_id=task_id,
        tenant=tenant,
        entry_agent=agent,
        input_json="{}",
        submitted_by=by,
        idempotency_key=key,
    )
