"""Apicurio Registry serving the Confluent Schema Registry API, from Maven Central."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agentmesh.core import Settings
from agentmesh.infra._maven import fetch, pom_property
from agentmesh.infra._ports import is_listening
from agentmesh.infra._prereqs import require_java
from agentmesh.infra._probe import registry_answers
from agentmesh.infra._process import ManagedProcess
from agentmesh.infra._service import LocalService, Reporter

__all__ = ["LocalRegistry"]

POM = Path(__file__).parent / "registry" / "pom.xml"

_JVM_FLAGS = (
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:ActiveProcessorCount=2",
    "-XX:CICompilerCount=2",
    "-XX:MaxMetaspaceSize=128m",
    "-XX:ReservedCodeCacheSize=64m",
    "-Xss512k",
    "-XX:TieredStopAtLevel=1",  # C1 only: starts in ~2.5 s; a dev registry never runs hot
    "-Djava.net.preferIPv4Stack=true",
)


class LocalRegistry(LocalService):
    """Apicurio Registry 3.0.x (the newest on Maven Central that runs on Java 17).

    Schemas are kept in an H2 file database beside the broker's data, so schema ids stay
    valid across restarts for as long as the messages that carry them.
    """

    name = "schema-registry"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.version = pom_property(POM, "apicurio.version")
        self.home = settings.home / f"registry-{self.version}"
        self.dir = settings.local_dir / "registry"
        self.process = ManagedProcess(
            "schema-registry", settings.local_dir, f"-Dagentmesh.service={self.dir}"
        )

    @property
    def external(self) -> bool:
        return not self.settings.uses_local_registry

    @property
    def address(self) -> str:
        return self.settings.registry_url

    @property
    def ports(self) -> Sequence[tuple[int, str]]:
        return [(self.settings.registry_port, "HTTP API, AGENTMESH_REGISTRY_PORT")]

    def answers(self) -> bool:
        if not self.external and not is_listening(self.settings.registry_port):
            return False
        return registry_answers(self.address)

    def install(self, reporter: Reporter) -> None:
        fetch(
            POM,
            self.home,
            lambda out: ["process-resources", f"-Dregistry.home={out}"],
            on_progress=lambda n, artifact: reporter.download(self.name, n, artifact),
        )
        self.dir.mkdir(parents=True, exist_ok=True)

    def launch(self) -> None:
        jar = self.home / f"apicurio-registry-app-{self.version}-runner.jar"
        db = self.dir / "registry"
        props = {
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": str(self.settings.registry_port),
            "apicurio.storage.kind": "sql",
            "apicurio.storage.sql.kind": "h2",
            "apicurio.datasource.url": f"jdbc:h2:file:{db};DB_CLOSE_ON_EXIT=FALSE",
            "apicurio.datasource.jdbc.initial-size": "2",
            "apicurio.datasource.jdbc.min-size": "2",
            "apicurio.datasource.jdbc.max-size": "10",
            # Subjects without their own rule evolve BACKWARD_TRANSITIVE, like contracts do.
            "apicurio.rules.global.compatibility": "BACKWARD_TRANSITIVE",
            # Re-registering a schema that differs only in whitespace must not add a version.
            "apicurio.ccompat.use-canonical-hash": "true",
            "quarkus.oidc.tenant-enabled": "false",
            "apicurio.authn.basic-client-credentials.enabled": "false",
            "quarkus.http.access-log.enabled": "false",
            "quarkus.log.level": "WARN",
        }
        argv = [
            require_java(),
            *_JVM_FLAGS,
            self.process.marker,
            *(f"-D{key}={value}" for key, value in props.items()),
            "-jar",
            str(jar),
        ]
        self.process.start(argv)
