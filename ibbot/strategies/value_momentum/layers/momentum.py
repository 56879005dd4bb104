"""Only hold what trades above its moving average: value bought on the way up, not on the way down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import LayerResult
from ibbot.strategies.formatting import money, pct

__all__ = ["MomentumLayer"]


@dataclass(frozen=True, slots=True)
class MomentumLayer:
    """Entry needs ``price > SMA(window) x (1 + min_momentum)``; a held position keeps passing until
    ``price < SMA(window) x (1 - exit_below)``.

    The gap between the two lines keeps a position from being sold and bought back on every small
    wiggle around the average. Adds ``momentum`` (price / SMA - 1) and ``momentum_score``: momentum
    as a fraction of ``full_momentum``, clipped to 0..1.
    """

    window: int
    min_momentum: float
    exit_below: float
    full_momentum: float
    name: str = "momentum"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Compare the price with its average, using the exit line when the strategy holds."""
        price: float | None = data.get("price")
        sma: float = data["momentum_sma"]
        if price is None:
            return LayerResult(False, {}, f"no price for {symbol} yet")
        momentum = price / sma - 1
        holding = data["position"] > 0
        average = f"SMA({self.window}) {money(sma)}"
        if holding:
            line = sma * (1 - self.exit_below)
            passed = price >= line
            relation = ">=" if passed else "<"
            text = (
                f"holding: price {money(price)} {relation} exit line {money(line)} "
                f"({average} {pct(-self.exit_below)}); momentum {pct(momentum)}"
            )
        else:
            line = sma * (1 + self.min_momentum)
            passed = price > line
            relation = ">" if passed else "<="
            text = f"price {money(price)} {relation} {average}"
            if self.min_momentum:
                text += f" {pct(self.min_momentum)} = {money(line)}"
            text += f"; momentum {pct(momentum)}"
        score = min(1.0, max(0.0, momentum / self.full_momentum))
        return LayerResult(passed, {"momentum": momentum, "momentum_score": score}, text)
