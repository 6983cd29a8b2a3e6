"""Local infrastructure logic that needs no broker: processes, ports, prerequisites, Maven."""

import os
import socket
import stat
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from agentmesh.core import Settings
from agentmesh.infra import LocalInfra, PortBusyError, PrerequisiteMissingError, SilentReporter
from agentmesh.infra._maven import fetch, is_complete
from agentmesh.infra._process import ManagedProcess


@pytest.fixture
def free_ports() -> list[int]:
    socks = [socket.socket() for _ in range(3)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def local_settings(tmp_path: Path, ports: list[int]) -> Settings:
    return Settings(
        home=tmp_path / "home",
        data_dir=tmp_path / "data",
        kafka_port=ports[0],
        kafka_controller_port=ports[1],
        registry_port=ports[2],
    )


def test_managed_process_is_found_again_and_stopped(tmp_path: Path) -> None:
    marker = f"--marker={tmp_path}"
    proc = ManagedProcess("sleeper", tmp_path, marker)
    pid = proc.start([sys.executable, "-c", "import time; time.sleep(60)", marker])
    again = ManagedProcess("sleeper", tmp_path, marker)  # as `infra down` in another process
    assert again.running_pid() == pid
    assert again.stop(timeout=5) is True
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (again.running_pid(), again.pid_file.exists()) == (None, False)


def test_a_process_inside_exec_is_not_taken_for_a_stranger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside exec the kernel shows an empty command line for a moment (seen once under load
    # in CI): that must neither lose the pid file nor read as "not running".
    marker = f"--marker={tmp_path}"
    pid = ManagedProcess("sleeper", tmp_path, marker).start(
        [sys.executable, "-c", "import time; time.sleep(60)", marker]
    )
    real_cmdline = psutil.Process.cmdline
    reads: list[int] = []

    def mid_exec(self: psutil.Process) -> list[str]:
        reads.append(self.pid)
        return [] if len(reads) < 3 else real_cmdline(self)

    monkeypatch.setattr(psutil.Process, "cmdline", mid_exec)
    again = ManagedProcess("sleeper", tmp_path, marker)
    assert again.running_pid() == pid
    assert again.pid_file.exists()
    assert len(reads) == 3
    monkeypatch.undo()
    assert again.stop(timeout=5) is True


def test_stale_pid_file_of_another_process_is_ignored(tmp_path: Path) -> None:
    proc = ManagedProcess("svc", tmp_path, "--never-in-any-cmdline")
    proc.pid_file.write_text(f"{os.getpid()}\n")  # a live pid, but not ours
    assert proc.running_pid() is None
    assert not proc.pid_file.exists()


def test_busy_port_names_the_port_and_the_setting(tmp_path: Path, free_ports: list[int]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_ports[0]))
        busy.listen()
        with pytest.raises(PortBusyError) as err:
            LocalInfra(local_settings(tmp_path, free_ports)).up()
    message = str(err.value)
    assert f"port {free_ports[0]} (kafka client listener, AGENTMESH_KAFKA_PORT)" in message
    assert f"pid {os.getpid()}" in message


def test_missing_java_says_how_to_install_it(
    tmp_path: Path, free_ports: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no mvn
    settings = local_settings(tmp_path, free_ports)
    with pytest.raises(PrerequisiteMissingError, match="Maven \\(mvn\\) was not found"):
        LocalInfra(settings).up()
    # With the jars already cached, Maven is not needed but Java still is.
    libs = settings.home / "kafka-4.1.2" / "libs"
    libs.mkdir(parents=True)
    (libs / ".complete").write_text("ok")
    with pytest.raises(PrerequisiteMissingError, match="apt-get install openjdk-17-jre-headless"):
        LocalInfra(settings).up()


def fake_mvn(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir()
    script = bin_dir / "mvn"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_maven_progress_is_reported_and_completion_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_mvn(
        tmp_path / "bin",
        """
        echo "[INFO] Downloading from central: https://repo/x/a-1.jar"
        echo "[INFO] Downloaded from central: https://repo/x/a-1.jar (1 kB at 1 MB/s)"
        echo "Downloaded from central: https://repo/y/b-2.jar (2 kB at 1 MB/s)"
        out="${5#-DoutputDirectory=}"; touch "$out/a-1.jar"
        """,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    seen: list[tuple[int, str]] = []
    out = tmp_path / "libs"
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    args = lambda d: ["dependency:copy-dependencies", f"-DoutputDirectory={d}"]  # noqa: E731
    fetch(pom, out, args, on_progress=lambda n, a: seen.append((n, a)))
    assert seen == [(1, "a-1.jar"), (2, "b-2.jar")]
    assert is_complete(out)
    assert (out / "a-1.jar").exists()


def test_failed_download_keeps_nothing_and_shows_mavens_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentmesh.infra import DownloadFailedError

    fake_mvn(tmp_path / "bin", 'echo "[ERROR] Could not resolve kafka_2.13"; exit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    with pytest.raises(DownloadFailedError, match=r"Could not resolve kafka_2\.13"):
        fetch(pom, tmp_path / "libs", lambda d: [], on_progress=None)
    assert not (tmp_path / "libs").exists()


def test_external_services_start_nothing(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1", schema_registry_url="http://127.0.0.1:1", data_dir=tmp_path
    )
    infra = LocalInfra(settings, SilentReporter())
    assert [s.state for s in infra.status()] == ["unreachable", "unreachable"]
    assert infra.down() == []
    assert list(tmp_path.iterdir()) == []


def test_an_external_registry_slow_to_answer_is_waited_for_not_called_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentmesh.infra._registry import LocalRegistry

    settings = Settings(schema_registry_url="http://127.0.0.1:1", data_dir=tmp_path)
    registry = LocalRegistry(settings)
    answers = iter([False, False, True])
    monkeypatch.setattr(registry, "answers", lambda: next(answers))
    monkeypatch.setattr("agentmesh.infra._service.time.sleep", lambda _s: None)
    registry.wait_ready(SilentReporter(), timeout=60)  # answered on the third ask


def test_an_external_registry_that_never_answers_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentmesh.infra import ServiceFailedError
    from agentmesh.infra._registry import LocalRegistry

    settings = Settings(schema_registry_url="http://127.0.0.1:1", data_dir=tmp_path)
    registry = LocalRegistry(settings)
    monkeypatch.setattr(registry, "answers", lambda: False)
    with pytest.raises(ServiceFailedError, match="AGENTMESH_SCHEMA_REGISTRY_URL"):
        registry.wait_ready(SilentReporter(), timeout=0.2)
