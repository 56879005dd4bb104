"""Template: a channel breakout, the starting point of your own strategy (written by ``ibbot
strategies new``; change anything).

It BUYs when a bar closes above the highest high of the ``entry_bars`` bars before it and EXITs
when a bar closes below the lowest low of the ``exit_bars`` bars before it. Settings load it as

    [[strategies]]
    name = "template"
    class_path = "template.TemplateStrategy"   # this file, in a directory of app.strategy_paths

How a strategy is built (see ``ibbot.strategies.base.PipelineStrategy``):

- ``TemplateParams``: the parameters, validated by pydantic when the strategy is built; every
  ``Field`` has a ``description``, which ``ibbot strategies available`` shows.
- ``TemplateState``: what the strategy remembers about one symbol (recent bars, last price and
  fundamentals are already kept by ``SymbolState``); its indicators survive a restart through
  ``dump_indicators`` / ``load_indicators``.
- ``new_symbol_state``: a fresh state for a symbol seen for the first time.
- ``on_bar`` (and ``on_tick``, ``on_fundamentals``): update the indicators; return True when a
  decision is due. Keep them cheap: they run on every event.
- ``pipeline_input``: the data the first layer receives; add your indicators to the common keys
  (symbol, timestamp, price, position, avg_cost, capital, bars, fundamentals).
- ``build_pipeline``: the layers, in order. A layer has a ``name`` and ``process(symbol, data)``
  returning a ``LayerResult(passed, new data, reasoning)``; the first that fails stops the run, and
  each one's reasoning joins the decision's trail. The last leaves an ``Intent`` under
  ``INTENT_KEY``: BUY with a target weight (or ``quantity``), EXIT, or HOLD.

A strategy is pure: no I/O, no clock (time is the event's), so the same object runs live and in a
backtest. This file is loaded on its own, by its path: import from ibbot and the standard library
(and installed packages), not from the files beside it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ibbot.models import Action, LayerResult
from ibbot.strategies import (
    INTENT_KEY,
    Intent,
    PipelineStrategy,
    StrategyParams,
    StrategyPipeline,
    SymbolState,
)

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.models import PriceBar

__all__ = ["TemplateParams", "TemplateState", "TemplateStrategy"]


class TemplateParams(StrategyParams):
    """The channel lengths and the position size (besides the parameters every strategy takes:
    symbols, bar_size, history_bars, retry_after_bars)."""

    entry_bars: int = Field(
        20, ge=1, le=10_000, description="BUY above the highest high of this many bars before"
    )
    exit_bars: int = Field(
        10, ge=1, le=10_000, description="EXIT below the lowest low of this many bars before"
    )
    weight: float = Field(
        0.1, gt=0, le=1, description="fraction of the allocated capital a BUY targets"
    )


class TemplateState(SymbolState):
    """A symbol's state plus the highs and lows of the last bars (the channel)."""

    __slots__ = ("channel_high", "channel_low", "highs", "lows")

    def __init__(self, symbol: str, history_bars: int, entry_bars: int, exit_bars: int) -> None:
        super().__init__(symbol, history_bars)
        self.highs: deque[float] = deque(maxlen=entry_bars)
        self.lows: deque[float] = deque(maxlen=exit_bars)
        # The channel of the bars before the latest one (None until enough bars were seen).
        self.channel_high: float | None = None
        self.channel_low: float | None = None

    def dump_indicators(self) -> dict[str, Any]:
        """The recent highs and lows, as JSON-safe lists."""
        return {"highs": list(self.highs), "lows": list(self.lows)}

    def load_indicators(self, data: dict[str, Any]) -> None:
        """Restore the highs and lows (the newest ones, if a channel length changed)."""
        self.highs.extend(float(value) for value in data["highs"])
        self.lows.extend(float(value) for value in data["lows"])


@dataclass(frozen=True, slots=True)
class ChannelLayer:
    """Pass on a breakout when not long, or a breakdown when long; say where the close stands."""

    entry_bars: int
    exit_bars: int
    name: str = "channel"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Compare the close with the channel; leave ``signal`` for the decision."""
        close: float = data["price"]
        high: float = data["channel_high"]
        low: float = data["channel_low"]
        position: float = data["position"]
        if position <= 0 and close > high:
            text = f"close {close:.2f} > {self.entry_bars}-bar high {high:.2f}"
            return LayerResult(True, {"signal": "breakout"}, text)
        if position > 0 and close < low:
            text = f"close {close:.2f} < {self.exit_bars}-bar low {low:.2f}"
            return LayerResult(True, {"signal": "breakdown"}, text)
        return LayerResult(False, {}, f"close {close:.2f} within {low:.2f}..{high:.2f}")


@dataclass(frozen=True, slots=True)
class DecisionLayer:
    """BUY on a breakout (``weight`` of the capital), EXIT on a breakdown."""

    weight: float
    name: str = "decision"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Leave the intent under INTENT_KEY."""
        if data["signal"] == "breakout":
            intent = Intent(Action.BUY, target_weight=self.weight)
            return LayerResult(True, {INTENT_KEY: intent}, f"BUY {symbol} at weight {self.weight}")
        held = data["position"]
        return LayerResult(True, {INTENT_KEY: Intent(Action.EXIT)}, f"EXIT {held:g} {symbol}")


class TemplateStrategy(PipelineStrategy[TemplateState]):
    """BUY when a bar closes above the highest high of the ``entry_bars`` bars before it; EXIT when
    it closes below the lowest low of the ``exit_bars`` bars before it."""

    params_model: ClassVar[type[StrategyParams]] = TemplateParams
    params: TemplateParams

    def build_pipeline(self) -> StrategyPipeline:
        """The channel signal, then the decision."""
        params = self.params
        return StrategyPipeline(
            [ChannelLayer(params.entry_bars, params.exit_bars), DecisionLayer(params.weight)]
        )

    def new_symbol_state(self, symbol: str) -> TemplateState:
        """Empty channels of the configured lengths."""
        params = self.params
        return TemplateState(symbol, params.history_bars, params.entry_bars, params.exit_bars)

    def on_bar(self, state: TemplateState, bar: PriceBar) -> bool:
        """Note the channel of the bars before this one, add this one; True on a signal."""
        full = len(state.highs) == state.highs.maxlen and len(state.lows) == state.lows.maxlen
        state.channel_high = max(state.highs) if full else None
        state.channel_low = min(state.lows) if full else None
        state.highs.append(bar.high)
        state.lows.append(bar.low)
        if state.channel_high is None or state.channel_low is None:
            return False
        held = self.position_quantity(bar.symbol)
        return (held <= 0 and bar.close > state.channel_high) or (
            held > 0 and bar.close < state.channel_low
        )

    def pipeline_input(self, state: TemplateState, timestamp: datetime) -> dict[str, Any]:
        """The common data plus the channel."""
        data = super().pipeline_input(state, timestamp)
        data["channel_high"] = state.channel_high
        data["channel_low"] = state.channel_low
        return data
