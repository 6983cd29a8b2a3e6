"""Values that parse as JSON but cannot be written back out as JSON or Avro.

Python's JSON parser accepts integers of any size, ``NaN``/``Infinity`` and lone UTF-16
surrogates (``"\\ud800"``); orjson and Avro's UTF-8 strings refuse them when the record is
written, which would surface as a 500 after validation passed. Found first, they are a 422
that names the field.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["printable", "text_problem", "unencodable"]

# What orjson writes: int64 and uint64.
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1


def unencodable(value: Any, path: str = "") -> tuple[str, str] | None:
    """(dotted path of the first value that cannot be written, what is wrong), or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{printable(key)}" if path else printable(key)
            problem = text_problem(key)
            if problem is not None:
                return sub, f"{sub}: the name is {problem}"
            found = unencodable(item, sub)
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = unencodable(item, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
        return None
    where = path or "value"
    problem = _scalar_problem(value)
    return None if problem is None else (where, f"{where}: {problem}")


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not _MIN_INT <= value <= _MAX_INT:
        return (
            f"integer out of range (JSON integers here are 64-bit, from {_MIN_INT} to "
            f"{_MAX_INT}; send a float such as 1e30, or a string)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a JSON number (send a finite number)"
    if isinstance(value, str):
        return text_problem(value)
    return None


def printable(text: str) -> str:
    """``text`` safe to put in an error body (a lone surrogate shown as ``\\ud800``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def text_problem(text: str) -> str | None:
    """What makes ``text`` unwritable as UTF-8 (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = printable(text[exc.start : exc.end])
        return (
            f"not valid Unicode text: a lone surrogate {bad} at character {exc.start} "
            "(a \\ud800-\\udfff escape must be one half of a pair, e.g. \\ud83d\\ude00)"
        )
    return None
