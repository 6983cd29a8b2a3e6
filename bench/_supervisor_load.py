"""The supervisor benchmark's workload: a policy with every limit on, and a mesh's events.

Both cases read the same backlog: ``<ns>.events`` filled with Avro :class:`AgentEvent`
records before either starts. The mix is a busy mesh's: half metered model calls (tokens and
cost), a quarter tool calls, a quarter ``step_finished`` with one handoff each, spread over a
few hundred tasks, agents and tenants. Nothing in it breaches the policy, so what is measured
is the fold itself, not the reactions to a breach.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from agentmesh.contracts import (
    AgentEvent,
    Codec,
    EmittedHandoff,
    LlmCall,
    SchemaRegistry,
    StepFinished,
    ToolCall,
    Topics,
)
from agentmesh.core import Settings
from agentmesh.core.policy import (
    BreakerPolicy,
    BudgetPolicy,
    Limits,
    LoopPolicy,
    Policy,
    SpendLimit,
    TenantPolicy,
)
from agentmesh.core.transport import KafkaConnection, ProducerOptions, make_producer

__all__ = ["TENANTS", "Mix", "bench_policy", "fill_events", "make_events"]

TENANTS = ("acme", "globex", "initech")
_AGENTS = ("researcher", "writer", "critic", "planner")
_TOOLS = ("search", "fetch_page", "calculator")
_MODELS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku"))


def bench_policy() -> Policy:
    """Budgets, loop limits, breakers and tenant spend limits all on, none ever reached."""
    return Policy(
        budgets=BudgetPolicy(
            default=Limits(
                max_steps=1_000_000,
                max_tokens=10**12,
                max_cost_usd=Decimal(1_000_000),
                max_hops=1_000,
                deadline_s=86_400.0,
            ),
            tenants={
                t: TenantPolicy(spend_limit=SpendLimit(usd=Decimal(10**9), period_s=86_400.0))
                for t in TENANTS
            },
        ),
        loops=LoopPolicy(max_repeats=3),
        breakers=BreakerPolicy(window_s=60.0, window_calls=20, min_calls=5, failure_rate=0.5),
    )


@dataclass(frozen=True)
class Mix:
    """What the backlog holds, for the report."""

    events: int
    tasks: int
    kinds: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {"events": self.events, "tasks": self.tasks, "kinds": self.kinds}


def make_events(n: int, tasks: int, seed: int = 7) -> list[AgentEvent]:
    """``n`` events of a mesh at work, over ``tasks`` task ids (deterministic for a seed)."""
    rng = random.Random(seed)
    task_ids = [f"task-{i:05d}" for i in range(tasks)]
    tenant_of = {t: TENANTS[i % len(TENANTS)] for i, t in enumerate(task_ids)}
    steps: Counter[str] = Counter()
    events = []
    for seq in range(n):
        task = rng.choice(task_ids)
        agent = rng.choice(_AGENTS)
        roll = rng.random()
        body: LlmCall | ToolCall | StepFinished
        if roll < 0.5:
            provider, model = rng.choice(_MODELS)
            tokens_in, tokens_out = rng.randint(200, 4000), rng.randint(20, 800)
            failed = rng.random() < 0.01  # a few failures: breakers see both outcomes
            body = LlmCall(
                call_id=f"llm-{seq}",
                provider=provider,
                model=model,
                prompt_name=agent,
                prompt_version="v1",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=Decimal(tokens_in * 15 + tokens_out * 60) / Decimal(100_000_000),
                latency_ms=rng.uniform(200, 3000),
                status="error" if failed else "ok",
                error="rate limited" if failed else None,
            )
        elif roll < 0.75:
            body = ToolCall(
                call_id=f"tool-{seq}",
                tool=rng.choice(_TOOLS),
                status="ok",
                latency_ms=rng.uniform(5, 500),
            )
        else:
            steps[task] += 1
            to_agent = rng.choice(_AGENTS)
            body = StepFinished(
                handoff_id=f"h-{task}-{steps[task]}",
                outcome="handoff",
                duration_ms=rng.uniform(300, 8000),
                input_topic="bench.agent.in",
                input_partition=seq % 6,
                input_offset=seq,
                attempts=1,
                handoffs=[
                    EmittedHandoff(
                        handoff_id=f"h-{task}-{steps[task]}-out",
                        to_agent=to_agent,
                        hop=min(steps[task], 50),
                        # Distinct content every time: a loop would stop the task.
                        payload_hash=f"{rng.getrandbits(256):064x}",
                        size_bytes=rng.randint(500, 4000),
                    )
                ],
            )
        events.append(
            AgentEvent(
                task_id=task,
                agent=agent,
                instance=f"{agent}-1",
                seq=seq,
                tenant=tenant_of[task],
                step=steps[task],
                trace_id=f"{rng.getrandbits(128):032x}",
                body=body,
            )
        )
    return events


async def fill_events(settings: Settings, events: list[AgentEvent]) -> Mix:
    """Write ``events`` to ``<ns>.events``, keyed by task id, and wait until all are acked."""
    topic = Topics(settings.namespace).events
    registry = SchemaRegistry(settings.registry_url)
    producer = make_producer(
        KafkaConnection.from_settings(settings),
        ProducerOptions(linger_ms=20, client_suffix="bench-fill"),
    )
    try:
        codec = Codec(AgentEvent, Topics.subject(topic), registry)
        await codec.register()
        await producer.start()
        pending = []
        for event in events:
            pending.append(
                await producer.send(topic, codec.encode(event), key=event.task_id.encode())
            )
            if len(pending) >= 2_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
        await registry.close()
    kinds = Counter(e.body.kind for e in events)
    return Mix(len(events), len({e.task_id for e in events}), dict(sorted(kinds.items())))
