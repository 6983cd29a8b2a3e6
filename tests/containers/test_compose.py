"""The whole mesh in containers: agentmesh's image, the sample mesh layered on it, compose.

Builds the image (Dockerfile) from the local base image `make tools` makes, layers the sample
research mesh on it (infra/docker/Dockerfile.example, as a user layers their own agents),
brings the mesh up with docker-compose.yml + infra/compose/local-jars.yml in a project and
namespace of its own with two researchers, submits 50 tasks through the gateway container,
kills one researcher container mid-run, and checks that the restart policy brings it back and
that every task completed exactly once (read_committed, by task id).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.containers.images import built_images, compose_env, docker_or_skip, sh
from tests.gateway_helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.timeout(2400)]

TASKS = 50
COMPOSE_FILES = ["-f", "docker-compose.yml", "-f", "infra/compose/local-jars.yml"]


class Project:
    """One compose project: its own name, namespace, env file and gateway port."""

    def __init__(self, tmp: Path, images: dict[str, str]) -> None:
        self.name = f"amtest-{uuid.uuid4().hex[:10]}"
        self.namespace = f"t-{uuid.uuid4().hex[:12]}"
        self.token = secrets.token_urlsafe(24)
        self.port = free_port()
        env_file = tmp / "mesh.env"
        env_file.write_text(
            f"AGENTMESH_NAMESPACE={self.namespace}\n"
            f"AGENTMESH_GATEWAY_TOKENS=test:{self.token}:submitter+auditor\n"
        )
        self.env = compose_env(
            AGENTMESH_IMAGE=images["examples"],
            AGENTMESH_ENV_FILE=str(env_file),
            AGENTMESH_COMPOSE_GATEWAY_PORT=str(self.port),
            AGENTMESH_SECRETS_DIR=str(self._keys(tmp / "secrets")),
        )

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True, input_file: Path | None = None
    ) -> str:
        return sh(
            "docker", "compose", "-p", self.name, *COMPOSE_FILES, *args,
            env=self.env, timeout=timeout, check=check, input_file=input_file,
        )  # fmt: skip

    @staticmethod
    def _keys(secrets_dir: Path) -> Path:
        """The signing keys compose mounts as secrets, made as infra/compose/make-keys.sh does."""
        env = {**os.environ, "AGENTMESH_SECRETS_DIR": str(secrets_dir)}
        sh("sh", "infra/compose/make-keys.sh", env=env)
        return secrets_dir

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40", timeout=60, check=False)


@pytest.fixture
def project(tmp_path: Path, cluster: object) -> Iterator[Project]:
    # `cluster`: the local infrastructure's jars (Kafka, the registry) are on this machine.
    docker_or_skip()
    mesh = Project(tmp_path, built_images())
    try:
        yield mesh
    finally:
        mesh.compose("down", "-v", "--timeout", "10", timeout=180, check=False)


def test_compose_mesh_survives_a_killed_researcher(project: Project) -> None:
    started = time.monotonic()
    try:
        project.compose("up", "-d", "--wait", "--scale", "researcher=2", timeout=900)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- logs\n{project.logs()}") from None
    ready_s = time.monotonic() - started
    researchers = project.containers("researcher")
    assert len(researchers) == 2

    gateway = f"http://127.0.0.1:{project.port}"
    headers = {"Authorization": f"Bearer {project.token}"}
    task_ids: list[str] = []
    first_done_s: float | None = None
    with httpx.Client(base_url=gateway, headers=headers, timeout=30) as client:
        for i in range(TASKS):
            reply = client.post(
                "/v1/tasks",
                json={"agent": "planner", "input": {"question": f"Kafka transactions #{i}?"}},
                headers={"Idempotency-Key": f"compose-{i}"},
            )
            assert reply.status_code == 202, reply.text
            task_ids.append(reply.json()["task_id"])
            if i == 0:
                _wait_completed(client, task_ids[0], 180)
                first_done_s = time.monotonic() - started
            if i == TASKS // 3:
                # The researcher crashes mid-run: its process is killed (SIGKILL), as a crash
                # or the OOM killer would. (`docker kill` would not do: Docker counts it as a
                # wanted stop, like `docker stop`, and no restart policy restarts it.)
                victim = researchers[0]
                sh("docker", "exec", victim, "sh", "-c", "kill -KILL -1")
        restarted = _wait_restarted(victim, 120)
        for task_id in task_ids:
            _wait_completed(client, task_id, 240)

    counts = json.loads(
        project.compose(
            "exec", "-T", "gateway", "python3", "-",
            input_file=Path(__file__).with_name("count_completions.py"),
        )
    )  # fmt: skip
    assert counts["failed"] == {}
    assert dict.fromkeys(task_ids, 1) == counts["completed"]
    assert restarted >= 1
    print(
        f"\ncompose: up --wait {ready_s:.1f}s, first task completed "
        f"{first_done_s:.1f}s after `up`, {TASKS} tasks in {time.monotonic() - started:.1f}s"
    )


def _wait_completed(client: httpx.Client, task_id: str, timeout: float) -> None:
    """Until the gateway reports ``task_id`` completed; fails on failed or timeout."""
    start = time.monotonic()
    state = None
    while time.monotonic() - start < timeout:
        reply = client.get(f"/v1/tasks/{task_id}")
        if reply.status_code == 200:
            state = reply.json()["state"]
            if state == "completed":
                return
            assert state != "failed", reply.text
        time.sleep(0.5)
    raise AssertionError(f"task {task_id} not completed after {timeout:.0f}s (state {state})")


_STATUS = "{{.RestartCount}} {{.State.Status}} {{.State.Health.Status}}"


def _wait_restarted(container: str, timeout: float) -> int:
    """The container's restart count once Docker restarted it and it is healthy again."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = sh("docker", "inspect", "-f", _STATUS, container).strip()
        count, state, health = status.split()
        if int(count) >= 1 and state == "running" and health == "healthy":
            return int(count)
        time.sleep(1)
    raise AssertionError(f"{container} not back after {timeout:.0f}s: {status}")
