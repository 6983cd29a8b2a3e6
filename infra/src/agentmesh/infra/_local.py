"""The local development cluster: a Kafka broker and a schema registry, up and down together."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from agentmesh.core import Settings
from agentmesh.infra._kafka import LocalKafka
from agentmesh.infra._registry import LocalRegistry
from agentmesh.infra._secure import LocalSecureKafka
from agentmesh.infra._service import LocalService, Reporter, ServiceStatus, SilentReporter

__all__ = ["LocalInfra", "UpResult"]


@dataclass(frozen=True, slots=True)
class UpResult:
    """What ``up`` found or did."""

    services: list[ServiceStatus]
    started: list[str]

    @property
    def bootstrap(self) -> str:
        return self.services[0].address

    @property
    def registry_url(self) -> str:
        return self.services[1].address


class LocalInfra:
    """Start, stop and inspect the services that the settings do not point elsewhere.

    ``secure=True`` works on the secure broker (SASL/SCRAM, ACLs enforced; its own ports and
    data directory) instead of the plaintext one; the schema registry is the same for both
    (it keeps its schemas in its own database, not in Kafka).
    """

    def __init__(
        self, settings: Settings, reporter: Reporter | None = None, *, secure: bool = False
    ) -> None:
        self.settings = settings
        self.reporter = reporter or SilentReporter()
        kafka = LocalSecureKafka(settings) if secure else LocalKafka(settings)
        self.kafka: LocalKafka = kafka
        self.services: list[LocalService] = [kafka, LocalRegistry(settings)]

    def up(self) -> UpResult:
        """Idempotent: start what is not running, wait until everything answers.

        Services start side by side (the registry does not store in Kafka). If one fails,
        the ones this call started are stopped again, so a failed ``up`` leaves nothing behind.
        """
        started: list[str] = []
        try:
            started.extend(svc.name for svc in self.services if svc.start(self.reporter))
            for svc in self.services:
                svc.wait_ready(self.reporter, self.settings.startup_timeout_s)
        except BaseException:
            self.down(only=started)
            raise
        return UpResult(self.status(), started)

    def down(self, only: Collection[str] | None = None) -> list[str]:
        """Stop the local services (all, or those named in ``only``); names of those stopped."""
        return [
            svc.name
            for svc in reversed(self.services)
            if (only is None or svc.name in only) and svc.stop()
        ]

    def status(self) -> list[ServiceStatus]:
        """State of every service, Kafka first."""
        return [svc.status() for svc in self.services]
