"""The Helm chart, offline: `helm lint --strict`, `helm template` for several value sets, and every
rendered object decoded strictly into its Kubernetes (or KEDA) API type by k8scheck.

No cluster runs here; what an API server would refuse, k8scheck refuses (unknown fields,
selectors that miss their pods, probes on undeclared ports...), and the tests below show that
it does by feeding it broken objects. Helm and k8scheck come from `make tools`
(infra/tools/install-helm.sh).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import CHART, Rendered, check, parse, render, run
from tests.tools import need_tool

CI = CHART / "ci"
VALUE_SETS = {
    "defaults": [],
    "keda": [CI / "keda-values.yaml"],
    "ingress": [CI / "ingress-values.yaml"],
    "sasl": [CI / "sasl-values.yaml"],
    "static": [CI / "static-values.yaml"],
}
SAMPLE_AGENTS = ["planner", "researcher", "reviewer", "writer"]


@pytest.fixture(scope="module")
def helm() -> Path:
    return need_tool("helm", "helm")


@pytest.fixture(scope="module")
def k8scheck() -> Path:
    return need_tool("helm", "k8scheck")


def rendered(
    helm: Path, values: list[Path] | None = None, sets: list[str] | None = None
) -> Rendered:
    done = render(helm, values, sets)
    assert done.returncode == 0, done.stderr
    return parse(done.stdout)


def refused(helm: Path, values: list[Path] | None = None, sets: list[str] | None = None) -> str:
    """Rendering fails: Helm's error message."""
    done = render(helm, values, sets)
    assert done.returncode != 0, f"rendered, though it should not have:\n{done.stdout[:2000]}"
    return " ".join(done.stderr.split())


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# --- lint and strict checks of every value set ------------------------------------------------


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_lint_strict(helm: Path, case: str) -> None:
    argv: list[str | Path] = [helm, "lint", "--strict", CHART]
    for path in VALUE_SETS[case]:
        argv += ["--values", path]
    done = run(argv)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_every_rendered_object_passes_the_api_types(helm: Path, k8scheck: Path, case: str) -> None:
    out = rendered(helm, VALUE_SETS[case])
    checked = check(k8scheck, out.text)
    assert checked.errors() == {}
    assert checked.returncode == 0
    assert len(checked.report["objects"]) == len(out.objects)


def test_defaults_render_the_sample_mesh(helm: Path) -> None:
    out = rendered(helm)
    agents = [f"agentmesh-agent-{a}" for a in SAMPLE_AGENTS]
    expected = sorted(
        [("Deployment", n) for n in [*agents, "agentmesh-supervisor", "agentmesh-gateway"]]
        + [
            ("PodDisruptionBudget", n)
            for n in [*agents, "agentmesh-supervisor", "agentmesh-gateway"]
        ]
        + [("ScaledObject", n) for n in agents]
        + [("Service", "agentmesh-gateway"), ("ServiceAccount", "agentmesh")]
        + [("Job", "agentmesh-setup")]
    )
    assert expected == out.names()


