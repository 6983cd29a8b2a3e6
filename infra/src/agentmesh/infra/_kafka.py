"""A single-node KRaft Apache Kafka broker from Maven Central jars."""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from string import Template

from agentmesh.core import Settings
from agentmesh.infra._errors import ServiceFailedError
from agentmesh.infra._maven import fetch, pom_property
from agentmesh.infra._ports import is_listening
from agentmesh.infra._prereqs import require_java
from agentmesh.infra._probe import kafka_answers
from agentmesh.infra._process import ManagedProcess
from agentmesh.infra._service import LocalService, Reporter

__all__ = ["LocalKafka"]

_HERE = Path(__file__).parent / "kafka"
POM = _HERE / "pom.xml"

# Small heap and few GC threads: the machines this runs on have 2 cores.
_JVM_FLAGS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    # Log4j's own shutdown hook would stop logging before Kafka logs its shutdown.
    "-Dlog4j2.shutdownHookEnabled=false",
)


class LocalKafka(LocalService):
    """Apache Kafka (broker + controller in one JVM) on 127.0.0.1."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.version = pom_property(POM, "kafka.version")
        self.libs = settings.home / f"kafka-{self.version}" / "libs"
        self.dir = settings.local_dir / "kafka"
        self.process = ManagedProcess(
            "kafka", settings.local_dir, f"-Dagentmesh.service={self.dir}"
        )

    @property
    def external(self) -> bool:
        return not self.settings.uses_local_kafka

    @property
    def address(self) -> str:
        return self.settings.bootstrap

    @property
    def ports(self) -> Sequence[tuple[int, str]]:
        return [
            (self.settings.kafka_port, "client listener, AGENTMESH_KAFKA_PORT"),
            (self.settings.kafka_controller_port, "controller, AGENTMESH_KAFKA_CONTROLLER_PORT"),
        ]

    def answers(self) -> bool:
        if not self.external and not is_listening(self.settings.kafka_port):
            return False
        return kafka_answers(self.address)

    def install(self, reporter: Reporter) -> None:
        fetch(
            POM,
            self.libs,
            lambda out: [
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={out}",
            ],
            on_progress=lambda n, artifact: reporter.download(self.name, n, artifact),
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "server.properties").write_text(self._properties())
        if not (self.dir / "data" / "meta.properties").exists():
            reporter.phase(self.name, "formatting storage (first start)")
            self._format()

    def _properties(self) -> str:
        """The broker's server.properties."""
        return Template((_HERE / "server.properties.template").read_text()).substitute(
            PORT=self.settings.kafka_port,
            CONTROLLER_PORT=self.settings.kafka_controller_port,
            DATA_DIR=self.dir / "data",
        )

    def launch(self) -> None:
        self.process.start(self._java("kafka.Kafka", str(self.dir / "server.properties")))

    def _format(self, *extra: str) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        argv = self._java(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",  # '=' form: an id may start with '-'
            f"--config={self.dir / 'server.properties'}",
            "--ignore-formatted",
            *extra,
        )
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise ServiceFailedError(
                f"formatting Kafka storage in {self.dir / 'data'} failed:\n{out.stdout}{out.stderr}"
            )

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            require_java(),
            *_JVM_FLAGS,
            self.process.marker,
            f"-Dlog4j2.configurationFile={_HERE / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.dir / 'logs'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]
