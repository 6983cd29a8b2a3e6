"""Cost of one agentmesh hop against raw aiokafka, on a real broker.

``.venv/bin/python -m bench.hop [--latency-samples 300] [--load 20000] [--repeats 5] [--json]``
runs three forwarders side by side in one process, against one broker, each from its own
input topic to its own output topic (same partitions, same client settings):

(a) raw aiokafka consume-process-produce with agentmesh's guarantees: ``read_committed``
    group consumer, one transactional producer per input partition, the batch's offsets sent
    to its transaction, one commit per partition batch; "process" forwards the bytes;
(b) one agentmesh hop: an AgentWorker whose handler returns ``ctx.handoff("sink", payload)``
    (Avro decode and validation, encode, three events, tracing with the no-op OpenTelemetry);
(c) raw non-transactional ping-pong: consume, produce back with the idempotent ``acks=all``
    producer, await the acks.

For each it measures the hop latency with one message in flight (send one input, wait until a
``read_committed`` reader sees its output) and the throughput under load (commit M inputs at
once, time until all M outputs are visible). Cases take turns in every repeat, like
``bench.codec``. Needs the broker and registry: ``.venv/bin/agentmesh infra up``.

``--trace RATIO`` measures the cost of observability: the process configures the OpenTelemetry
SDK as every agentmesh process does from ``OTEL_*`` (``parentbased_traceidratio`` at RATIO,
batch span processor, OTLP/HTTP) and (b) exports its spans to ``--otlp-endpoint`` (a Jaeger,
a collector) or, by default, to a sink process that drops them. Compare (b)/(a) of runs with
``--trace 1``, ``--trace 0.01`` and without ``--trace`` (no SDK at all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from agentmesh.agents._worker import WorkerOptions
from agentmesh.contracts import Codec, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ProducerOptions,
    make_producer,
)
from bench._hop_cases import MESH, AgentmeshHop, Forwarder, PingPong, TxnForwarder, ensure_pair
from bench._hop_driver import (
    Drain,
    InputMaker,
    Probe,
    RetryCounter,
    Sample,
    UnreachableError,
    check_reachable,
    delete_namespace,
    drain,
    hop_samples,
    stage_breakdown,
)
from bench._hop_report import CaseResult, Report, render
from bench._stats import Measurement, positive_int

__all__ = ["Config", "main", "run"]

CASES = {
    "a": "(a) aiokafka transactional",
    "b": "(b) agentmesh hop",
    "c": "(c) aiokafka non-transactional",
}


@dataclass(frozen=True)
class Config:
    """One run's sizes and where it runs."""

    settings: Settings
    latency_samples: int
    load: int
    repeats: int
    partitions: int = 6
    max_batch: int = 500
    keep_topics: bool = False


@dataclass
class _Rig:
    """The three running cases and the clients that feed and watch them."""

    cases: dict[str, Forwarder]
    probes: dict[str, Probe]
    feeder: AIOKafkaProducer
    loader: AIOKafkaProducer
    inputs: InputMaker
    baseline: TxnForwarder


@dataclass
class _Tally:
    """Everything measured so far, per case."""

    hops: dict[str, list[Sample]] = field(default_factory=lambda: {k: [] for k in CASES})
    drains: dict[str, list[Drain]] = field(default_factory=lambda: {k: [] for k in CASES})
    stages: list[dict[str, float]] = field(default_factory=list)
    retries: RetryCounter = field(default_factory=RetryCounter)


def progress(message: str) -> None:
    print(f"[bench.hop] {message}", file=sys.stderr, flush=True)


async def run(config: Config) -> Report:
    """Start the three cases, measure them in turns, stop them, return the report."""
    await check_reachable(config.settings)
    tally = _Tally()
    try:
        with tally.retries.installed():
            async with contextlib.AsyncExitStack() as stack:
                rig = await _start(config, stack)
                for rep in range(1, config.repeats + 1):
                    await _one_repeat(rig, config, tally, rep)
    finally:
        if not config.keep_topics:
            with contextlib.suppress(Exception):
                await delete_namespace(config.settings)
    return _report(config, tally)


