"""Smoke test of the submission benchmark against the real broker: it runs and reports.

Speed is never asserted here: the machine is shared and the numbers are the benchmark's to
report, not the test suite's to judge. The gateway case needs hey or wrk; without one it is
left out (as the benchmark itself does).
"""

import re

import pytest

from agentmesh.core import Settings
from bench._gateway_tool import ToolUnavailable, find_tool
from bench.submit import main
from tests.conftest import Cluster

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]


def _gateway_tasks() -> str:
    try:
        find_tool(say=print)
    except ToolUnavailable:
        return "0"
    return "40"


def test_submit_benchmark_prints_every_cases_median_its_ratio_and_the_goal(
    cluster: Cluster, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = _gateway_tasks()
    args = ["--reps", "1", "--tasks-a", "3", "--tasks-b", "3", "--tasks-c", "5"]
    args += ["--tasks-d", "100", "--tasks-e", gateway, "--tasks-f", "20", "--concurrency", "4"]
    where = ["--bootstrap", cluster.bootstrap, "--registry-url", cluster.registry_url]
    assert main([*args, *where, "--namespace", settings.namespace]) == 0
    out = capsys.readouterr().out
    number = r"(\d[\d,]*\.?\d*)"
    cases = [r"\(a\) per call, as before", r"\(b\) submit_task, per call"]
    cases += [r"\(c\) Submitter.submit, one by one", r"\(d\) Submitter.submit_many"]
    cases += [r"\(f\) CLI task submit --file"]
    cases += [r"\(e\) gateway POST /v1/tasks"] if gateway != "0" else []
    for case in cases:
        median = re.search(rf"^{case}\s+{number}\s+{number}\s+{number}x$", out, re.M)
        assert median is not None, out
        rate, ms, ratio = (float(v.replace(",", "")) for v in median.groups())
        assert rate > 0
        assert ms > 0
        assert ratio > 0
    assert re.search(r"^goal: 1,000 tasks/s from one process: (met|NOT met) ", out, re.M), out
