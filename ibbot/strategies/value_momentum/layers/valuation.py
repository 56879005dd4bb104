"""Only buy what is cheap on earnings and on book value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import FundamentalData, LayerResult
from ibbot.strategies.measures import Measure, pe_ratio, price_to_book

__all__ = ["ValuationLayer"]


@dataclass(frozen=True, slots=True)
class ValuationLayer:
    """P/E < ``max_pe`` and price/book < ``max_price_to_book``, both at the current price.

    Adds ``pe``, ``price_to_book`` and ``value_score``: how far under the thresholds the stock
    trades, from 0 (at them) to 1 (free), averaged over both ratios.
    """

    max_pe: float
    max_price_to_book: float
    name: str = "valuation"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Compute both ratios (see :mod:`ibbot.strategies.measures`) and compare them."""
        fundamentals = data.get("fundamentals")
        if not isinstance(fundamentals, FundamentalData):
            return LayerResult(False, {}, f"no fundamental data for {symbol} yet")
        price: float | None = data.get("price")
        pe = pe_ratio(fundamentals, price)
        pb = price_to_book(fundamentals, price)
        pe_ok, pe_text = _judge("P/E", pe, self.max_pe, ".1f")
        pb_ok, pb_text = _judge("P/B", pb, self.max_price_to_book, ".2f")
        text = f"{pe_text}; {pb_text}"
        if not (pe_ok and pb_ok) or pe.value is None or pb.value is None:
            return LayerResult(False, {}, text)
        score = ((1 - pe.value / self.max_pe) + (1 - pb.value / self.max_price_to_book)) / 2
        return LayerResult(
            True,
            {"pe": pe.value, "price_to_book": pb.value, "value_score": score},
            text,
        )


def _judge(label: str, measure: Measure, limit: float, spec: str) -> tuple[bool, str]:
    if measure.value is None:
        return False, f"{label} unknown ({measure.basis})"
    passed = measure.value < limit
    relation = "<" if passed else ">="
    return passed, (f"{label} {measure.value:{spec}} ({measure.basis}) {relation} {limit:{spec}}")
