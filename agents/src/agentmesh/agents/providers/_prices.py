"""What a model call cost: overrides for private models, else the genai-prices catalogue."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentmesh.agents._estimate import CallEstimate

__all__ = ["PRICES_ENV_VAR", "ModelPrice", "PriceLookup", "PriceTable"]

PRICES_ENV_VAR = "AGENTMESH_LLM_PRICES"
_MTOK = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input and output tokens."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The exact cost of one call's tokens."""
        paid = self.input_per_mtok * input_tokens + self.output_per_mtok * output_tokens
        return paid / _MTOK


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, _Entry]


class PriceTable:
    """Prices model calls; ``None`` when the price is unknown (never a silent zero).

    Lookup order for a call to ``model`` through provider ``provider`` (the ChatModel's
    ``provider`` name, e.g. ``"openai"`` or ``"vllm"``):

    1. the override ``"<provider>:<model>"``, then ``"<model>"`` (exact names);
    2. ``genai_prices.calc_price`` with ``provider_id=price_as`` when the provider names a
       genai-prices provider, else with ``provider_api_url=api_url`` (so api.openai.com,
       api.anthropic.com, OpenRouter, Groq... are recognised; a local server is not);
    3. otherwise unknown: ``None``.

    Model names are never matched against the catalogue without a provider or URL, so a
    self-hosted model that happens to share a name with a hosted one is not priced as it.
    """

    def __init__(
        self, overrides: Mapping[str, ModelPrice] | None = None, *, catalog: bool = True
    ) -> None:
        self.overrides = dict(overrides or {})
        self.catalog = catalog

    @classmethod
    def from_file(cls, path: str | Path, *, catalog: bool = True) -> PriceTable:
        """Overrides from a YAML (or JSON) file: ``models: {name: {input_per_mtok, ...}}``."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            parsed = _File.model_validate(yaml.safe_load(text))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ValueError(
                f"price file {path}: expected `models: {{<[provider:]model>: "
                f"{{input_per_mtok: <usd>, output_per_mtok: <usd>}}}}`: {exc}"
            ) from None
        overrides = {
            name: ModelPrice(e.input_per_mtok, e.output_per_mtok)
            for name, e in parsed.models.items()
        }
        return cls(overrides, catalog=catalog)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PriceTable:
        """The catalogue plus the override file named by ``AGENTMESH_LLM_PRICES``, if set."""
        path = (os.environ if env is None else env).get(PRICES_ENV_VAR)
        return cls.from_file(path) if path else cls()

    def cost(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        provider: str,
        price_as: str | None = None,
        api_url: str | None = None,
    ) -> Decimal | None:
        """The call's cost in USD, or ``None`` if no price is known for this model."""
        override = self.overrides.get(f"{provider}:{model}") or self.overrides.get(model)
        if override is not None:
            return override.cost(input_tokens, output_tokens)
        if not self.catalog or (price_as is None and api_url is None):
            return None
        return _catalog_cost(model, input_tokens, output_tokens, price_as, api_url)

    def per_token(
        self,
        model: str,
        *,
        provider: str,
        price_as: str | None = None,
        api_url: str | None = None,
    ) -> tuple[Decimal, Decimal] | None:
        """USD per input and per output token (``None``: unknown), for capping a call to a
        remaining cost before it is made. Priced at a million tokens, so where the price
        rises with the prompt's length this is the higher rate: an over-estimate."""
        per_input = self.cost(
            model, 1_000_000, 0, provider=provider, price_as=price_as, api_url=api_url
        )
        per_output = self.cost(
            model, 0, 1_000_000, provider=provider, price_as=price_as, api_url=api_url
        )
        if per_input is None or per_output is None:
            return None
        return per_input / _MTOK, per_output / _MTOK


class PriceLookup:
    """One provider's per-token prices by model, looked up once each (for estimates)."""

    def __init__(
        self, table: PriceTable, provider: str, price_as: str | None, api_url: str
    ) -> None:
        self.table, self.provider, self.price_as, self.api_url = table, provider, price_as, api_url
        self._known: dict[str, tuple[Decimal, Decimal] | None] = {}

    def estimate(
        self, input_tokens: int, model: str, output_limit: int | None = None
    ) -> CallEstimate:
        """A call of ``input_tokens`` to ``model``, with its prices when known."""
        if model not in self._known:
            self._known[model] = self.table.per_token(
                model, provider=self.provider, price_as=self.price_as, api_url=self.api_url
            )
        price = self._known[model]
        per_input, per_output = price or (None, None)
        return CallEstimate(input_tokens, per_input, per_output, output_limit)


def _catalog_cost(
    model: str, input_tokens: int, output_tokens: int, price_as: str | None, api_url: str | None
) -> Decimal | None:
    # Imported on first use: the catalogue is large and most processes price few models.
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    try:
        if price_as is not None:
            return calc_price(usage, model, provider_id=price_as).total_price
        return calc_price(usage, model, provider_api_url=api_url).total_price
    except LookupError:  # unknown provider or model: genai-prices' documented signal
        return None
