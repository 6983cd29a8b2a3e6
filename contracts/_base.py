"""The base of every message model, and the field types with an Avro meaning."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = ["AVRO_CONTEXT", "AvroDecimal", "Contract", "Usd"]

AVRO_CONTEXT: dict[str, bool] = {"avro": True}
"""Pass as ``model_dump(context=...)`` to get a datum fastavro can write (union branches tagged)."""


@dataclass(frozen=True, slots=True)
class AvroDecimal:
    """Marks a ``Decimal`` field as Avro ``bytes``/``decimal`` with this precision and scale."""

    precision: int
    scale: int


_USD_SCALE = Decimal(1).scaleb(-10)


def _quantize_usd(value: Decimal) -> Decimal:
    # Avro decimals have a fixed scale; prices per token need ~1e-9 USD.
    return value.quantize(_USD_SCALE)


Usd = Annotated[Decimal, AfterValidator(_quantize_usd), AvroDecimal(precision=22, scale=10)]
"""An amount of US dollars, exact to 1e-10 (never a float: this is money)."""


class Contract(BaseModel):
    """A message model with an Avro schema derived from it.

    Models are frozen and reject unknown fields: a message is a fact, and a typo in a field
    name must fail loudly at the sender, not vanish.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    avro_namespace: ClassVar[str] = "dev.agentmesh"
    avro_name: ClassVar[str | None] = None

    @classmethod
    def avro_fullname(cls) -> str:
        """The Avro full name of this record (namespace + name)."""
        return f"{cls.avro_namespace}.{cls.avro_record_name()}"

    @classmethod
    def avro_record_name(cls) -> str:
        """The Avro record name: ``avro_name`` or the class name without generic arguments."""
        return cls.avro_name or cls.__name__.split("[", 1)[0]

    @model_serializer(mode="wrap")
    def _tag_union_branch(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        # fastavro picks a union branch by this key; without it, records with the same
        # field names (step_started / step_finished) would be ambiguous.
        if info.context is not None and info.context.get("avro") and isinstance(data, dict):
            data["-type"] = type(self).avro_fullname()
        return data