def test_every_container_is_locked_down(helm: Path) -> None:
    out = rendered(helm, [CI / "keda-values.yaml"])
    workloads = [o for o in out.objects if o["kind"] in ("Deployment", "Job")]
    locked = {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}} in pod["volumes"]
        for c in containers(obj):
            assert locked == c["securityContext"], obj["metadata"]["name"]
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_probes_and_drain(helm: Path) -> None:
    out = rendered(helm, sets=["drainGraceSeconds=50"])
    agent = out.one("Deployment", "agentmesh-agent-researcher")["spec"]["template"]["spec"]
    (worker,) = agent["containers"]
    assert worker["args"] == ["run", "agent", "researcher"]
    assert worker["ports"] == [{"name": "probe", "containerPort": 8081, "protocol": "TCP"}]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probe"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probe"}
    assert env_of(worker)["AGENTMESH_PROBE_PORT"] == "8081"
    assert env_of(worker)["AGENTMESH_DRAIN_GRACE_S"] == "50"
    assert agent["terminationGracePeriodSeconds"] == 65  # the drain, and 15 s to exit
    gateway = out.one("Deployment", "agentmesh-gateway")["spec"]["template"]["spec"]
    (gw,) = gateway["containers"]
    assert gw["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert gw["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert env_of(gw)["AGENTMESH_GATEWAY_HOST"] == "0.0.0.0"


def test_a_grace_period_shorter_than_the_drain_is_refused(helm: Path) -> None:
    message = refused(helm, sets=["terminationGracePeriodSeconds=20"])
    assert "terminationGracePeriodSeconds (20) must exceed drainGraceSeconds (30)" in message


def test_a_drain_as_long_as_the_transaction_timeout_is_refused(helm: Path) -> None:
    message = refused(helm, sets=["drainGraceSeconds=120"])
    assert "drainGraceSeconds" in message
    assert "110" in message


# --- KEDA ---------------------------------------------------------------------------------------


def test_each_agent_scales_on_its_consumer_group_lag(helm: Path) -> None:
    out = rendered(helm, [CI / "keda-values.yaml"])
    assert [
        ("ScaledObject", f"agentmesh-agent-{a}") for a in ("planner", "researcher", "writer")
    ] == [n for n in out.names() if n[0] == "ScaledObject"]
    researcher = out.one("ScaledObject", "agentmesh-agent-researcher")["spec"]
    assert researcher == {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "agentmesh-agent-researcher",
        },
        "minReplicaCount": 2,
        "maxReplicaCount": 24,  # its own inbox's partitions
        "pollingInterval": 15,
        "cooldownPeriod": 300,
        "triggers": [
            {
                "type": "kafka",
                "name": "inbox-lag",
                "metadata": {
                    "bootstrapServers": "b-1.kafka.internal:9092,b-2.kafka.internal:9092",
                    "consumerGroup": "prod.agent.researcher.workers",
                    "topic": "prod.agent.researcher",
                    "lagThreshold": "20",
                    "activationLagThreshold": "0",
                    "offsetResetPolicy": "earliest",
                },
            }
        ],
    }
    assert out.one("ScaledObject", "agentmesh-agent-planner")["spec"]["maxReplicaCount"] == 4
    assert out.one("ScaledObject", "agentmesh-agent-writer")["spec"]["maxReplicaCount"] == 12
    # KEDA owns the replica count: the Deployment does not fight it on every upgrade.
    assert "replicas" not in out.one("Deployment", "agentmesh-agent-researcher")["spec"]


def test_more_replicas_than_partitions_is_refused(helm: Path) -> None:
    message = refused(helm, sets=["agents.researcher.autoscaling.maxReplicas=7"])
    assert (
        "agents.researcher.autoscaling.maxReplicas is 7 but agentmesh.agent.researcher has 6 "
        "partitions" in message
    )
    message = refused(
        helm, sets=["agentDefaults.autoscaling.enabled=false", "agents.writer.replicas=9"]
    )
    assert (
        "agents.writer.replicas is 9 but its inbox agentmesh.agent.writer has 6 partitions"
        in message
    )
    assert "3 replicas would sit idle" in message
    # As many as there are partitions is fine, and so is more once the inbox has more.
    rendered(helm, sets=["agents.researcher.autoscaling.maxReplicas=6"])
    out = rendered(
        helm,
        sets=[
            "agentDefaults.autoscaling.enabled=false",
            "agents.writer.replicas=9",
            "agents.writer.partitions=12",
        ],
    )
    assert out.one("Deployment", "agentmesh-agent-writer")["spec"]["replicas"] == 9


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "where"),
    [
        ("agents.researcher.replica=2", "replica"),
        ("agentDefaults.autoscaling.lagThreshhold=5", "lagThreshhold"),
        ("kafka.bootstrapServer=x:9092", "bootstrapServer"),
        ("gateway.ingress.enable=true", "enable"),
    ],
)
def test_a_typo_in_values_is_an_error(helm: Path, typo: str, where: str) -> None:
    message = refused(helm, sets=[typo])
    assert "schema" in message
    assert f"'{where}'" in message or f'"{where}"' in message, message


def test_a_bad_value_is_an_error(helm: Path) -> None:
    assert "securityProtocol" in refused(helm, sets=["kafka.securityProtocol=SASL"])
    assert "Agent_X" in refused(helm, sets=["agents.Agent_X.replicas=1"])


