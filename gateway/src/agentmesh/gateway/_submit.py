"""Publishing a task from the gateway, validated against the registry, not against code.

The gateway does not import agents: an agent's input contract is the schema registered for
its inbox (``<ns>.agent.<name>-value``). The payload is checked against that schema (the
error names the field), and the task record and first handoff are written in one
transaction, exactly as ``agentmesh task submit`` writes them. The first handoff carries the
effective budget (the tightest of the submitted one and the policy's limits), so agents
enforce the policy before each call; the task record keeps what was submitted, from which
the supervisor's ledger derives the same budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
from collections import OrderedDict
from typing import Any

import orjson
from fastavro import parse_schema, schemaless_writer
from fastavro.validation import ValidationError as AvroValidationError
from fastavro.validation import validate

from agentmesh.contracts import (
    Budget,
    Codec,
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
from agentmesh.core.transport import (
    KafkaConnection,
    ProducerOptions,
    make_admin,
    make_producer,
    read_tail,
)
from agentmesh.gateway._batcher import TransactionalBatcher
from agentmesh.gateway._json import printable, unencodable

__all__ = ["KeyReused", "PayloadRejected", "Submitter", "UnknownAgent"]


class UnknownAgent(LookupError):
    def __init__(self, agent: str, known: list[str]) -> None:
        super().__init__(f"no agent {agent!r}; known agents: {', '.join(known) or 'none yet'}")
        self.agent = agent
        self.known = known


class PayloadRejected(ValueError):
    """The input does not fit the agent's input schema; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KeyReused(ValueError):
    """An Idempotency-Key sent again with a different request than the one it named."""

    def __init__(self, key: str, task_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {printable(key)!r} was used for a different request (task "
            f"{task_id}: another agent, tenant or input); a retry must resend the original "
            "request unchanged, and a new request needs a new key"
        )
        self.task_id = task_id


# A request as an Idempotency-Key names it: a digest of its agent, tenant and input.
Fingerprint = bytes


class Submitter:
    """One transactional producer, reused; schemas of inboxes cached after first use."""

    def __init__(
        self, settings: Settings, registry: SchemaRegistry, policy: Policy | None = None
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.namespace)
        self.registry = registry
        self.policy = policy or Policy()
        self.conn = KafkaConnection.from_settings(settings)
        self.task_codec = Codec(TaskSubmitted, Topics.subject(self.topics.tasks), registry)
        self._inboxes: dict[str, tuple[bytes, Any, dict[str, Any]]] = {}
        self._names: dict[str, str] = {}
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
                        seen = _fingerprint(agent, task.tenant, data, schemas[agent])
                    self._recent[task.idempotency_key] = (task.task_id, seen)

    async def _payload_schema_or_none(self, agent: str) -> Any:
        try:
            return (await self._inbox(agent))[2]
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

    async def _inbox(self, agent: str) -> tuple[bytes, Any, dict[str, Any]]:
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
        payload_schema = next(f["type"] for f in schema["fields"] if f["name"] == "payload")
        entry = (frame_header(schema_id), parse_schema(schema), payload_schema)
        self._names[agent] = _fullname(payload_schema)
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

        :raises KeyReused: ``idempotency_key`` named a different request.
        """
        header, parsed, payload_schema = await self._inbox(agent)
        # Parsed as JSON, yet not writable as JSON or Avro (a huge integer, a lone surrogate).
        found = unencodable(payload)
        if found is not None:
            raise PayloadRejected(found[0], f"input cannot be written: {found[1]}")
        if idempotency_key is not None:
            this = _fingerprint(agent, tenant, payload, payload_schema)
            # A retry racing the original waits for it rather than publishing again.
            earlier = self._recent.get(idempotency_key)
            if earlier is None and idempotency_key in self._inflight:
                fingerprint, pending = self._inflight[idempotency_key]
                with contextlib.suppress(Exception):
                    earlier = (await asyncio.shield(pending), fingerprint)
            if earlier is not None:
                task_id, theirs = earlier
                if theirs is not None and theirs != this:
                    raise KeyReused(idempotency_key, task_id)
                return _stub(task_id, agent, tenant, submitted_by, idempotency_key), False
            mine: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._inflight[idempotency_key] = (this, mine)
        try:
            task = await self._publish(
                agent,
                payload,
                header,
                parsed,
                payload_schema,
                budget=budget,
                tenant=tenant,
                submitted_by=submitted_by,
                idempotency_key=idempotency_key,
                labels=labels,
            )
        except BaseException as exc:
            if idempotency_key is not None:
                self._inflight.pop(idempotency_key, None)
                if isinstance(exc, Exception):
                    mine.set_exception(exc)
                    mine.exception()  # marked retrieved: nobody else may be waiting
                else:
                    mine.cancel()
            raise
        if idempotency_key is not None:
            self._recent[idempotency_key] = (task.task_id, this)
            while len(self._recent) > 100_000:
                self._recent.popitem(last=False)
            self._inflight.pop(idempotency_key, None)
            mine.set_result(task.task_id)
        return task, True

    async def _publish(
        self,
        agent: str,
        payload: dict[str, Any],
        header: bytes,
        parsed: Any,
        payload_schema: Any,
        *,
        budget: Budget,
        tenant: str,
        submitted_by: str,
        idempotency_key: str | None,
        labels: dict[str, str],
    ) -> TaskSubmitted:
        data = _with_defaults(payload_schema, payload)
        task_id = task_id_for(idempotency_key) if idempotency_key else new_id()
        now = utcnow()
        handoff = {
            "task_id": task_id,
            "handoff_id": task_id,
            "parent_id": None,
            "from_agent": submitted_by,
            "to_agent": agent,
            "hop": 0,
            "created_at": now,
            "tenant": tenant,
            # What agents enforce locally before each call; the ledger derives the same.
            "budget": to_datum(
                effective_budget(budget, self.policy.limits_for(tenant, agent), now)
            ),
            "context": [],
            "idempotency_key": idempotency_key or task_id,
            "payload": data,
        }
        try:
            validate(handoff, parsed, raise_errors=True, strict=True)
        except AvroValidationError as exc:
            field, problem = _problem(exc, self._names.get(agent, ""))
            raise PayloadRejected(
                field, f"input does not fit {agent!r}'s input schema: {problem}"
            ) from None
        try:
            task = TaskSubmitted(
                task_id=task_id,
                tenant=tenant,
                entry_agent=agent,
                input_json=orjson.dumps(payload).decode(),
                budget=budget,
                submitted_at=now,
                submitted_by=submitted_by,
                idempotency_key=idempotency_key,
                labels=labels,
            )
            task_value = self.task_codec.encode(task)
            buf = io.BytesIO()
            buf.write(header)
            schemaless_writer(buf, parsed, handoff)
        except (TypeError, ValueError, OverflowError) as exc:
            # Whatever `unencodable` missed is still the input's fault, not a server error.
            raise PayloadRejected(
                "payload", f"input cannot be written as JSON and Avro: {exc}"
            ) from None
        key = task_id.encode()
        await self._writer.write(
            [
                (self.topics.tasks, key, task_value),
                (self.topics.agent(agent), key, buf.getvalue()),
            ]
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


def _fingerprint(agent: str, tenant: str, payload: Any, payload_schema: Any) -> Fingerprint:
    """The request an Idempotency-Key names. Defaults are filled in and integral floats
    read as integers, so the same input written by another client (the CLI writes every
    field, 5 as 5.0) is the same request."""
    data = payload if payload_schema is None else _with_defaults(payload_schema, payload)
    text = orjson.dumps([agent, tenant, _canonical(data)], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).digest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _with_defaults(schema: Any, data: Any) -> Any:
    """``data`` with every missing record field that has a default filled in (recursively)."""
    if isinstance(schema, dict) and schema.get("type") == "record" and isinstance(data, dict):
        out = dict(data)
        for f in schema["fields"]:
            if f["name"] not in out and "default" in f:
                out[f["name"]] = f["default"]
            if f["name"] in out:
                out[f["name"]] = _with_defaults(f["type"], out[f["name"]])
        return out
    if isinstance(schema, list) and data is not None:
        for branch in schema:
            if (
                isinstance(branch, dict)
                and branch.get("type") == "record"
                and isinstance(data, dict)
            ):
                return _with_defaults(branch, data)
    return data


def _fullname(schema: Any) -> str:
    if isinstance(schema, dict) and "name" in schema:
        name = str(schema["name"])
        namespace = schema.get("namespace")
        return name if "." in name or not namespace else f"{namespace}.{name}"
    return ""


def _problem(exc: AvroValidationError, payload_name: str) -> tuple[str, str]:
    """(the payload field at fault, what is wrong with it). fastavro names fields by their
    record's full name (``dev.agentmesh.Refund.order``); the client knows them as ``order``."""
    found = list(getattr(exc, "errors", None) or [])
    if not found:
        return "payload", str(exc)
    first = found[0]
    field = str(getattr(first, "field", "") or "")
    if payload_name and field.startswith(payload_name + "."):
        field = field[len(payload_name) + 1 :]
    elif field == payload_name or not field:
        field = "payload"
    datum = getattr(first, "datum", None)
    expected = getattr(first, "schema", None)
    shown = "missing" if datum is None else f"{datum!r}"
    return field, f"{field}: {shown}, expected {expected}"
