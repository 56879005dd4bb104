"""Only trade companies that are large and heavily traded enough to get in and out of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import FundamentalData, LayerResult
from ibbot.strategies.formatting import compact
from ibbot.strategies.measures import market_cap

__all__ = ["LiquidityLayer"]


@dataclass(frozen=True, slots=True)
class LiquidityLayer:
    """Market cap >= ``min_market_cap`` and average daily volume >= ``min_avg_daily_volume``.

    Reads ``fundamentals``, ``price``, ``avg_daily_volume`` and ``volume_basis`` (how the daily
    volume was estimated) from the data; adds ``market_cap``.
    """

    min_market_cap: float
    min_avg_daily_volume: float
    name: str = "liquidity"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Check both thresholds and name both numbers."""
        fundamentals = data.get("fundamentals")
        if not isinstance(fundamentals, FundamentalData):
            return LayerResult(False, {}, f"no fundamental data for {symbol} yet")
        cap = market_cap(fundamentals, data.get("price"))
        if cap.value is None:
            return LayerResult(False, {}, f"market cap unknown: {cap.basis}")
        cap_ok = cap.value >= self.min_market_cap
        volume: float = data["avg_daily_volume"]
        volume_ok = volume >= self.min_avg_daily_volume
        text = (
            f"market cap {compact(cap.value)} ({cap.basis}) {'>=' if cap_ok else '<'} "
            f"{compact(self.min_market_cap)}; avg daily volume {compact(volume)} "
            f"({data['volume_basis']}) {'>=' if volume_ok else '<'} "
            f"{compact(self.min_avg_daily_volume)}"
        )
        return LayerResult(cap_ok and volume_ok, {"market_cap": cap.value}, text)
