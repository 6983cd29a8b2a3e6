"""docker-compose.yml and its overrides, read as files: no Docker engine needed.

What a typo or a forgotten edit would silently break: a sample agent without a service, a
mesh service without its readiness check or restart policy, a secret baked into the file, the
local-jars override running other Kafka or registry versions than the poms pin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agentmesh.infra._kafka import POM as KAFKA_POM
from agentmesh.infra._maven import pom_property
from agentmesh.infra._registry import POM as REGISTRY_POM
from agentmesh_examples.research import mesh

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
LOCAL_JARS = ROOT / "infra" / "compose" / "local-jars.yml"


class _Loader(yaml.SafeLoader):
    """Compose's merge tags (!reset, !override) read as plain values."""


def _untagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _untagged)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(), Loader=_Loader)
    assert isinstance(data, dict)
    return data


def test_every_sample_agent_is_a_service_with_its_readiness_check() -> None:
    services = _load(COMPOSE)["services"]
    mesh_services = {"supervisor", "gateway", *mesh.agents}
    assert mesh_services <= set(services)
    for name in mesh_services:
        service = services[name]
        assert service["restart"] == "unless-stopped", name
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name
        port = "8080" if name == "gateway" else "8081"
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"]), name
    for agent in mesh.agents:
        assert services[agent]["command"] == ["run", "agent", agent]
        assert services[agent]["depends_on"] == {"supervisor": {"condition": "service_healthy"}}


def test_no_secret_is_written_into_the_compose_files() -> None:
    for path in (COMPOSE, *ROOT.glob("infra/compose/*.yml"), ROOT / "infra/compose/defaults.env"):
        text = path.read_text().upper()
        for secret in ("AGENTMESH_GATEWAY_TOKENS=", "_PASSWORD=", "API_KEY=", "BEGIN PRIVATE"):
            assert secret not in text, f"{path}: {secret}"


def test_local_jars_run_the_versions_the_poms_pin() -> None:
    text = LOCAL_JARS.read_text()
    assert f"kafka-{pom_property(KAFKA_POM, 'kafka.version')}/libs" in text
    registry = pom_property(REGISTRY_POM, "apicurio.version")
    assert f"registry-{registry}:/opt/apicurio" in text
    assert f"apicurio-registry-app-{registry}-runner.jar" in text
