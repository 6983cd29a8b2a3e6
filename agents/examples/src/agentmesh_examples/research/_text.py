"""Small text helpers shared by the agents and the demo model."""

from __future__ import annotations

import re

__all__ = ["first_sentence", "one_line"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\[])")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (all of it when no sentence end is found)."""
    return _SENTENCE_END.split(one_line(text), maxsplit=1)[0]
