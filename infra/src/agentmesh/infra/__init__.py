"""Local development infrastructure: a real Kafka broker and schema registry, no Docker.

``LocalInfra(settings).up()`` fetches the jars from Maven Central on first use (cached in
``settings.home``), starts what is not running and waits until it answers. Services the
settings point elsewhere (``AGENTMESH_KAFKA_BOOTSTRAP``, ``AGENTMESH_SCHEMA_REGISTRY_URL``)
are used as they are.
"""

from agentmesh.infra._errors import (
    DownloadFailedError,
    InfraError,
    PortBusyError,
    PrerequisiteMissingError,
    ServiceFailedError,
)
from agentmesh.infra._local import LocalInfra, UpResult
from agentmesh.infra._secure import LocalSecureKafka
from agentmesh.infra._service import Reporter, ServiceState, ServiceStatus, SilentReporter

__all__ = [
    "DownloadFailedError",
    "InfraError",
    "LocalInfra",
    "LocalSecureKafka",
    "PortBusyError",
    "PrerequisiteMissingError",
    "Reporter",
    "ServiceFailedError",
    "ServiceState",
    "ServiceStatus",
    "SilentReporter",
    "UpResult",
]
