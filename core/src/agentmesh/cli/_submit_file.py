"""``agentmesh task submit --file``: many tasks, one JSON object per line.

Each line's outcome is printed in the file's order, as soon as it is known: its task id, or
why it was refused (a line that is not JSON, a field the line format does not have, an
input the agent's model refuses) or not written. A bad line never stops the others.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from agentmesh.cli._output import err_console, fail, out_console
from agentmesh.cli._remote import run
from agentmesh.cli._submit import Limits, mesh_for
from agentmesh.core import get_settings

if TYPE_CHECKING:
    from agentmesh.agents import Submission, Submitter
    from agentmesh.cli._gateway_client import GatewayClient

__all__ = ["submit_file"]

_CHUNK = 500  # lines handed to the submitter at once (each chunk is one or more commits)
_IN_FLIGHT = 4  # chunks being written while the next is read
_REMOTE_CONCURRENCY = 32  # requests in flight to a gateway (it groups them in transactions)


class Line(BaseModel):
    """One line of a ``--file``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str | None = Field(default=None, min_length=1)
    input: dict[str, Any]
    tenant: str | None = Field(default=None, min_length=1)
    budget: Limits | None = None
    idempotency_key: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    """A line with the command line's defaults filled in."""

    agent: str
    input: dict[str, Any]
    tenant: str
    limits: Limits
    idempotency_key: str | None
    labels: dict[str, str]


class Refused(Exception):
    """A line that is not a task: the message says why, ``field`` where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def submit_file(
    path: str,
    defaults: dict[str, Any],
    *,
    app: str | None,
    gateway: str | None,
    token: str | None,
    json_out: bool,
) -> None:
    """Submit every line of ``path`` (``-``: stdin); exit 0, 2 (some refused) or 1 (some not
    written)."""
    report = Report(json_out)
    with _opened(path, json_out) as lines:
        if gateway:
            work = _via_gateway(lines, defaults, report, gateway, token)
        else:
            settings = get_settings()
            work = _direct(lines, defaults, report, mesh_for(app, settings, json_out), settings)
        run(work, json_mode=json_out, doing=f"submit the tasks of {path}")
    report.finish()


@contextmanager
def _opened(path: str, json_out: bool) -> Iterator[Iterator[tuple[int, str]]]:
    """(line number, text) of each line that is not blank."""
    try:
        handle: IO[str] = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        fail(f"--file {path}: {exc.strerror or exc}", json_mode=json_out, code=2)
    try:
        yield ((n, text) for n, text in enumerate(handle, 1) if text.strip())
    finally:
        if handle is not sys.stdin:
            handle.close()


def parse_line(text: str, defaults: dict[str, Any]) -> Task:
    """The line as a task, with the command line's defaults filled in; :class:`Refused`
    naming the field when it is not one."""
    from agentmesh.core.submission import InputRejected, check_input

    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Refused(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Refused(f"not a JSON object but {type(data).__name__}: one task per line")
    try:
        line = check_input(Line, data, at="")
    except InputRejected as exc:
        raise Refused(str(exc), exc.field) from None
    agent = line.agent or defaults["agent"]
    if agent is None:
        raise Refused('no agent: name it on the line ("agent") or give AGENT', "agent")
    limits = line.budget or defaults["limits"]
    tenant = line.tenant or defaults["tenant"]
    return Task(agent, line.input, tenant, limits, line.idempotency_key, line.labels)


def _submission(task: Task) -> Submission:
    from agentmesh.agents import Submission

    return Submission(
        task.agent,
        task.input,
        budget=task.limits.budget(),
        tenant=task.tenant,
        idempotency_key=task.idempotency_key,
        labels=task.labels,
    )


async def _direct(
    lines: Iterator[tuple[int, str]],
    defaults: dict[str, Any],
    report: Report,
    mesh: Any,
    settings: Any,
) -> None:
    """Straight to Kafka through one Submitter: chunks are written while the next are read,
    and reported in the file's order."""
    from agentmesh.agents import Submitter

    async with Submitter(settings, mesh, submitted_by="cli") as submitter:
        report.begin()
        pending: deque[asyncio.Task[list[tuple[int, Any]]]] = deque()
        for chunk in _chunks(lines):
            pending.append(asyncio.create_task(_chunk(submitter, chunk, defaults)))
            if len(pending) >= _IN_FLIGHT:
                report.all(await pending.popleft())
        while pending:
            report.all(await pending.popleft())


async def _chunk(
    submitter: Submitter, chunk: list[tuple[int, str]], defaults: dict[str, Any]
) -> list[tuple[int, Any]]:
    """(line number, its task or why not) of each line of ``chunk``."""
    parsed: list[tuple[int, Task | Refused]] = []
    for n, text in chunk:
        try:
            parsed.append((n, parse_line(text, defaults)))
        except Refused as exc:
            parsed.append((n, exc))
    tasks = [p for _, p in parsed if isinstance(p, Task)]
    results = iter(await submitter.submit_many(_submission(task) for task in tasks))
    return [(n, p if isinstance(p, Refused) else next(results)) for n, p in parsed]