def test_sasl_credentials_come_from_each_components_secret(helm: Path) -> None:
    out = rendered(helm, [CI / "sasl-values.yaml"])

    def credentials(kind: str, name: str) -> dict[str, Any]:
        env = env_of(containers(out.one(kind, name))[-1])
        keys = [k for k in env if k.startswith("AGENTMESH_KAFKA_")]
        return {k: env[k] for k in keys}

    def secret(name: str, key: str) -> dict[str, Any]:
        return {"secretKeyRef": {"name": name, "key": key}}

    assert {
        "AGENTMESH_KAFKA_BOOTSTRAP": "broker.managed.example:9096",
        "AGENTMESH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "AGENTMESH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "AGENTMESH_KAFKA_SASL_USERNAME": secret("kafka-agent-researcher", "user"),
        "AGENTMESH_KAFKA_SASL_PASSWORD": secret("kafka-agent-researcher", "pass"),
        "AGENTMESH_KAFKA_SSL_CAFILE": "/etc/agentmesh/kafka-ca/ca.crt",
    } == credentials("Deployment", "agentmesh-agent-researcher")
    for kind, name, owner in [
        ("Deployment", "agentmesh-supervisor", "kafka-supervisor"),
        ("Deployment", "agentmesh-gateway", "kafka-gateway"),
        ("Job", "agentmesh-setup", "kafka-operator"),
    ]:
        env = credentials(kind, name)
        assert secret(owner, "password") == env["AGENTMESH_KAFKA_SASL_PASSWORD"], name
    # KEDA reads the lag as the agent itself, over TLS with the same CA.
    auth = out.one("TriggerAuthentication", "agentmesh-agent-researcher")["spec"]
    assert auth == {
        "secretTargetRef": [
            {"parameter": "username", "name": "kafka-agent-researcher", "key": "user"},
            {"parameter": "password", "name": "kafka-agent-researcher", "key": "pass"},
            {"parameter": "ca", "name": "kafka-ca", "key": "ca.crt"},
        ]
    }
    trigger = out.one("ScaledObject", "agentmesh-agent-researcher")["spec"]["triggers"][0]
    assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
    assert trigger["authenticationRef"] == {"name": "agentmesh-agent-researcher"}
    # Secrets are referenced, never rendered.
    assert [o for o in out.objects if o["kind"] == "Secret"] == []


def test_sasl_without_a_secret_is_refused(helm: Path) -> None:
    message = refused(helm, sets=["kafka.securityProtocol=SASL_SSL"])
    assert "kafka.securityProtocol SASL_SSL needs kafka.sasl.existingSecret" in message
    # One component without credentials of its own or inherited is named.
    message = refused(
        helm,
        sets=[
            "kafka.securityProtocol=SASL_SSL",
            "agentDefaults.kafka.sasl.existingSecret=agents",
            "supervisor.kafka.sasl.existingSecret=supervisor",
            "setup.kafka.sasl.existingSecret=operator",
        ],
    )
    assert "gateway: kafka.securityProtocol SASL_SSL needs kafka.sasl.existingSecret" in message


def test_ingress_routes_to_the_gateway_service(helm: Path) -> None:
    out = rendered(helm, [CI / "ingress-values.yaml"])
    ingress = out.one("Ingress", "agentmesh-gateway")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "agentmesh-gateway", "port": {"name": "http"}}}
    gw = containers(out.one("Deployment", "agentmesh-gateway"))[0]
    assert (
        env_of(gw)["AGENTMESH_GATEWAY_TOKENS_FILE"] == "/etc/agentmesh/gateway-tokens/tokens.yaml"
    )


