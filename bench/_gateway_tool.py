"""The HTTP load tool of ``bench.gateway``: hey, else wrk; found, else installed; run, parsed.

hey (Go) is found on PATH or in ``$(go env GOPATH)/bin``, else installed with ``go install``;
wrk is found on PATH, else installed with ``apt-get`` (as root only). Either one sends one
request over and over at a fixed concurrency on keep-alive connections (hey a number of
times, wrk for a duration) and reports the latency percentiles, the rate and the status
codes it saw; :func:`run_load` turns its output into a :class:`LoadRun`.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench._stats import percentile

__all__ = [
    "HEY_MODULE",
    "LoadFailed",
    "LoadRun",
    "LoadTool",
    "Request",
    "ToolUnavailable",
    "find_tool",
    "run_load",
]

HEY_MODULE = "github.com/rakyll/hey@v0.1.5"
"""Pinned, so every run of the benchmark measures with the same client."""

ToolName = Literal["hey", "wrk"]
Say = Callable[[str], None]


class ToolUnavailable(RuntimeError):
    """Neither hey nor wrk is installed, and neither could be installed here."""


class LoadFailed(RuntimeError):
    """The tool exited with an error or printed nothing we could read."""


@dataclass(frozen=True)
class LoadTool:
    name: ToolName
    path: str
    version: str

    def describe(self) -> str:
        return f"{self.name} {self.version} ({self.path})"


@dataclass(frozen=True)
class LoadRun:
    """What one run of the tool reported."""

    p50_s: float
    p99_s: float
    requests_per_s: float
    statuses: dict[int, int]
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    def unexpected(self, expected: int) -> dict[str, int]:
        """Responses with another status, and transport errors, by what went wrong."""
        wrong = {f"HTTP {code}": n for code, n in self.statuses.items() if code != expected}
        return {**wrong, **self.errors}

    def as_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": self.p50_s * 1e3,
            "p99_ms": self.p99_s * 1e3,
            "requests_per_s": self.requests_per_s,
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "errors": self.errors,
        }


# --- finding or installing the tool -------------------------------------------------------


def find_tool(choice: Literal["auto", "hey", "wrk"] = "auto", *, say: Say) -> LoadTool:
    """An installed hey, else an installed wrk, else hey installed now, else wrk installed now.

    ``choice`` restricts the search to one tool. Raises :class:`ToolUnavailable`, saying what
    was tried, when none can be had.
    """
    tried: list[str] = []
    order: list[ToolName] = ["hey", "wrk"] if choice == "auto" else [choice]
    for name in order:
        found = _installed(name)
        if found is not None:
            return _described(name, found)
        tried.append(
            f"{name}: not on PATH" + (" nor in $(go env GOPATH)/bin" if name == "hey" else "")
        )
    for name in order:
        installer = _install_hey if name == "hey" else _install_wrk
        try:
            return _described(name, installer(say))
        except ToolUnavailable as exc:
            say(f"could not install {name}: {exc}")
            tried.append(f"{name}: {exc}")
    raise ToolUnavailable(
        "no HTTP load tool: "
        + "; ".join(tried)
        + f". Install one: `go install {HEY_MODULE}` (then put $(go env GOPATH)/bin on PATH) "
        "or `apt-get install wrk`"
    )


def _go() -> str | None:
    return shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(p, os.X_OK)), None
    )


def _go_bin_dir(go: str) -> Path | None:
    try:
        out = subprocess.run(
            [go, "env", "GOBIN", "GOPATH"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    gobin, gopath = [*out, "", ""][:2]
    if gobin.strip():
        return Path(gobin.strip())
    first = gopath.strip().split(os.pathsep)[0]
    return Path(first) / "bin" if first else None


def _installed(name: ToolName) -> str | None:
    on_path = shutil.which(name)
    if on_path is not None or name != "hey":
        return on_path
    candidates = [Path.home() / "go" / "bin" / "hey"]
    go = _go()
    if go is not None and (bin_dir := _go_bin_dir(go)) is not None:
        candidates.insert(0, bin_dir / "hey")
    return next((str(p) for p in candidates if os.access(p, os.X_OK)), None)


def _install_hey(say: Say) -> str:
    go = _go()
    if go is None:
        raise ToolUnavailable("no Go toolchain (`go`) to install it with")
    say(f"installing hey: {go} install {HEY_MODULE} (a minute or so the first time)")
    try:
        done = subprocess.run(
            [go, "install", HEY_MODULE], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolUnavailable(f"`go install {HEY_MODULE}` failed: {exc}") from None
    if done.returncode != 0:
        raise ToolUnavailable(f"`go install {HEY_MODULE}` failed: {_tail(done.stderr)}")
    found = _installed("hey")
    if found is None:
        raise ToolUnavailable("`go install` succeeded but no hey binary in $(go env GOPATH)/bin")
    say(f"installed {found}")
    return found


def _install_wrk(say: Say) -> str:
    apt = shutil.which("apt-get")
    if apt is None:
        raise ToolUnavailable("no apt-get to install it with")
    if os.geteuid() != 0:
        raise ToolUnavailable("installing it with apt-get needs root")
    install = [apt, "install", "-y", "-q", "wrk"]
    # A second try after `apt-get update`, for package lists that are missing or stale.
    for steps in ([install], [[apt, "update", "-q"], install]):
        for argv in steps:
            say(f"installing wrk: {' '.join(argv)}")
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ToolUnavailable(f"`{' '.join(argv)}` failed: {exc}") from None
            if done.returncode != 0:
                problem = f"`{' '.join(argv)}` failed: {_tail(done.stderr)}"
                break
        else:
            if (found := shutil.which("wrk")) is not None:
                say(f"installed {found}")
                return found
            problem = "apt-get installed wrk but it is not on PATH"
    raise ToolUnavailable(problem)


def _described(name: ToolName, path: str) -> LoadTool:
    return LoadTool(name, path, _hey_version(path) if name == "hey" else _wrk_version(path))


def _hey_version(path: str) -> str:
    """hey has no --version: the module version Go recorded in the binary."""
    go = _go()
    if go is not None:
        try:
            out = subprocess.run(
                [go, "version", "-m", path], capture_output=True, text=True, timeout=30, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        if found := re.search(r"^\s*mod\s+github\.com/rakyll/hey\s+(\S+)", out, re.MULTILINE):
            return found.group(1)
    return "(version unknown)"


def _wrk_version(path: str) -> str:
    try:
        done = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "(version unknown)"
    found = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return found.group(1) if found else "(version unknown)"


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


# --- running it -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request, repeated: method, URL, headers and body."""

    method: Literal["GET", "POST"]
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None


