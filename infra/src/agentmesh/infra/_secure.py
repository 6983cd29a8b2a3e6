"""The local broker in secure mode: SASL/SCRAM on its client listener and ACLs enforced.

It is a second broker beside the plaintext one (its own ports and data directory), so
turning security on for a try never touches the development broker the tests use. The
admin's password is generated on the first start and kept, with every other principal's,
in ``<data dir>/kafka-secure/credentials/<user>.env`` (mode 0600).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from string import Template

from agentmesh.core import Settings
from agentmesh.core.security import (
    ADMIN,
    ProcessCredentials,
    credentials_from_env,
    new_password,
    read_env_file,
    write_env_file,
)
from agentmesh.core.transport import KafkaConnection
from agentmesh.infra._errors import ServiceFailedError
from agentmesh.infra._kafka import _HERE, LocalKafka
from agentmesh.infra._ports import is_listening
from agentmesh.infra._probe import kafka_answers
from agentmesh.infra._process import ManagedProcess
from agentmesh.infra._service import Reporter

__all__ = ["MECHANISM", "LocalSecureKafka"]

MECHANISM = "SCRAM-SHA-512"


class LocalSecureKafka(LocalKafka):
    """Apache Kafka with SASL/SCRAM-SHA-512 and the StandardAuthorizer, on 127.0.0.1."""

    name = "kafka-secure"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dir = settings.local_dir / "kafka-secure"
        self.process = ManagedProcess(
            "kafka-secure", settings.local_dir, f"-Dagentmesh.service={self.dir}"
        )

    @property
    def credentials_dir(self) -> Path:
        """Where each principal's ``<user>.env`` is kept."""
        return self.dir / "credentials"

    @property
    def external(self) -> bool:
        return False  # `--secure` always means this machine's own secure broker

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_secure_port}"

    @property
    def ports(self) -> Sequence[tuple[int, str]]:
        return [
            (self.settings.kafka_secure_port, "client listener, AGENTMESH_KAFKA_SECURE_PORT"),
            (
                self.settings.kafka_secure_controller_port,
                "controller, AGENTMESH_KAFKA_SECURE_CONTROLLER_PORT",
            ),
        ]

    def credentials(self, user: str) -> ProcessCredentials | None:
        """The stored credentials of ``user``, or None."""
        path = self.credentials_dir / f"{user}.env"
        with contextlib.suppress(FileNotFoundError, KeyError):
            return credentials_from_env(read_env_file(path))
        return None

    def save_credentials(self, user: str, password: str) -> Path:
        """Write ``user``'s env file (mode 0600) and return its path."""
        path = self.credentials_dir / f"{user}.env"
        write_env_file(path, ProcessCredentials(self.address, user, password, MECHANISM))
        return path

    def admin_connection(self) -> KafkaConnection:
        """How the admin (super-user) connects."""
        creds = self.credentials(ADMIN)
        if creds is None:
            raise ServiceFailedError(
                f"no admin credentials in {self.credentials_dir}; run `agentmesh infra up "
                "--secure` first (or delete that data directory to start over)"
            )
        return KafkaConnection(
            bootstrap=self.address,
            client_id="agentmesh-admin",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=MECHANISM,
            sasl_username=ADMIN,
            sasl_password=creds.password,
        )

    def answers(self) -> bool:
        if not is_listening(self.settings.kafka_secure_port):
            return False
        return kafka_answers(self.address, conn=self.admin_connection())

    def install(self, reporter: Reporter) -> None:
        formatted = (self.dir / "data" / "meta.properties").exists()
        if self.credentials(ADMIN) is None:
            if formatted:
                raise ServiceFailedError(
                    f"{self.dir} was formatted but its admin credentials "
                    f"({self.credentials_dir / 'admin.env'}) are gone; delete {self.dir} "
                    "to start over"
                )
            self.save_credentials(ADMIN, new_password())
        else:  # rewritten: the port may have changed since
            self.save_credentials(ADMIN, self._admin_password())
        super().install(reporter)
        (self.dir / "server.properties").chmod(0o600)  # it holds the admin password

    def _properties(self) -> str:
        base = Template((_HERE / "server.properties.template").read_text()).substitute(
            PORT=self.settings.kafka_secure_port,
            CONTROLLER_PORT=self.settings.kafka_secure_controller_port,
            DATA_DIR=self.dir / "data",
        )
        overlay = Template((_HERE / "secure.properties.template").read_text()).substitute(
            PORT=self.settings.kafka_secure_port,
            CONTROLLER_PORT=self.settings.kafka_secure_controller_port,
            ADMIN_PASSWORD=self._admin_password(),
        )
        return f"{base}\n{overlay}"

    def _format(self, *extra: str) -> None:
        # The admin's SCRAM credential goes into the first metadata records, so the admin
        # can log in on the very first start (and create everyone else's).
        scram = f"--add-scram={MECHANISM}=[name={ADMIN},password={self._admin_password()}]"
        super()._format(*extra, scram)

    def _admin_password(self) -> str:
        creds = self.credentials(ADMIN)
        assert creds is not None, "install() saves the admin's credentials first"
        return creds.password
