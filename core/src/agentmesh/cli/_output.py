"""How commands talk: results on stdout (text or ``--json``), progress and errors on stderr."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.status import Status

__all__ = [
    "JsonOption",
    "RichReporter",
    "err_console",
    "fail",
    "out_console",
    "print_json",
    "shell_command",
]

out_console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout, for scripts.")
]


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    sys.stdout.flush()


def shell_command() -> str:
    """How the user's shell runs this CLI, for the commands we suggest.

    ``agentmesh`` when the shell finds this very installation on PATH; else its path (after
    `make run`, which goes through ``uv run``, the shell usually has no ``.venv/bin`` on PATH).
    """
    script = Path(sys.prefix) / "bin" / "agentmesh"
    found = shutil.which("agentmesh")
    # `uv run` puts the environment's bin first on PATH for its child only (and says so in $UV).
    on_path = found is not None and Path(found) == script and "UV" not in os.environ
    if on_path or not script.exists():
        return "agentmesh"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def fail(message: str, *, json_mode: bool, code: int = 1) -> NoReturn:
    """Report an error the user can act on and exit with ``code``."""
    if json_mode:
        print_json({"ok": False, "error": message})
    else:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class RichReporter:
    """Progress for long operations: a live spinner on a terminal, plain lines otherwise."""

    _PLAIN_EVERY = 25  # downloads between progress lines when not on a terminal

    def __init__(self, console: Console = err_console, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self._status: Status | None = None

    def __enter__(self) -> RichReporter:
        if self.enabled and self.console.is_terminal:
            self._status = self.console.status("starting")
            self._status.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()

    def phase(self, service: str, text: str) -> None:
        if not self.enabled:
            return
        if self._status is not None:
            self._status.update(f"[bold]{service}[/]: {text}")
        self.console.print(f"[dim]{service}:[/] {text}", highlight=False, soft_wrap=True)

    def download(self, service: str, count: int, artifact: str) -> None:
        if not self.enabled:
            return
        message = f"downloading from Maven Central (first run only): {count} files, {artifact}"
        if self._status is not None:
            self._status.update(f"[bold]{service}[/]: {message}")
        elif count == 1 or count % self._PLAIN_EVERY == 0:
            self.console.print(f"[dim]{service}:[/] {message}", highlight=False, soft_wrap=True)
