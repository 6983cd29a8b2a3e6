"""Redaction of recorded bodies: JSON paths blanked, regex matches replaced, before writing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[redacted]"
_MIN_LITERAL = 4  # shorter values (`1`, `yes`) would blank unrelated text where they recur


@dataclass(slots=True)
class Redactor:
    """Applies the policy's ``recording.redact`` to JSON-like values; counts what it replaced.

    A value a path blanks is also replaced wherever it appears verbatim in text redacted
    afterwards by this redactor or its children (a card number from the payload quoted in a
    prompt, or in a tool's error message).
    """

    paths: list[list[str]] = field(default_factory=list)
    patterns: list[re.Pattern[str]] = field(default_factory=list)
    literals: set[str] = field(default_factory=set)
    count: int = 0

    @classmethod
    def of(cls, paths: list[str], patterns: list[str]) -> Redactor:
        split = [p.removeprefix("$").removeprefix(".").split(".") for p in paths]
        return cls([s for s in split if s != [""]], [re.compile(p) for p in patterns])

    def child(self) -> Redactor:
        """A redactor for one recording: the same rules and what was blanked so far."""
        return Redactor(self.paths, self.patterns, set(self.literals))

    def data(self, value: Any) -> Any:
        """A copy of ``value`` with every path blanked and every string's matches replaced."""
        for path in self.paths:
            value = self._blank(value, path)
        return self.text_in(value)

    def text(self, text: str) -> str:
        for literal in sorted(self.literals, key=len, reverse=True):
            self.count += text.count(literal)
            text = text.replace(literal, REDACTED)
        for pattern in self.patterns:
            text, n = pattern.subn(REDACTED, text)
            self.count += n
        return text

    def text_in(self, value: Any) -> Any:
        """Literals and patterns replaced in every string of a JSON-like value (not keys)."""
        if not (self.patterns or self.literals):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.text_in(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.text_in(v) for v in value]
        return value

    def _blank(self, node: Any, path: list[str]) -> Any:
        if not path:
            self.count += 1
            if isinstance(node, str | int | float) and len(str(node)) >= _MIN_LITERAL:
                self.literals.add(str(node))
            return REDACTED
        head, rest = path[0], path[1:]
        if isinstance(node, dict):
            return {k: self._blank(v, rest) if head in ("*", k) else v for k, v in node.items()}
        if isinstance(node, list):
            return [
                self._blank(v, rest) if head == "*" or head == str(i) else v
                for i, v in enumerate(node)
            ]
        return node  # the path goes nowhere here: nothing to blank
