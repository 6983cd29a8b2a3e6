from pathlib import Path

import pytest
from pydantic import ValidationError

from agentmesh.core import Settings


def test_defaults_point_at_the_local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "AGENTMESH_KAFKA_BOOTSTRAP",
        "AGENTMESH_SCHEMA_REGISTRY_URL",
        "AGENTMESH_NAMESPACE",
    ):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    assert (s.uses_local_kafka, s.uses_local_registry) == (True, True)
    assert s.bootstrap == "127.0.0.1:19092"
    assert s.registry_url == "http://127.0.0.1:18081/apis/ccompat/v7"
    assert s.namespace == "agentmesh"
    assert s.replication_factor is None  # decided from the cluster's size when creating


def test_environment_with_prefix_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTMESH_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("AGENTMESH_SCHEMA_REGISTRY_URL", "https://sr.example/")
    monkeypatch.setenv("AGENTMESH_NAMESPACE", "prod.eu")
    monkeypatch.setenv("AGENTMESH_DATA_DIR", str(tmp_path))
    s = Settings(_env_file=None)
    assert (s.bootstrap, s.registry_url, s.namespace) == (
        "kafka-1:9092,kafka-2:9092",
        "https://sr.example",
        "prod.eu",
    )
    assert (s.uses_local_kafka, s.uses_local_registry) == (False, False)
    assert s.local_dir == tmp_path


@pytest.mark.parametrize("bad", ["", "has space", "-leading", "a/b", "x" * 200])
def test_namespace_must_be_a_valid_topic_prefix(bad: str) -> None:
    with pytest.raises(ValidationError, match="namespace must start with a letter or digit"):
        Settings(namespace=bad)