def run_load(
    tool: LoadTool,
    request: Request,
    *,
    requests: int,
    concurrency: int,
    rate_hint: float | None = None,
) -> LoadRun:
    """Send ``request`` about ``requests`` times over ``concurrency`` keep-alive connections.

    hey sends exactly that many (rounded down to a multiple of ``concurrency``). wrk runs for
    a duration instead: ``requests / rate_hint`` seconds (at least 1), or 2 s without a hint
    (a rate measured in an earlier run of the same request).
    """
    concurrency = min(concurrency, requests)  # hey refuses fewer requests than workers
    if tool.name == "wrk":
        duration_s = max(1, round(requests / rate_hint)) if rate_hint else 2
        timeout_s = 120.0 + duration_s
    else:
        timeout_s = 120 + requests / 20  # even at 20 requests/s: a hung server, not a slow one
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as scratch:
        if tool.name == "hey":
            argv = _hey_argv(tool.path, request, requests, concurrency, Path(scratch))
        else:
            argv = _wrk_argv(tool.path, request, duration_s, concurrency, Path(scratch))
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise LoadFailed(f"{tool.name} did not finish within {timeout_s:.0f} s") from None
    if done.returncode != 0:
        raise LoadFailed(
            f"{tool.name} exited with {done.returncode}: {_tail(done.stderr or done.stdout)}"
        )
    try:
        if tool.name == "hey":
            return _parse_hey(done.stdout, sent=requests - requests % concurrency)
        return _parse_wrk(done.stdout)
    except (ValueError, KeyError) as exc:
        raise LoadFailed(
            f"cannot read {tool.name}'s output ({exc}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        ) from None


def _hey_argv(path: str, request: Request, n: int, c: int, scratch: Path) -> list[str]:
    # hey gives each of its c workers n // c requests: n is rounded down to a multiple of c.
    argv = [path, "-n", str(n), "-c", str(c), "-t", "20", "-m", request.method, "-o", "csv"]
    for name, value in request.headers.items():
        if name.lower() == "content-type":
            argv += ["-T", value]
        else:
            argv += ["-H", f"{name}: {value}"]
    if request.body is not None:
        body = scratch / "body"
        body.write_bytes(request.body)
        argv += ["-D", str(body)]
    return [*argv, request.url]


def _parse_hey(out: str, sent: int) -> LoadRun:
    """hey's ``-o csv``: one row per response, its time and status and when it was sent.

    The CSV rather than the summary: the summary's percentiles skip p99 below 100 requests
    and both print seconds with 4 decimals (0.1 ms steps) anyway. Requests that got no
    response (transport errors) have no row.
    """
    rows = list(csv.DictReader(io.StringIO(out)))
    if not rows:
        raise ValueError(f"no responses to {sent} requests (is the server up?)")
    times = [float(row["response-time"]) for row in rows]
    statuses: dict[int, int] = {}
    for row in rows:
        code = int(row["status-code"])
        statuses[code] = statuses.get(code, 0) + 1
    # As hey's summary reckons Requests/sec: responses over the time from start to last answer.
    elapsed = max(float(row["offset"]) + t for row, t in zip(rows, times, strict=True))
    errors = {"no response (transport error)": sent - len(rows)} if sent > len(rows) else {}
    return LoadRun(
        percentile(times, 50), percentile(times, 99), len(rows) / elapsed, statuses, errors
    )


_WRK_SCRIPT = """\
-- Written by bench.gateway for one run: one request with fixed headers and body; counts the
-- status codes per thread and prints a summary the benchmark reads. (No early stop: a
-- thread stopped by wrk.thread:stop() leaves wrk idle until the end of its duration.)
wrk.method = {method}
wrk.body = {body}
{headers}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  codes = {{}}
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("BENCH duration_us=%d requests=%d p50_us=%d p99_us=%d\\n",
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99)))
  local e = summary.errors
  io.write(string.format("BENCH errors connect=%d read=%d write=%d timeout=%d status=%d\\n",
    e.connect, e.read, e.write, e.timeout, e.status))
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("codes")) do
      io.write(string.format("BENCH status %d %d\\n", code, n))
    end
  end
end
"""


def _lua(text: str) -> str:
    """A double-quoted Lua string literal: printable ASCII as is, any other byte as ``\\ddd``."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _wrk_argv(path: str, request: Request, duration_s: int, c: int, scratch: Path) -> list[str]:
    threads = min(2, c)
    headers = "\n".join(
        f"wrk.headers[{_lua(name)}] = {_lua(value)}" for name, value in request.headers.items()
    )
    script = scratch / "request.lua"
    script.write_text(
        _WRK_SCRIPT.format(
            method=_lua(request.method),
            body=_lua(request.body.decode()) if request.body is not None else "nil",
            headers=headers,
        ),
        encoding="utf-8",
    )
    return [
        path,
        "-t",
        str(threads),
        "-c",
        str(c),
        "-d",
        f"{duration_s}s",
        "--timeout",
        "20s",
        "-s",
        str(script),
        request.url,
    ]


def _parse_wrk(out: str) -> LoadRun:
    main = re.search(r"BENCH duration_us=(\d+) requests=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
    errs = re.search(
        r"BENCH errors connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) status=(\d+)", out
    )
    if main is None or errs is None:
        raise ValueError("no BENCH summary lines from the script")
    duration_us, count, p50_us, p99_us = (int(v) for v in main.groups())
    statuses: dict[int, int] = {}
    for code, n in re.findall(r"^BENCH status (\d+) (\d+)$", out, re.M):
        statuses[int(code)] = statuses.get(int(code), 0) + int(n)
    errors = {
        f"socket {kind}": int(n)
        for kind, n in zip(("connect", "read", "write", "timeout"), errs.groups()[:4], strict=True)
        if int(n)
    }
    return LoadRun(p50_us / 1e6, p99_us / 1e6, count / (duration_us / 1e6), statuses, errors)