async def _start(config: Config, stack: contextlib.AsyncExitStack) -> _Rig:
    """Start every case and client (each stopped by ``stack``), then warm each case up."""
    settings, ns, parts = config.settings, config.settings.namespace, config.partitions
    conn = KafkaConnection.from_settings(settings)
    registry = SchemaRegistry(settings.registry_url)
    stack.push_async_callback(registry.close)
    codec = Codec(MESH.inbox_model("hop"), Topics.subject(Topics(ns).agent("hop")), registry)
    await codec.register()
    raw = {k: (f"{ns}.bench.{k}.in", f"{ns}.bench.{k}.out") for k in ("a", "c")}
    await ensure_pair(settings, [t for pair in raw.values() for t in pair], parts)
    baseline = TxnForwarder(settings, *raw["a"], max_batch=config.max_batch)
    rig = _Rig(
        cases={
            "a": baseline,
            "b": AgentmeshHop(
                settings, WorkerOptions(max_batch=config.max_batch, partitions=parts)
            ),
            "c": PingPong(settings, *raw["c"], max_batch=config.max_batch, partitions=parts),
        },
        probes={},
        feeder=make_producer(conn, ProducerOptions(linger_ms=0, client_suffix="bench-feed")),
        loader=make_producer(
            conn, ProducerOptions(transactional_id=f"{ns}.bench.loader", client_suffix="bench-load")
        ),
        inputs=InputMaker(codec),
        baseline=baseline,
    )
    for client in (rig.feeder, rig.loader):
        await client.start()
        stack.push_async_callback(client.stop)
    for key, case in rig.cases.items():
        progress(f"starting {CASES[key]}")
        await case.start()
        stack.push_async_callback(case.stop)
        rig.probes[key] = probe = Probe(conn, case.output_topic, parts)
        await probe.start()
        stack.push_async_callback(probe.stop)
        # Untimed: first transactions, connections and lazy set-up on every partition.
        await hop_samples(rig.feeder, probe, case.input_topic, rig.inputs.covering(parts, 2))
        warm = rig.inputs.make(min(config.load, 1000))
        await drain(rig.loader, probe, case.input_topic, warm, timeout_s=120)
    return rig


async def _one_repeat(rig: _Rig, config: Config, tally: _Tally, rep: int) -> None:
    """Latency of a, b, c in turns, then throughput of a, b, c in turns, on fresh inputs."""
    inputs = rig.inputs.make(config.latency_samples + config.load)
    one_by_one, load = inputs[: config.latency_samples], inputs[config.latency_samples :]
    for key, case in rig.cases.items():
        progress(f"repeat {rep}/{config.repeats}: {CASES[key]}: {len(one_by_one)} hops")
        tally.retries.current = key
        rig.baseline.stages.clear()
        samples = await hop_samples(rig.feeder, rig.probes[key], case.input_topic, one_by_one)
        tally.hops[key].extend(samples)
        if key == "a" and (stages := stage_breakdown(samples, rig.baseline.stages)) is not None:
            tally.stages.append(stages)
    for key, case in rig.cases.items():
        progress(f"repeat {rep}/{config.repeats}: {CASES[key]}: {len(load):,} inputs at once")
        tally.retries.current = key
        timeout = 120.0 + len(load) / 100
        tally.drains[key].append(
            await drain(rig.loader, rig.probes[key], case.input_topic, load, timeout_s=timeout)
        )
    tally.retries.current = ""


