"""SmaCrossStrategy: the classic two-moving-average crossover, O(1) per bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from ibbot.strategies.base import PipelineStrategy
from ibbot.strategies.entry import EntryOrder
from ibbot.strategies.pipeline import StrategyPipeline
from ibbot.strategies.protection import ProtectionParams
from ibbot.strategies.rolling import MovingAverageCross, RollingMean
from ibbot.strategies.sma_cross.layers import CrossoverLayer, DecisionLayer
from ibbot.strategies.sma_cross.signal import CrossSignal
from ibbot.strategies.state import SymbolState

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.models import PriceBar
    from ibbot.strategies.params import StrategyParams

__all__ = ["SmaCrossParams", "SmaCrossState", "SmaCrossStrategy"]

_CROSSED_ABOVE, _CROSSED_BELOW = CrossSignal.CROSSED_ABOVE, CrossSignal.CROSSED_BELOW
_ABOVE, _BELOW, _EQUAL = CrossSignal.ABOVE, CrossSignal.BELOW, CrossSignal.EQUAL


class SmaCrossParams(ProtectionParams):
    """``fast``/``slow``: SMA lengths in bars; a BUY asks for ``quantity`` shares when given, else
    for ``weight`` of the allocated capital (alternatives: give one of the two, not both).

    ``entry`` is how it buys: ``market`` (the next bar's open) or ``limit``, a DAY limit order
    ``limit_offset_bps`` basis points below the crossing bar's close, sized at the limit price,
    which fills only if the price comes down to it during the next session. Exits are at the market.
    ``stop_loss_pct``, ``take_profit_pct``, ``trailing_stop_pct`` and ``protection_tif`` protect
    each entry with orders IB holds (see :class:`~ibbot.strategies.protection.ProtectionParams`);
    all off by default.
    """

    alternatives: ClassVar[tuple[tuple[str, ...], ...]] = (("quantity", "weight"),)

    fast: int = Field(10, ge=1, description="length of the fast moving average, in bars")
    slow: int = Field(30, ge=2, description="length of the slow moving average, in bars")
    quantity: int | None = Field(None, ge=1, description="shares a BUY targets (instead of weight)")
    weight: float = Field(
        0.1, gt=0, le=1, description="fraction of the allocated capital a BUY targets"
    )
    entry: EntryOrder = Field(
        EntryOrder.MARKET,
        description="market: buy at the next bar's open; limit: a DAY limit order under the close",
    )
    limit_offset_bps: float = Field(
        0.0,
        ge=0,
        lt=10_000,
        description="with entry = limit: how far under the crossing bar's close, in basis points",
    )

    @model_validator(mode="after")
    def _check(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        if self.entry is not EntryOrder.LIMIT and "limit_offset_bps" in self.model_fields_set:
            raise ValueError("limit_offset_bps applies to entry = limit only")
        return self


class SmaCrossState(SymbolState):
    """A symbol's state plus both running averages and the side the fast SMA was last seen on."""

    __slots__ = ("averages", "last_side", "signal")

    def __init__(self, symbol: str, history_bars: int, fast: int, slow: int) -> None:
        super().__init__(symbol, history_bars)
        self.averages = MovingAverageCross.of_lengths(fast, slow)
        self.last_side = (
            0  # +1 fast above slow, -1 below, 0 not known yet (equality keeps the side)
        )
        self.signal = CrossSignal.EQUAL

    @property
    def fast(self) -> RollingMean:
        """SMA(fast)."""
        return self.averages.fast

    @property
    def slow(self) -> RollingMean:
        """SMA(slow)."""
        return self.averages.slow

    def dump_indicators(self) -> dict[str, Any]:
        """Both windows (their values; the exact sums follow from them), and the last side."""
        return {"fast": self.fast.dump(), "slow": self.slow.dump(), "last_side": self.last_side}

    def load_indicators(self, data: dict[str, Any]) -> None:
        """Restore what :meth:`dump_indicators` wrote, unless a window length has changed."""
        fast = RollingMean.restore(data["fast"])
        slow = RollingMean.restore(data["slow"])
        if (fast.length, slow.length) == (self.fast.length, self.slow.length):
            self.averages = MovingAverageCross(fast, slow)
            self.last_side = int(data["last_side"])


class SmaCrossStrategy(PipelineStrategy[SmaCrossState]):
    """BUY when SMA(fast) crosses above SMA(slow) and the strategy is not long; EXIT when SMA(fast)
    is below SMA(slow) and it is long (normally on the crossing bar; later only if the position
    arrived late, e.g. a fill after the cross or a position restored at start).

    A bar costs two running-sum updates and an exact comparison of the sums (see
    :class:`MovingAverageCross`); the pipeline runs only on bars that can lead to a decision. Equal
    averages do not change the side, so touching is not crossing.
    """

    params_model: ClassVar[type[StrategyParams]] = SmaCrossParams
    params: SmaCrossParams

    def build_pipeline(self) -> StrategyPipeline:
        """Crossover signal, then the decision."""
        params = self.params
        return StrategyPipeline(
            [
                CrossoverLayer(params.fast, params.slow),
                DecisionLayer(
                    params.weight, params.quantity, params.entry, params.limit_offset_bps
                ),
            ]
        )

    def new_symbol_state(self, symbol: str) -> SmaCrossState:
        """Empty averages of the configured lengths."""
        params = self.params
        return SmaCrossState(symbol, params.history_bars, params.fast, params.slow)

    def on_bar(self, state: SmaCrossState, bar: PriceBar) -> bool:
        """Update both averages; True on a bullish cross when not long, or bearish when long."""
        side = state.averages.push(bar.close)
        if side is None:
            return False
        last = state.last_side
        if side > 0:
            state.last_side = 1
            if last < 0:
                state.signal = _CROSSED_ABOVE
                return self.position_quantity(state.symbol) <= 0
            state.signal = _ABOVE
            return False
        if side < 0:
            state.last_side = -1
            state.signal = _CROSSED_BELOW if last > 0 else _BELOW
            # position_quantity inlined: this runs on every bar below the slow average
            position = self._positions.get(state.symbol)
            return position is not None and position.quantity > 0
        state.signal = _EQUAL
        return False

    def pipeline_input(self, state: SmaCrossState, timestamp: datetime) -> dict[str, Any]:
        """The common data plus both averages and the signal."""
        data = super().pipeline_input(state, timestamp)
        data["fast_sma"] = state.fast.mean
        data["slow_sma"] = state.slow.mean
        data["signal"] = state.signal
        return data