def _chunks(lines: Iterator[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for item in lines:
        chunk.append(item)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _via_gateway(
    lines: Iterator[tuple[int, str]],
    defaults: dict[str, Any],
    report: Report,
    gateway: str,
    token: str | None,
) -> None:
    """One request per line, many in flight; outcomes reported in the file's order."""
    from agentmesh.cli._gateway_client import GatewayClient

    async with GatewayClient(gateway, token) as gw:
        report.begin()
        pending: deque[asyncio.Task[Any]] = deque()
        numbers: deque[int] = deque()
        async for n, text in _aiter(lines):
            numbers.append(n)
            pending.append(asyncio.create_task(_post(gw, text, defaults)))
            if len(pending) >= _REMOTE_CONCURRENCY:
                report.ready(numbers.popleft(), await pending.popleft())
        while pending:
            report.ready(numbers.popleft(), await pending.popleft())


async def _aiter(lines: Iterator[tuple[int, str]]) -> AsyncIterator[tuple[int, str]]:
    for item in lines:
        yield item


async def _post(gw: GatewayClient, text: str, defaults: dict[str, Any]) -> Any:
    """The gateway's answer to one line, or the Refused/GatewayError that stands for it."""
    from agentmesh.cli._gateway_client import GatewayError

    try:
        task = parse_line(text, defaults)
    except Refused as exc:
        return exc
    body: dict[str, Any] = {"agent": task.agent, "input": task.input, "tenant": task.tenant}
    if task.labels:
        body["labels"] = task.labels
    if task.limits.body():
        body["budget"] = task.limits.body()
    key = task.idempotency_key
    try:
        return await gw.call(
            "POST", "/v1/tasks", json=body, headers={"Idempotency-Key": key} if key else None
        )
    except GatewayError as exc:
        if exc.status in (404, 409, 413, 422):
            return Refused(str(exc))
        raise  # the gateway itself failed (token, role, down): every line would


class Report:
    """What happened to each line, in order, on stdout; progress and the tally on stderr."""

    _EVERY_S = 2.0

    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.counts = {"submitted": 0, "refused": 0, "failed": 0}
        self.started: float | None = None
        self._said = 0.0

    def begin(self) -> None:
        """Submitting starts now: rates leave start-up (imports, connecting) out."""
        self.started = self._said = time.monotonic()

    def all(self, outcomes: list[tuple[int, Any]]) -> None:
        for line, result in outcomes:
            self.ready(line, result)

    def ready(self, line: int, result: Any) -> None:
        """Report ``line``'s outcome: a TaskSubmitted, the gateway's answer, or an error."""
        from agentmesh.agents import AgentError, UnknownAgentError
        from agentmesh.core.submission import InputRejected

        if isinstance(result, Refused | InputRejected | AgentError):
            unknown = isinstance(result, UnknownAgentError)
            field = "agent" if unknown else getattr(result, "field", None)
            self._print(line, "refused", {"ok": False, "error": str(result), "field": field})
        elif isinstance(result, Exception):
            error = f"not written: {type(result).__name__}: {result}; submit it again"
            self._print(line, "failed", {"ok": False, "error": error, "field": None})
        else:
            task_id = result["task_id"] if isinstance(result, dict) else result.task_id
            self._print(line, "submitted", {"ok": True, "task_id": task_id})
        now = time.monotonic()
        if now - self._said >= self._EVERY_S:
            self._said = now
            err_console.print(f"[dim]... {self._tally(now)}[/]", highlight=False)

    def _print(self, line: int, outcome: str, record: dict[str, Any]) -> None:
        self.counts[outcome] += 1
        if self.json_out:
            sys.stdout.write(orjson.dumps({"line": line, **record}).decode() + "\n")
        elif record["ok"]:
            out_console.print(f"line {line}: {record['task_id']}", highlight=False)
        else:
            text = f"line {line}: {outcome}: {record['error']}"
            out_console.print(text, highlight=False, soft_wrap=True, markup=False)

    def _tally(self, now: float) -> str:
        c = self.counts
        lines = sum(c.values())
        tally = (
            f"{lines:,} lines: {c['submitted']:,} submitted, {c['refused']:,} refused, "
            f"{c['failed']:,} not written"
        )
        took = now - (self.started or now)
        return f"{tally} ({c['submitted'] / took:,.0f} tasks/s)" if took >= 1 else tally

    def finish(self) -> None:
        """The tally on stderr; the exit status says whether every line was submitted."""
        import typer

        sys.stdout.flush()
        err_console.print(self._tally(time.monotonic()), highlight=False)
        if self.counts["failed"]:
            raise typer.Exit(1)
        if self.counts["refused"]:
            raise typer.Exit(2)
