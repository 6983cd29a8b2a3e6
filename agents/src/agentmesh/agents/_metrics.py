"""What an agent process counts about its own work, for Prometheus.

An agent counts only what it did itself: its steps (once their transaction commits, so a
batch that aborts and runs again is counted once), the model and tool calls it paid for
(a call answered from the journal after a crash is not paid again, and not counted again),
its dead letters, its transactions and its consumer group's lag. The supervisor counts what
the mesh did as a whole from the event stream (tasks, budgets, breakers); the two never
share a metric, so sums across processes count each thing once.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import Counter, Histogram

from agentmesh.agents._interceptors import Call, CallResult, Interceptor, Next
from agentmesh.agents._llm import LlmResponse
from agentmesh.core.metrics import DEAD_LETTERS, BoundedValues, ConsumerLag

__all__ = [
    "LLM_CALLS",
    "LLM_COST",
    "LLM_TOKENS",
    "STEPS",
    "STEP_SECONDS",
    "TOOL_CALLS",
    "TRANSACTIONS",
    "LagReporter",
    "PendingSteps",
    "call_metrics",
    "transaction",
]

# Steps run from milliseconds (routers) to minutes (long model calls).
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

STEPS = Counter(
    "agentmesh_steps",
    "Steps an agent finished (committed), by outcome: result, handoff, waiting, review, "
    "cancelled, dead_lettered",
    ["agent", "outcome"],
)
STEP_SECONDS = Histogram(
    "agentmesh_step_duration_seconds",
    "Time an agent's handler took for a step (steps that ran: result, handoff, waiting, "
    "dead_lettered)",
    ["agent", "outcome"],
    buckets=_STEP_BUCKETS,
)
LLM_CALLS = Counter(
    "agentmesh_llm_calls",
    "Model calls an agent paid for (journal replays excluded), by status ok or error",
    ["agent", "provider", "model", "tenant", "status"],
)
LLM_TOKENS = Counter(
    "agentmesh_llm_tokens",
    "Tokens of paid model calls, by type input or output",
    ["agent", "provider", "model", "tenant", "type"],
)
LLM_COST = Counter(
    "agentmesh_llm_cost_usd",
    "Cost in US dollars of paid model calls (as priced by the provider's price table)",
    ["agent", "provider", "model", "tenant"],
)
LLM_SECONDS = Histogram(
    "agentmesh_llm_call_duration_seconds",
    "Latency of paid model calls",
    ["agent", "provider", "model"],
    buckets=_STEP_BUCKETS,
)
TOOL_CALLS = Counter(
    "agentmesh_tool_calls",
    "Tool calls an agent made (journal replays excluded), by status ok, error or timeout",
    ["agent", "tool", "status"],
)
TOOL_SECONDS = Histogram(
    "agentmesh_tool_call_duration_seconds",
    "Latency of tool calls, retries included",
    ["agent", "tool"],
    buckets=_STEP_BUCKETS,
)
TRANSACTIONS = Counter(
    "agentmesh_transactions",
    "Kafka transactions of an agent's batches, by result committed or aborted (fenced included)",
    ["agent", "result"],
)

# Label values that come from data or configuration outside the operator's hands.
_tenants = BoundedValues(limit=100)
_models = BoundedValues(limit=50)
_providers = BoundedValues(limit=20)
_tools = BoundedValues(limit=100)


def call_metrics(agent: str, tenant: str) -> Interceptor:
    """Count a model or tool call this agent pays for: calls, tokens, cost, latency.

    Sits outside metering (it sees the call's outcome) and inside the gates (a call a budget
    or breaker refused was never made).
    """
    tenant_label = _tenants(tenant)

    async def count(call: Call, proceed: Next) -> CallResult:
        start = time.perf_counter()
        try:
            result = await proceed(call)
        except Exception as exc:
            _failed(agent, tenant_label, call, exc, time.perf_counter() - start)
            raise
        if not result.replayed:
            _succeeded(agent, tenant_label, call, result, time.perf_counter() - start)
        return result

    return count


# Resolving a labelled child takes several microseconds; a call resolves up to six. The
# children of a label set are looked up once (label values are bounded, so is the cache).
@functools.lru_cache(maxsize=4096)
def _tool(agent: str, tool: str, status: str) -> tuple[Any, Any]:
    return TOOL_CALLS.labels(agent, tool, status), TOOL_SECONDS.labels(agent, tool)


@functools.lru_cache(maxsize=4096)
def _model(agent: str, tenant: str, provider: str, model: str, status: str) -> tuple[Any, ...]:
    p, m = _providers(provider), _models(model)
    return (
        LLM_CALLS.labels(agent, p, m, tenant, status),
        LLM_SECONDS.labels(agent, p, m),
        LLM_TOKENS.labels(agent, p, m, tenant, "input"),
        LLM_TOKENS.labels(agent, p, m, tenant, "output"),
        LLM_COST.labels(agent, p, m, tenant),
    )


@functools.lru_cache(maxsize=1024)
def _step(agent: str, outcome: str) -> tuple[Any, Any]:
    return STEPS.labels(agent, outcome), STEP_SECONDS.labels(agent, outcome)


def _succeeded(agent: str, tenant: str, call: Call, result: CallResult, seconds: float) -> None:
    if call.kind == "tool":
        calls, latency = _tool(agent, _tools(call.target), "ok")
        calls.inc()
        latency.observe(seconds)
        return
    resp: LlmResponse = result.value
    _llm(agent, tenant, resp.provider, resp.model, status="ok", resp=resp, seconds=seconds)


def _failed(agent: str, tenant: str, call: Call, exc: BaseException, seconds: float) -> None:
    if call.kind == "tool":
        status = "timeout" if isinstance(exc, TimeoutError) else "error"
        calls, latency = _tool(agent, _tools(call.target), status)
        calls.inc()
        latency.observe(seconds)
        return
    model, request = call.request
    name = request.model or getattr(model, "model", None) or "unknown"
    # A fallback chain that rejected every reply still paid for them (as metering counts).
    replies = [r for r in getattr(exc, "responses", None) or [] if isinstance(r, LlmResponse)]
    _llm(agent, tenant, call.target, name, status="error", resp=None, seconds=seconds)
    for reply in replies:
        _usage(agent, tenant, reply.provider, reply.model, reply)


def _llm(
    agent: str,
    tenant: str,
    provider: str,
    model: str,
    *,
    status: str,
    resp: LlmResponse | None,
    seconds: float,
) -> None:
    calls, latency, *_ = _model(agent, tenant, provider, model, status)
    calls.inc()
    latency.observe(seconds)
    if resp is not None:
        _usage(agent, tenant, provider, model, resp)


def _usage(agent: str, tenant: str, provider: str, model: str, resp: LlmResponse) -> None:
    # Usage does not depend on the status: counted on the "ok" children's label set.
    _, _, tokens_in, tokens_out, cost = _model(agent, tenant, provider, model, "ok")
    tokens_in.inc(resp.input_tokens)
    tokens_out.inc(resp.output_tokens)
    if resp.cost_usd is not None:
        cost.inc(float(resp.cost_usd))


def transaction(agent: str, committed: bool) -> None:
    """One batch transaction ended."""
    TRANSACTIONS.labels(agent, "committed" if committed else "aborted").inc()


class PendingSteps:
    """Steps and dead letters of open transactions, per input partition: counted when the
    transaction commits, dropped when it aborts (the inputs run again and count then)."""

    def __init__(self) -> None:
        self._steps: dict[int, list[tuple[str, float]]] = {}
        self._letters: dict[int, list[str]] = {}

    def step(self, partition: int, outcome: str, duration_ms: float) -> None:
        self._steps.setdefault(partition, []).append((outcome, duration_ms))

    def dead_letter(self, partition: int, stage: str) -> None:
        self._letters.setdefault(partition, []).append(stage)

    def committed(self, partition: int, agent: str) -> None:
        for outcome, duration_ms in self._steps.pop(partition, ()):
            steps, latency = _step(agent, outcome)
            steps.inc()
            # Parked and cancelled steps did not run their handler: no latency to show.
            if outcome not in ("review", "cancelled"):
                latency.observe(duration_ms / 1000)
        for stage in self._letters.pop(partition, ()):
            DEAD_LETTERS.labels(agent, stage).inc()

    def discard(self, partition: int) -> None:
        self._steps.pop(partition, None)
        self._letters.pop(partition, None)


class LagReporter:
    """The worker's consumer group lag on the partitions it owns, at most once per period.

    Lag is the partition's end (its last stable offset: the worker reads committed data)
    minus what the group committed. Every transaction leaves a commit marker at the end
    that no record is delivered for; the consumer's position has moved past such markers,
    so when no batch is in flight the committed position counts as at least the consumer's
    position, and an idle group shows lag 0.
    """

    def __init__(self, group: str, period_s: float = 1.0) -> None:
        self.lag = ConsumerLag(group)
        self.period_s = period_s
        self._last = 0.0

    async def report(self, consumer: AIOKafkaConsumer, committed: Mapping[int, Any]) -> None:
        now = time.monotonic()
        if now - self._last < self.period_s:
            return
        self._last = now
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            end = consumer.last_stable_offset(tp)
            if tp.partition not in committed or end is None:
                continue  # not adopted yet, or nothing fetched yet
            # None: adopted, but the group never committed on it (no input yet): the consumer
            # reads it from the beginning, so what lies past its position is the lag.
            done = committed[tp.partition]
            try:
                async with asyncio.timeout(1.0):
                    position = await consumer.position(tp)
            except Exception:  # noqa: BLE001 - a position not known now is known next time
                if done is None:
                    continue
                position = done
            lags[(tp.topic, tp.partition)] = end - (
                position if done is None else max(done, position)
            )
        self.lag.set(lags)
