"""Pass a symbol only when its market capitalisation is above a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import FundamentalData, LayerResult
from ibbot.strategies.formatting import compact
from ibbot.strategies.measures import market_cap

__all__ = ["LiquidityScreen"]


@dataclass(frozen=True, slots=True)
class LiquidityScreen:
    """Market cap (from the fundamental data, at the current price when known) > ``min_market_cap``."""

    min_market_cap: float
    name: str = "liquidity"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Pass when the market cap exceeds the threshold; adds ``market_cap`` to the data."""
        fundamentals = data.get("fundamentals")
        if not isinstance(fundamentals, FundamentalData):
            return LayerResult(False, {}, f"no fundamental data for {symbol} yet")
        cap = market_cap(fundamentals, data.get("price") or fundamentals.price)
        if cap.value is None:
            return LayerResult(False, {}, f"market cap unknown: {cap.basis}")
        passed = cap.value > self.min_market_cap
        relation = ">" if passed else "<="
        return LayerResult(
            passed,
            {"market_cap": cap.value},
            f"market cap {compact(cap.value)} ({cap.basis}) {relation} "
            f"{compact(self.min_market_cap)}",
        )
