"""The secure local broker's configuration and credentials, no broker started."""

from pathlib import Path

from agentmesh.core import Settings
from agentmesh.core.security import read_env_file
from agentmesh.infra import LocalSecureKafka


def _secure(tmp_path: Path) -> LocalSecureKafka:
    settings = Settings(
        data_dir=tmp_path / "data", kafka_secure_port=29194, kafka_secure_controller_port=29195
    )
    return LocalSecureKafka(settings)


def _properties(text: str) -> dict[str, str]:
    # java.util.Properties: a key given again later wins.
    pairs = (line.partition("=") for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, _, value in pairs}


def test_the_secure_broker_has_its_own_dir_ports_and_an_admin_only_it_can_read(
    tmp_path: Path,
) -> None:
    kafka = _secure(tmp_path)
    assert (kafka.dir, kafka.address) == (tmp_path / "data" / "kafka-secure", "127.0.0.1:29194")
    path = kafka.save_credentials("admin", "pw")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert read_env_file(path) == {
        "AGENTMESH_KAFKA_BOOTSTRAP": "127.0.0.1:29194",
        "AGENTMESH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "AGENTMESH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "AGENTMESH_KAFKA_SASL_USERNAME": "admin",
        "AGENTMESH_KAFKA_SASL_PASSWORD": "pw",
    }


def test_the_secure_broker_authenticates_every_listener_and_authorizes_by_acl(
    tmp_path: Path,
) -> None:
    kafka = _secure(tmp_path)
    kafka.save_credentials("admin", "pw")
    props = _properties(kafka._properties())
    wanted = {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:29194,CONTROLLER://127.0.0.1:29195",
        "advertised.listeners": "SASL_PLAINTEXT://127.0.0.1:29194",
        "controller.quorum.voters": "1@127.0.0.1:29195",
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(tmp_path / "data" / "kafka-secure" / "data"),
    }
    assert {key: props.get(key) for key in wanted} == wanted
    assert (
        'username="admin" password="pw"'
        in props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]
    )
