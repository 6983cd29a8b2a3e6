"""A task's input, checked by its entry agent's own model, with errors in the user's terms.

The CLI, the gateway and ``agentmesh.agents.Submitter`` all call :func:`check_input`: what
one of them accepts, the others accept, and the agent will not dead-letter it afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "IDEMPOTENCY_KEY_MAX_LENGTH",
    "IDEMPOTENCY_KEY_PATTERN",
    "InputRejected",
    "Problem",
    "check_idempotency_key",
    "check_input",
]

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_KEY_MAX_LENGTH = 200
IDEMPOTENCY_KEY_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
"""No control characters: a key is printed by ``task show``, logs and terminals, where a
control character would garble or rewrite what people read."""

_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_SHOWN = 60  # characters of a refused value quoted back


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: ``field`` as the user wrote it (``input.question``), and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InputRejected(ValueError):
    """The submission does not fit; ``problems`` name each field at fault."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems) or (Problem("input", "invalid input"),)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def field(self) -> str:
        """The first field at fault."""
        return self.problems[0].field

    def as_dicts(self) -> list[dict[str, str]]:
        """``[{"field": ..., "error": ...}]``, as the gateway's error bodies list them."""
        return [{"field": p.field, "error": p.message} for p in self.problems]


def check_input(model: type[M], data: Any, *, at: str = "input") -> M:
    """``data`` as ``model`` (the entry agent's input), or :class:`InputRejected` naming
    each field by its path from ``at`` (``input.question``, ``input.items.0.name``; with
    ``at=""`` from the top: ``question``)."""
    if isinstance(data, model):
        return data
    try:
        if isinstance(data, BaseModel):
            data = data.model_dump()
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputRejected([_problem(at, e) for e in exc.errors()]) from None


def check_idempotency_key(key: str, *, field: str = "idempotency_key") -> str:
    """``key`` if it may name a submission: 1 to 200 characters, none of them a control
    character; else :class:`InputRejected` naming ``field``."""
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        problem = f"must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters, not {len(key)}"
        raise InputRejected([Problem(field, problem)])
    if not _KEY.match(key):
        bad = next(c for c in key if not _KEY.match(c))
        raise InputRejected([Problem(field, f"holds the control character {bad!r}")])
    return key


def _problem(at: str, error: ErrorDetails) -> Problem:
    field = ".".join([p for p in (at, *(str(p) for p in error["loc"])) if p])
    message = error["msg"]
    if error["type"] not in {"missing", "extra_forbidden"} and _is_scalar(error["input"]):
        shown = repr(error["input"])
        if len(shown) > _SHOWN:
            shown = shown[: _SHOWN - 3] + "..."
        message = f"{message} (got {shown})"
    return Problem(field, message)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
