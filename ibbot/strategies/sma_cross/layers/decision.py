"""Turn a crossover signal into BUY or EXIT, given what the strategy holds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ibbot.models import Action, LayerResult, OrderSide, OrderType
from ibbot.strategies.base import INTENT_KEY, Intent
from ibbot.strategies.entry import EntryOrder, passive_limit
from ibbot.strategies.formatting import money, quote_price
from ibbot.strategies.sma_cross.signal import CrossSignal

__all__ = ["DecisionLayer"]

# A gap of 1% between the averages counts as full confidence in the signal.
_FULL_CONFIDENCE_GAP = 0.01


@dataclass(frozen=True, slots=True)
class DecisionLayer:
    """BUY on a bullish cross when not long; EXIT when bearish and long; otherwise no action.

    A BUY asks for ``quantity`` shares when set, else for ``weight`` of the allocated capital; with
    ``entry`` LIMIT it is a DAY limit order ``limit_offset_bps`` below the last price. Confidence
    grows with the gap between the averages (full at 1%).
    """

    weight: float
    quantity: int | None = None
    entry: EntryOrder = EntryOrder.MARKET
    limit_offset_bps: float = 0.0
    name: str = "decision"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Decide from ``signal``, ``position``, ``price`` and ``capital`` in the data."""
        signal = data["signal"]
        if type(signal) is not CrossSignal:  # the strategy passes the member itself
            signal = CrossSignal(signal)
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
        price: float | None = data["price"]
        if self.quantity is not None:
            weight = min(1.0, self.quantity * price / capital) if price else 0.0
            intent = Intent(Action.BUY, weight, confidence, quantity=self.quantity)
            text = f"BUY {self.quantity} {symbol} (fixed quantity), holding {data['position']:g}"
        else:
            intent = Intent(Action.BUY, self.weight, confidence)
            text = (
                f"BUY {symbol} to target weight {self.weight:.2f} of capital {money(capital)}, "
                f"holding {data['position']:g}"
            )
        if self.entry is EntryOrder.LIMIT:
            intent, terms = self._limit(intent, price)
            text = f"{text}, {terms}"
        return LayerResult(True, {INTENT_KEY: intent}, text)

    def _limit(self, intent: Intent, price: float | None) -> tuple[Intent, str]:
        """The BUY as a DAY limit below ``price``, and the limit in words."""
        if price is None:
            # no limit to set: the trading layer refuses a LMT order without a limit price
            return replace(intent, order_type=OrderType.LIMIT), "with a limit but no last price"
        limit = passive_limit(price, OrderSide.BUY, self.limit_offset_bps)
        limited = replace(intent, order_type=OrderType.LIMIT, limit_price=limit)
        return limited, (
            f"with a DAY limit at {quote_price(limit)} ({self.limit_offset_bps:g} bps below the "
            f"last price {quote_price(price)})"
        )
