"""Turn a crossover signal into BUY or EXIT, given what the strategy holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import Action, LayerResult
from ibbot.strategies.base import INTENT_KEY, Intent
from ibbot.strategies.formatting import money
from ibbot.strategies.sma_cross.signal import CrossSignal

__all__ = ["DecisionLayer"]

# A gap of 1% between the averages counts as full confidence in the signal.
_FULL_CONFIDENCE_GAP = 0.01


@dataclass(frozen=True, slots=True)
class DecisionLayer:
    """BUY on a bullish cross when not long; EXIT when bearish and long; otherwise no action.

    A BUY asks for ``quantity`` shares when set, else for ``weight`` of the allocated capital.
    Confidence grows with the gap between the averages (full at 1%).
    """

    weight: float
    quantity: int | None = None
    name: str = "decision"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Decide from ``signal``, ``position``, ``price`` and ``capital`` in the data."""
        signal = CrossSignal(data["signal"])
        position: float = data["position"]
        gap = abs(data["fast_sma"] / data["slow_sma"] - 1)
        confidence = min(1.0, gap / _FULL_CONFIDENCE_GAP)
        if signal.bullish_cross and position <= 0:
            return self._buy(symbol, data, confidence)
        if signal.bearish and position > 0:
            return LayerResult(
                True,
                {INTENT_KEY: Intent(Action.EXIT, 0.0, confidence)},
                f"EXIT {position:g} {symbol} held at avg cost {money(data['avg_cost'])}",
            )
        held = f"already long {position:g}" if position > 0 else "not holding"
        return LayerResult(False, {}, f"no action: {held}")

    def _buy(self, symbol: str, data: dict[str, Any], confidence: float) -> LayerResult:
        capital: float = data["capital"]
        if self.quantity is not None:
            price: float | None = data["price"]
            weight = min(1.0, self.quantity * price / capital) if price else 0.0
            intent = Intent(Action.BUY, weight, confidence, quantity=self.quantity)
            return LayerResult(
                True,
                {INTENT_KEY: intent},
                f"BUY {self.quantity} {symbol} (fixed quantity), holding {data['position']:g}",
            )
        return LayerResult(
            True,
            {INTENT_KEY: Intent(Action.BUY, self.weight, confidence)},
            f"BUY {symbol} to target weight {self.weight:.2f} of capital {money(capital)}, "
            f"holding {data['position']:g}",
        )
