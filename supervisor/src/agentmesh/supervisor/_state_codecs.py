"""faust codecs for the supervisor's table values: pydantic models as JSON."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from faust.serializers import codecs
from pydantic import BaseModel

from agentmesh.supervisor._breakers import Breaker
from agentmesh.supervisor._ledger import TaskLedger
from agentmesh.supervisor._reviews import ReviewBook
from agentmesh.supervisor._spend import TenantSpend

__all__ = ["BOOK", "BREAKER", "LEDGER", "SPEND"]

M = TypeVar("M", bound=BaseModel)


class _ModelCodec(codecs.Codec, Generic[M]):
    def __init__(self, model: type[M]) -> None:
        super().__init__()
        self.model = model

    def _dumps(self, obj: Any) -> bytes:
        return obj.model_dump_json().encode()  # type: ignore[no-any-return]

    def _loads(self, s: bytes) -> Any:
        return self.model.model_validate_json(s)


LEDGER = "agentmesh-ledger"
BOOK = "agentmesh-reviews"
BREAKER = "agentmesh-breaker"
SPEND = "agentmesh-spend"

for _name, _model in (
    (LEDGER, TaskLedger),
    (BOOK, ReviewBook),
    (BREAKER, Breaker),
    (SPEND, TenantSpend),
):
    codecs.register(_name, _ModelCodec(_model))