def _report(config: Config, tally: _Tally) -> Report:
    rows = tuple(
        CaseResult(
            key=k,
            name=name,
            latencies_s=tuple(s.latency_s for s in tally.hops[k]),
            drain=Measurement(name, tuple(d.wall_s / config.load for d in tally.drains[k])),
            cpu_s_per_handoff=statistics.median(d.cpu_s / config.load for d in tally.drains[k]),
            produce_retries=tally.retries.counts.get(k, 0),
        )
        for k, name in CASES.items()
    )
    # The repeat whose total is the median: its stages add up, unlike medians per stage.
    stages = sorted(tally.stages, key=lambda b: sum(b.values()))
    return Report(
        rows=rows,
        latency_samples=config.latency_samples,
        load=config.load,
        repeats=config.repeats,
        partitions=config.partitions,
        max_batch=config.max_batch,
        namespace=config.settings.namespace,
        bootstrap=config.settings.bootstrap,
        consumer=ConsumerOptions(),
        baseline_stages=stages[len(stages) // 2] if stages else None,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hop",
        description="Latency and throughput of one agentmesh hop against raw aiokafka "
        "(transactional, and non-transactional), on a real Kafka broker. "
        "Start one with `.venv/bin/agentmesh infra up`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # The defaults take about 2 to 3 minutes in all on a 2-core machine.
    parser.add_argument(
        "--latency-samples",
        type=positive_int,
        default=300,
        help="hops timed one at a time, per case and repeat",
    )
    parser.add_argument(
        "--load", type=positive_int, default=20_000, help="inputs per throughput run (M)"
    )
    parser.add_argument("--repeats", type=positive_int, default=5, help="turns of a, b, c")
    parser.add_argument(
        "--partitions", type=positive_int, default=6, help="of every input and output topic"
    )
    parser.add_argument(
        "--max-batch", type=positive_int, default=500, help="inputs per transaction at most"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    parser.add_argument("--registry-url", help="schema registry URL (default: settings)")
    parser.add_argument(
        "--namespace",
        help="topic prefix (default: a fresh bench-hop-<uuid>, whose topics are deleted at "
        "the end; a given namespace's topics are kept)",
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the fresh namespace's topics too"
    )
    parser.add_argument(
        "--trace",
        type=_ratio,
        metavar="RATIO",
        help="trace with the OpenTelemetry SDK, sampling RATIO (0..1) of hops (default: no SDK)",
    )
    parser.add_argument(
        "--otlp-endpoint",
        help="OTLP/HTTP endpoint for --trace, e.g. a Jaeger's http://127.0.0.1:4318 "
        "(default: a sink process that drops what it receives)",
    )
    return parser


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a ratio between 0 and 1")
    return value


@contextlib.contextmanager
def _tracing(ratio: float | None, endpoint: str | None) -> Iterator[str]:
    """The SDK configured as an agentmesh process configures it from OTEL_*; yields what."""
    if ratio is None:
        yield "off (no OpenTelemetry SDK)"
        return
    from agentmesh.core.telemetry import configure_tracing, shutdown_tracing

    sink = None
    if endpoint is None:
        sink = subprocess.Popen(
            [sys.executable, "-m", "bench._otlp_sink"], stdout=subprocess.PIPE, text=True
        )
        assert sink.stdout is not None
        endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
    os.environ.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(ratio),
        }
    )
    configure_tracing("bench.hop")
    try:
        yield f"sampling {ratio:.0%} (parent-based), batch-exported over OTLP/HTTP to {endpoint}"
    finally:
        shutdown_tracing()
        if sink is not None:
            sink.kill()
            sink.wait()


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "namespace": args.namespace or f"bench-hop-{uuid.uuid4().hex[:12]}"
    }
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    if args.registry_url:
        overrides["schema_registry_url"] = args.registry_url
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 2 when the broker or registry is unreachable."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = Config(
        settings=_settings(args),
        latency_samples=args.latency_samples,
        load=args.load,
        repeats=args.repeats,
        partitions=args.partitions,
        max_batch=args.max_batch,
        # Never delete the topics of a namespace someone named: they may not be ours alone.
        keep_topics=args.keep_topics or args.namespace is not None,
    )
    try:
        with _tracing(args.trace, args.otlp_endpoint) as tracing:
            progress(f"tracing: {tracing}")
            report = asyncio.run(run(config))
    except UnreachableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        found = {**report.as_dict(), "tracing": tracing}
        print(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
        print(f"tracing: {tracing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
