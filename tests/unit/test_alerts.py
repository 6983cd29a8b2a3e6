"""The alert rules and the Grafana dashboard under infra/: promtool checks and unit-tests the
rules, and every metric they query is one the code records (a renamed metric fails here)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY, CollectorRegistry

from tests.tools import need_tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "prometheus" / "agentmesh-alerts.yml"
RULE_TESTS = ROOT / "infra" / "prometheus" / "agentmesh-alerts.test.yml"
CONFIG = ROOT / "infra" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "infra" / "grafana" / "agentmesh-overview.json"
DOCS = ROOT / "docs" / "observability.md"

# Series Prometheus makes itself, not the code.
_PROMETHEUS_OWN = {"up"}
# PromQL words that look like metric names in an expression.
_PROMQL = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "delta",
    "deriv", "histogram_quantile", "absent", "and", "or", "unless", "sort_desc", "vector",
    "on", "ignoring", "group_left", "group_right", "label_values", "bool", "topk", "offset",
}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    program = need_tool("promtool", "promtool")
    return subprocess.run(
        [str(program), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_example_prometheus_config_is_valid() -> None:
    done = promtool("check", "config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_fires_when_it_should_and_not_otherwise() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_unit_tested_and_documented() -> None:
    alerts = {r["alert"]: r for g in _yaml(RULES)["groups"] for r in g["rules"]}
    tested = {
        case["alertname"] for t in _yaml(RULE_TESTS)["tests"] for case in t["alert_rule_test"]
    }
    assert sorted(alerts) == sorted(tested)
    docs = DOCS.read_text()
    for name, rule in alerts.items():
        assert rule.get("for"), f"{name} has no `for:`"
        assert rule["labels"]["severity"] in ("info", "warning", "critical")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        anchor = rule["annotations"]["runbook_url"].partition("#")[2]
        assert anchor == name.lower(), name
        assert f"### {name}\n" in docs, f"docs/observability.md has no section for {name}"


def test_metrics_queried_by_the_dashboard_and_alerts_are_recorded_by_the_code(
    tmp_path: Path,
) -> None:
    known = _recorded_series(tmp_path) | _PROMETHEUS_OWN
    queried = {name: where for where, expr in _expressions() for name in _metric_names(expr)}
    unknown = {name: where for name, where in queried.items() if name not in known}
    assert unknown == {}
    # And the check itself sees what the dashboard queries.
    assert {"agentmesh_step_duration_seconds_bucket", "agentmesh_llm_cost_usd_total"} <= set(
        queried
    )


def test_dashboard_is_importable_grafana_json() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 36
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"]
        assert p["targets"], p["title"]
    titles = " | ".join(p["title"] for p in panels)
    for needed in ("in flight", "Cost per tenant", "Cost per model", "p50 / p99", "breakers",
                   "Dead letters", "Review queue", "lag"):  # fmt: skip
        assert needed in titles


# -- helpers -------------------------------------------------------------------------------


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _expressions() -> Iterator[tuple[str, str]]:
    for group in _yaml(RULES)["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]
    board = json.loads(DASHBOARD.read_text())
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(metric, label): the label is not a metric.
            definition = re.sub(r",\s*\w+\s*\)", ")", variable["definition"])
            yield f"variable {variable['name']}", definition


def _metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression, roughly: identifiers outside label matchers,
    strings and durations that are not PromQL's own words."""
    bare = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]|\$\w+', " ", expr)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare))
    return {n for n in names if n not in _PROMQL and not re.fullmatch(r"\d+[smhdwy]?", n)}


def _recorded_series(tmp_path: Path) -> set[str]:
    """Every series name the agents, the supervisor and the gateway can expose."""
    import agentmesh.agents._metrics
    import agentmesh.supervisor._metrics as supervisor_metrics
    from agentmesh.supervisor._ledger import TaskLedger
    from agentmesh.supervisor._reviews import Pending, ReviewBook

    del agentmesh.agents._metrics
    # The supervisor's review gauges show only while something is pending: make it so.
    now = datetime.now(UTC)
    book = ReviewBook(task_id="t", pending={"r": _pending(Pending, now)})
    supervisor_metrics.observe_tables([TaskLedger(task_id="t")], [book], [], now)
    return _series(REGISTRY) | _series(_gateway_registry(tmp_path))


def _pending(pending: Any, now: datetime) -> Any:
    from agentmesh.contracts import ReviewRequest

    request = ReviewRequest(
        review_id="r",
        task_id="t",
        agent="a",
        kind="budget",
        reason="r",
        target_topic="t",
        parked_value=b"",
        payload_json="{}",
    )
    return pending(request=request, expires_at=now + timedelta(minutes=5))


def _gateway_registry(tmp_path: Path) -> CollectorRegistry:
    from agentmesh.core import Settings
    from agentmesh.gateway import create_app
    from agentmesh.gateway._auth import TokenStore
    from agentmesh.gateway._config import GatewayConfig
    from agentmesh.gateway._signing import Signer
    from tests.gateway_helpers import inline_tokens

    config = GatewayConfig(tokens=inline_tokens())
    app = create_app(
        Settings(namespace="names"),
        config,
        tokens=TokenStore.load(None, config.tokens),
        signer=Signer.load_or_create(tmp_path / "key.pem"),
    )
    registry: CollectorRegistry = app.state.gateway.metrics
    return registry


def _series(registry: CollectorRegistry) -> set[str]:
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created", "_gsum", "_gcount"),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "summary": ("_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
