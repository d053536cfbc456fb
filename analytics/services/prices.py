"""Estimated cost from the per-model prices set in the admin."""

from __future__ import annotations

from decimal import Decimal

from analytics.models import ModelPrice

MILLION = Decimal(1_000_000)


class PriceList:
    """All prices, read once: exact model names first, then the longest `prefix*` that fits."""

    def __init__(self, prices: list[ModelPrice] | None = None) -> None:
        prices = list(ModelPrice.objects.all()) if prices is None else prices
        self.exact = {p.model: p for p in prices if not p.model.endswith("*")}
        self.prefixes = sorted((p for p in prices if p.model.endswith("*")),
                               key=lambda p: -len(p.model))
        self._found: dict[str, ModelPrice | None] = {}

    def price_for(self, model: str) -> ModelPrice | None:
        if model not in self._found:
            found = self.exact.get(model)
            if found is None:
                found = next((p for p in self.prefixes if model.startswith(p.model[:-1])), None)
            self._found[model] = found
        return self._found[model]

    def reply_cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
        price = self.price_for(model)
        if price is None:
            return Decimal(0)
        return (prompt_tokens * price.input_per_million
                + completion_tokens * price.output_per_million) / MILLION

    def image_cost(self, model: str, images: int) -> Decimal:
        price = self.price_for(model)
        return Decimal(0) if price is None else images * price.per_image