def test_setup_job_creates_topics_and_registers_schemas_before_install(helm: Path) -> None:
    out = rendered(helm, [CI / "keda-values.yaml"])
    job = out.one("Job", "agentmesh-setup")
    assert job["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "0",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    app = "agentmesh_examples.research:mesh"
    (setup,) = containers(job)
    assert setup["args"] == ["topics", "apply", "--app", app, "--schemas"]
    env = env_of(setup)
    assert (
        env["AGENTMESH_NAMESPACE"],
        env["AGENTMESH_TOPIC_PARTITIONS"],
        env["AGENTMESH_TOPIC_REPLICATION_FACTOR"],
    ) == ("prod", "12", "3")
    # The policy reaches the Job through a hook ConfigMap made just before it.
    assert env["AGENTMESH_POLICY"] == "/etc/agentmesh/policy/policy.yaml"
    policy = out.one("ConfigMap", "agentmesh-setup-policy")
    assert policy["metadata"]["annotations"]["helm.sh/hook-weight"] == "-5"
    assert yaml.safe_load(policy["data"]["policy.yaml"])["budgets"]["on_breach"] == "review"


# --- the checker itself fails on what a cluster would refuse ------------------------------------


def broken(helm: Path, kind: str, name: str, change: Any) -> str:
    """The defaults rendered, with ``change`` applied to one object: the YAML to check."""
    objects = copy.deepcopy(rendered(helm).objects)
    target = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
    change(target)
    return yaml.safe_dump_all(objects)


@pytest.mark.parametrize(
    ("kind", "change", "expected"),
    [
        ("Deployment", lambda o: o["spec"].update(replica=2), 'unknown field "spec.replica"'),
        (
            "Deployment",
            lambda o: o["spec"]["template"]["spec"]["containers"][0].update(readOnly=True),
            'unknown field "spec.template.spec.containers[0].readOnly"',
        ),
        (
            "Deployment",
            lambda o: o["spec"]["template"]["metadata"]["labels"].update(
                {"app.kubernetes.io/component": "other"}
            ),
            "does not match spec.template.metadata.labels",
        ),
        (
            "Deployment",
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["readinessProbe"][
                "httpGet"
            ].update(port="metrics"),
            'readinessProbe port "metrics" is not a named port of the container',
        ),
        (
            "ScaledObject",
            lambda o: o["spec"].update(maxReplicas=3),
            'unknown field "spec.maxReplicas"',
        ),
        (
            "ScaledObject",
            lambda o: o["spec"]["triggers"][0]["metadata"].update(lagTreshold="5"),
            '"lagTreshold" is not a setting of KEDA\'s kafka scaler',
        ),
        (
            "ScaledObject",
            lambda o: o["spec"]["scaleTargetRef"].update(name="agentmesh-agent-nobody"),
            'no Deployment named "agentmesh-agent-nobody" here',
        ),
    ],
)
def test_the_checker_rejects_what_a_cluster_would(
    helm: Path, k8scheck: Path, kind: str, change: Any, expected: str
) -> None:
    text = broken(helm, kind, "agentmesh-agent-researcher", change)
    checked = check(k8scheck, text)
    assert checked.returncode == 1
    errors = checked.errors()
    assert any(expected in e for e in errors.get(f"{kind}/agentmesh-agent-researcher", [])), errors
    # Nothing else in the rendering is blamed, except what points at the broken object.
    assert (
        {f"{kind}/agentmesh-agent-researcher"}
        <= set(errors)
        <= {
            f"{k}/agentmesh-agent-researcher"
            for k in ("Deployment", "PodDisruptionBudget", "ScaledObject")
        }
    )


def test_the_checker_rejects_a_kind_it_does_not_know(k8scheck: Path) -> None:
    text = "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec: {}\n"
    checked = check(k8scheck, text)
    assert checked.returncode == 1
    assert 'no API type for apiVersion "apps/v1beta1" kind "Deployment"' in str(checked.errors())


def test_setup_job_steps_can_be_chosen(helm: Path) -> None:
    app = "agentmesh_examples.research:mesh"
    out = rendered(helm, sets=["setup.createTopics=false"])
    (setup,) = containers(out.one("Job", "agentmesh-setup"))
    assert setup["args"] == ["contracts", "register", "--app", app]
    out = rendered(helm, sets=["setup.registerSchemas=false"])
    (setup,) = containers(out.one("Job", "agentmesh-setup"))
    assert setup["args"] == ["topics", "apply", "--app", app]
    out = rendered(helm, sets=["setup.registerSchemas=false", "setup.createTopics=false"])
    assert [o for o in out.objects if o["kind"] == "Job"] == []
