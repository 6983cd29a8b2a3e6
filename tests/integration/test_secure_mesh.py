"""`agentmesh infra up --secure` + `agentmesh acl apply`: each process its own principal, and
the broker refuses what the mesh's ACLs do not allow.

One test on its own secure broker (its own data directory and ports; the suite's plaintext
broker is untouched): starting one is the slow part, so everything is checked on the one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.security import credentials_from_env, read_env_file
from agentmesh.core.topics import TopicCatalog
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    ProducerOptions,
    ensure_topics,
    make_consumer,
    make_producer,
)
from agentmesh_examples.research import DEMO_INPUT, DEMO_POLICY
from tests.ports import free_port
from tests.runtime_helpers import AgentProcess, events_of
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]

APP = "agentmesh_examples.research:mesh"
AGENTS = ("planner", "researcher", "writer", "reviewer")


@dataclass
class SecureBroker:
    env: dict[str, str]  # selects this broker's data dir and ports, and the namespace
    credentials: dict[str, Path]  # role → env file
    registry_url: str
    namespace: str

    def cli(self, *args: str, role: str = "admin") -> subprocess.CompletedProcess[str]:
        env = {**self.env, **read_env_file(self.credentials[role])}
        return subprocess.run(
            [sys.executable, "-m", "agentmesh.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def identity(self, role: str) -> dict[str, str]:
        return read_env_file(self.credentials[role])

    def settings(self, role: str) -> Settings:
        creds = credentials_from_env(self.identity(role))
        return Settings(
            kafka_bootstrap=creds.bootstrap,
            schema_registry_url=self.registry_url,
            namespace=self.namespace,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=creds.username,
            kafka_sasl_password=creds.password,
        )


@pytest.fixture
def secure(cluster: object, settings: Settings, tmp_path: Path) -> Iterator[SecureBroker]:
    """A secure broker of its own, the sample mesh's principals and ACLs applied."""
    namespace = f"s{uuid.uuid4().hex[:10]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_KAFKA")},
        "AGENTMESH_DATA_DIR": str(tmp_path / "data"),
        "AGENTMESH_KAFKA_SECURE_PORT": str(free_port()),
        "AGENTMESH_KAFKA_SECURE_CONTROLLER_PORT": str(free_port()),
        "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,  # the registry keeps no Kafka data
        "AGENTMESH_NAMESPACE": namespace,
        "COLUMNS": "200",
    }
    up = subprocess.run(
        [sys.executable, "-m", "agentmesh.cli", "infra", "up", "--secure", "--app", APP, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        files = {role: Path(p) for role, p in json.loads(up.stdout)["credentials"].items()}
        broker = SecureBroker(env, files, settings.registry_url, namespace)
        yield broker
    finally:
        subprocess.run(
            [sys.executable, "-m", "agentmesh.cli", "infra", "down", "--secure"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )


def test_secure_mesh_runs_the_demo_and_the_broker_refuses_what_acls_do_not_allow(
    secure: SecureBroker, tmp_path: Path
) -> None:
    files = secure.credentials
    assert sorted(files) == sorted(
        ["admin", "supervisor", "gateway", *(f"agent:{a}" for a in AGENTS)]
    )
    assert {oct(p.stat().st_mode & 0o777) for p in files.values()} == {"0o600"}

    # Without ACLs, an agent's principal may do nothing at all (not even get a producer id:
    # an idempotent producer needs WRITE on some topic).
    planner = KafkaConnection.from_settings(secure.settings("agent:planner"))
    ns = Topics(secure.namespace)
    with pytest.raises(ClusterAuthorizationFailedError):
        asyncio.run(_produce(planner, ns.events))

    applied = secure.cli("acl", "apply", "--app", APP, "--json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    planned = len(json.loads(secure.cli("acl", "plan", "--app", APP, "--json").stdout)["acls"])
    first = json.loads(applied.stdout)
    assert (len(first["created"]), first["already_present"]) == (planned, 0)
    again = json.loads(secure.cli("acl", "apply", "--app", APP, "--json").stdout)
    assert (again["created"], again["already_present"]) == ([], planned)

    # One partition per topic (created as the admin): fewer partitions for each agent to
    # adopt on a busy machine. The processes still ask to create them, which needs the plan's
    # CREATE grants (Kafka checks them before it looks whether a topic exists).
    asyncio.run(_create_topics(secure.settings("admin")))
    task_id = _run_demo_task(secure, tmp_path)
    assert task_id

    # The planner's own credentials: what it may do works, everything else is refused.
    asyncio.run(_produce(planner, ns.agent("researcher")))  # its declared edge
    asyncio.run(_produce(planner, ns.events, txn=f"{ns.agent('planner')}.0"))
    refused = {
        ns.control: TopicAuthorizationFailedError,
        ns.audit: TopicAuthorizationFailedError,
        ns.review_decisions: TopicAuthorizationFailedError,
        ns.tasks: TopicAuthorizationFailedError,
        ns.agent_journal("writer"): TopicAuthorizationFailedError,
        ns.agent("writer"): TopicAuthorizationFailedError,  # not an edge of the planner's
    }
    for topic, error in refused.items():
        with pytest.raises(error):
            asyncio.run(_produce(planner, topic))
    with pytest.raises(TransactionalIdAuthorizationFailed):
        asyncio.run(_produce(planner, ns.events, txn=f"{ns.agent('writer')}.0"))
    # Reading another agent's inbox: refused with its group or with the planner's own.
    for group in (f"{ns.agent('researcher')}.workers", f"{ns.agent('planner')}.workers"):
        with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
            asyncio.run(_consume(planner, ns.agent("researcher"), group))


def _run_demo_task(secure: SecureBroker, logs: Path) -> str:
    """The research mesh's agents and the supervisor, each as its own principal, and the
    task submitted with the gateway's credentials; returns the completed task's id."""
    admin, policy = secure.settings("admin"), str(DEMO_POLICY)
    procs = [
        AgentProcess(a, admin, APP, logs, AGENTMESH_POLICY=policy, **secure.identity(f"agent:{a}"))
        for a in AGENTS
    ]
    supervisor = SupervisorProcess(admin, DEMO_POLICY, logs)
    supervisor.env.update(secure.identity("supervisor"), AGENTMESH_DRAIN_GRACE_S="5")
    try:
        supervisor.start()
        for p in procs:
            p.start()
        asyncio.run(_ready(procs, supervisor))
        submitted = secure.cli(
            "task",
            "submit",
            "planner",
            "--app",
            APP,
            "--input",
            json.dumps(DEMO_INPUT),
            role="gateway",
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        task_id = submitted.stdout.strip().splitlines()[-1]
        asyncio.run(_completed(secure.settings("gateway"), task_id, procs))
        return task_id
    finally:
        everyone: list[AgentProcess | SupervisorProcess] = [*procs, supervisor]
        for proc in everyone:
            _stop(proc)


def _stop(proc: AgentProcess | SupervisorProcess) -> None:
    try:
        proc.terminate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill9()


async def _create_topics(settings: Settings) -> None:
    catalog = TopicCatalog(settings, Policy(), replication_factor=1, partitions=1)
    specs = [m.spec() for m in catalog.everything(AGENTS)]
    await ensure_topics(KafkaConnection.from_settings(settings), specs)


async def _ready(procs: list[AgentProcess], supervisor: SupervisorProcess) -> None:
    await asyncio.gather(*(p.wait_consuming(240) for p in procs), supervisor.wait_ready(240))


async def _completed(settings: Settings, task_id: str, procs: list[AgentProcess]) -> None:
    for _ in range(60):
        events = await events_of(settings, None, timeout=2.0)
        kinds = {e.body.kind for e in events if e.task_id == task_id}
        if "task_completed" in kinds:
            return
        assert "task_failed" not in kinds, [e.body for e in events]
    logs = "\n".join(p.log.read_text()[-3000:] for p in procs)
    raise AssertionError(f"task {task_id} did not complete:\n{logs}")


async def _produce(conn: KafkaConnection, topic: str, txn: str | None = None) -> None:
    producer = make_producer(conn, ProducerOptions(transactional_id=txn, request_timeout_ms=10_000))
    try:
        await producer.start()
        if txn is None:
            await producer.send_and_wait(topic, b"x", key=b"k")
        else:
            async with producer.transaction():
                await producer.send(topic, b"x", key=b"k")
    finally:
        await producer.stop()


async def _consume(conn: KafkaConnection, topic: str, group: str) -> None:
    consumer = make_consumer(conn, topic, options=ConsumerOptions(group_id=group))
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=5_000), 30)
    finally:
        await consumer.stop()


def test_acl_apply_on_a_cluster_without_authorizer_says_there_is_nothing_to_apply(
    settings: Settings,
) -> None:
    env = {
        **os.environ,
        "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,  # the suite's plaintext broker
        "AGENTMESH_NAMESPACE": settings.namespace,
    }
    out = subprocess.run(
        [sys.executable, "-m", "agentmesh.cli", "acl", "apply", "--app", APP, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (out.returncode, json.loads(out.stdout)) == (
        1,
        {
            "ok": False,
            "error": f"the cluster at {settings.bootstrap} enforces no ACLs (it has no "
            "authorizer), so there is nothing to apply. For the local secure broker, load the "
            "admin's settings written by `agentmesh infra up --secure` "
            "(<data dir>/kafka-secure/credentials/admin.env).",
        },
    )
