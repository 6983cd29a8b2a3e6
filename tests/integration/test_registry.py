"""The local schema registry speaks the Confluent API: register and fetch back."""

import httpx
import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from tests.conftest import Cluster

pytestmark = pytest.mark.kafka

SCHEMA = {
    "type": "record",
    "name": "Probe",
    "namespace": "dev.agentmesh.test",
    "fields": [{"name": "n", "type": "int"}],
}
CONTENT_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def test_register_and_fetch_round_trip_over_rest(cluster: Cluster, namespace: str) -> None:
    subject = f"{namespace}-probe-value"
    body = {"schema": orjson.dumps(SCHEMA).decode()}
    with httpx.Client(base_url=cluster.registry_url, headers=CONTENT_TYPE, timeout=10) as http:
        first = http.post(f"/subjects/{subject}/versions", json=body)
        again = http.post(f"/subjects/{subject}/versions", json=body)
        assert first.status_code == 200
        schema_id = first.json()["id"]
        assert again.json() == {"id": schema_id}  # registering is idempotent
        fetched = http.get(f"/schemas/ids/{schema_id}").json()
        assert orjson.loads(fetched["schema"]) == SCHEMA
        latest = http.get(f"/subjects/{subject}/versions/latest").json()
        assert (latest["id"], latest["version"], latest["subject"]) == (schema_id, 1, subject)


def test_incompatible_schema_is_refused_with_409(cluster: Cluster, namespace: str) -> None:
    subject = f"{namespace}-strict-value"
    client = SchemaRegistryClient({"url": cluster.registry_url})
    client.register_schema(subject, Schema(orjson.dumps(SCHEMA).decode(), "AVRO"))
    client.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    changed = {**SCHEMA, "fields": [{"name": "n", "type": "string"}]}
    with httpx.Client(base_url=cluster.registry_url, headers=CONTENT_TYPE, timeout=10) as http:
        refused = http.post(
            f"/subjects/{subject}/versions", json={"schema": orjson.dumps(changed).decode()}
        )
    assert refused.status_code == 409
