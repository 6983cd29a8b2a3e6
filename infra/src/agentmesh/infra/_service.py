"""What every locally launched service has in common, and the one loop that starts it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from agentmesh.infra._errors import PortBusyError, ServiceFailedError
from agentmesh.infra._ports import describe_listener, is_listening
from agentmesh.infra._process import ManagedProcess

_EXTERNAL_PATIENCE_S = 15.0  # how long a service someone else runs may take to answer

__all__ = ["LocalService", "Reporter", "ServiceState", "ServiceStatus", "SilentReporter"]

ServiceState = Literal["healthy", "starting", "stopped", "external", "unreachable"]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service as ``agentmesh infra status`` shows it."""

    name: str
    state: ServiceState
    address: str
    pid: int | None = None
    log: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("healthy", "external")


class Reporter(Protocol):
    """Receives progress while services are fetched and started (the CLI draws it)."""

    def phase(self, service: str, text: str) -> None: ...

    def download(self, service: str, count: int, artifact: str) -> None: ...


class SilentReporter:
    """A reporter that shows nothing (tests, library use)."""

    def phase(self, service: str, text: str) -> None:
        return None

    def download(self, service: str, count: int, artifact: str) -> None:
        return None


class LocalService(ABC):
    """A service agentmesh runs on this machine when no external one is configured."""

    name: str
    process: ManagedProcess

    @property
    @abstractmethod
    def external(self) -> bool:
        """True when settings point at an external service and nothing is launched."""

    @property
    @abstractmethod
    def address(self) -> str:
        """What clients connect to (bootstrap address or URL)."""

    @property
    @abstractmethod
    def ports(self) -> Sequence[tuple[int, str]]:
        """(port, purpose) pairs the service listens on, checked before starting."""

    @abstractmethod
    def answers(self) -> bool:
        """True when the service answers its protocol at :attr:`address`."""

    @abstractmethod
    def install(self, reporter: Reporter) -> None:
        """Fetch and prepare everything needed to start (idempotent, cached)."""

    @abstractmethod
    def launch(self) -> None:
        """Start the process (installed, ports free)."""

    def status(self) -> ServiceStatus:
        """Current state, without changing anything."""
        if self.external:
            state: ServiceState = "external" if self.answers() else "unreachable"
            return ServiceStatus(self.name, state, self.address)
        pid = self.process.running_pid()
        if pid is None:
            return ServiceStatus(self.name, "stopped", self.address)
        state = "healthy" if self.answers() else "starting"
        return ServiceStatus(self.name, state, self.address, pid, str(self.process.log_file))

    def start(self, reporter: Reporter) -> bool:
        """Launch the service unless it runs or is external; True when this call launched it."""
        if self.external:
            reporter.phase(self.name, f"using external {self.address}")
            return False
        if self.process.running_pid() is not None:
            return False
        self._check_ports()
        self.install(reporter)
        reporter.phase(self.name, "starting")
        self.launch()
        return True

    def wait_ready(self, reporter: Reporter, timeout: float) -> None:
        """Block until the service answers; on failure raise with the tail of its log."""
        reporter.phase(self.name, "waiting until it answers")
        if self.external:
            # Someone else's service, already up: a few seconds of slowness (a loaded machine,
            # a broker electing leaders) is not a wrong address.
            deadline = time.monotonic() + min(timeout, _EXTERNAL_PATIENCE_S)
            while not self.answers():
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise ServiceFailedError(
                    f"{self.name} at {self.address} does not answer. Check the address in "
                    "AGENTMESH_KAFKA_BOOTSTRAP / AGENTMESH_SCHEMA_REGISTRY_URL, or unset it to "
                    "use the local one."
                )
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.running_pid() is None:
                raise ServiceFailedError(
                    f"{self.name} exited during start-up. Last lines of "
                    f"{self.process.log_file}:\n{self.process.log_tail()}"
                )
            if self.answers():
                reporter.phase(self.name, f"ready at {self.address}")
                return
            time.sleep(0.25)
        raise ServiceFailedError(
            f"{self.name} did not answer within {timeout:.0f}s. Last lines of "
            f"{self.process.log_file}:\n{self.process.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop our process if it runs; True when something was stopped."""
        return False if self.external else self.process.stop(timeout)

    def _check_ports(self) -> None:
        for port, purpose in self.ports:
            if is_listening(port):
                raise PortBusyError(
                    f"port {port} ({self.name} {purpose}) is already in use by "
                    f"{describe_listener(port)}. Stop that process, or pick another port "
                    f"(see `agentmesh infra up --help` for the AGENTMESH_*_PORT settings)."
                )
