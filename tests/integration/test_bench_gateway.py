"""Smoke test of the gateway benchmark against the real broker: it runs and reports.

Speed is never asserted here: the machine is shared and the numbers are the benchmark's to
report, not the test suite's to judge. Skipped when neither hey nor wrk is installed or can
be installed here (no Go toolchain, no apt as root).
"""

import re

import pytest

from agentmesh.core import Settings
from bench._gateway_tool import ToolUnavailable, find_tool
from bench.gateway import main
from tests.conftest import Cluster

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

# Overlapping submissions share one group-committed transaction; the bench exits 1 if any
# response is not the expected 200/202.
CONCURRENCY = 4


@pytest.fixture(scope="module")
def load_tool() -> str:
    try:
        tool = find_tool(say=print)
    except ToolUnavailable as exc:
        pytest.skip(f"no HTTP load tool for bench.gateway: {exc}")
    return tool.name


def test_gateway_benchmark_prints_both_p50s_and_the_ratio(
    load_tool: str, cluster: Cluster, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--requests", "50", "--warmup", "10", "--reps", "1"]
    args += ["--concurrency", str(CONCURRENCY), "--tool", load_tool]
    where = ["--bootstrap", cluster.bootstrap, "--registry-url", cluster.registry_url]
    assert main([*args, *where, "--namespace", settings.namespace]) == 0
    out = capsys.readouterr().out
    number = r"(\d[\d,]*\.?\d*)"
    for case in (r"\(a\) GET /healthz", r"\(b\) POST /v1/tasks"):
        median = re.search(rf"^{case}\s+{number}\s+{number}\s+{number}$", out, re.M)
        assert median is not None, out
        p50, p99, rate = (float(v.replace(",", "")) for v in median.groups())
        assert 0 < p50 <= p99
        assert rate > 0
    ratio = re.search(rf"^\(b\)/\(a\) p50: {number}x", out, re.M)
    assert ratio is not None, out
    assert float(ratio.group(1)) > 0
    assert re.search(r"^\(b\)/\(a\) requests/s: ", out, re.M), out
    assert f"with {load_tool} " in out
