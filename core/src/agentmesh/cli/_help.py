"""Help text that reads as prose at any terminal width.

Typer (0.29) keeps the hard line breaks of a command's docstring, so on a terminal narrower
than the source's ~92 columns every line wraps twice ("e.g." alone on a line). The command
tree's help is reflowed once before it is shown: the lines of a paragraph are joined and rich
wraps them to the terminal. A paragraph that starts with ``\\b`` (click's marker) or whose
lines are list items keeps its lines.
"""

from __future__ import annotations

from typing import Any

__all__ = ["reflow", "reflow_help"]


def reflow(text: str) -> str:
    """``text`` with each paragraph's lines joined; list items and ``\\b`` paragraphs kept."""
    return "\n\n".join(_paragraph(p) for p in text.split("\n\n"))


def _paragraph(paragraph: str) -> str:
    if paragraph.lstrip().startswith("\b"):
        return paragraph
    lines: list[str] = []
    for raw in paragraph.split("\n"):
        line = raw.strip()
        if lines and not _starts_item(line):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return "\n".join(lines)


def _starts_item(line: str) -> bool:
    return line.startswith(("- ", "* ", "$ ", "|"))


def reflow_help(command: Any) -> None:
    """Reflow the help of ``command``, its parameters and every command below it, in place.

    Typed loosely on purpose: typer builds its commands on its own copy of click, so neither
    click's classes nor typer's private ones name them.
    """
    if command.help:
        command.help = reflow(command.help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = reflow(param.help)
    for sub in getattr(command, "commands", {}).values():
        reflow_help(sub)
