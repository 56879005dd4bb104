"""Describe the moving averages and pass when they give a signal to act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import LayerResult
from ibbot.strategies.formatting import money, pct
from ibbot.strategies.sma_cross.signal import CrossSignal

__all__ = ["CrossoverLayer"]

_WORDS = {
    CrossSignal.CROSSED_ABOVE: "crossed above",
    CrossSignal.CROSSED_BELOW: "crossed below",
    CrossSignal.ABOVE: "is above",
    CrossSignal.BELOW: "is below",
    CrossSignal.EQUAL: "equals",
}


@dataclass(frozen=True, slots=True)
class CrossoverLayer:
    """Pass on a bullish cross or whenever the fast SMA is below the slow one.

    Reads ``fast_sma``, ``slow_sma`` and ``signal`` (a :class:`CrossSignal`) from the data.
    """

    fast: int
    slow: int
    name: str = "crossover"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Name both averages and their gap; pass when the signal is a buy or sell signal."""
        fast_sma: float = data["fast_sma"]
        slow_sma: float = data["slow_sma"]
        signal = data["signal"]
        if type(signal) is not CrossSignal:  # the strategy passes the member itself
            signal = CrossSignal(signal)
        text = (
            f"SMA({self.fast}) {money(fast_sma)} {_WORDS[signal]} SMA({self.slow}) "
            f"{money(slow_sma)} ({pct(fast_sma / slow_sma - 1)})"
        )
        passed = signal.bullish_cross or signal.bearish
        return LayerResult(passed, {}, text if passed else f"{text}: no signal")
