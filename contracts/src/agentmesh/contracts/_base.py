"""The base of every message model, and the field types with an Avro meaning."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = ["AvroDecimal", "Contract", "Usd"]


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
