"""ValueMomentumStrategy: a fundamentals screen with a trend filter that enters and exits positions."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ibbot.models import Action, BarSize, Decision, Event, EventType, FundamentalData, PriceBar
from ibbot.strategies.base import INTENT_KEY, Intent, PipelineStrategy
from ibbot.strategies.pipeline import FAILED_LAYER_KEY, StrategyPipeline, append_step
from ibbot.strategies.protection import ProtectionParams
from ibbot.strategies.rolling import RollingMean
from ibbot.strategies.state import SymbolState
from ibbot.strategies.value_momentum.layers import (
    LiquidityLayer,
    MomentumLayer,
    TargetWeightLayer,
    ValuationLayer,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from ibbot.strategies.params import StrategyParams

__all__ = ["ValueMomentumParams", "ValueMomentumState", "ValueMomentumStrategy"]

# US regular trading hours last 6.5 hours: intraday bar volumes scale to a day by this many seconds.
_SESSION_SECONDS = 23_400
_TRADING_DAYS_PER_WEEK = 5
_TRADING_DAYS_PER_MONTH = 21


def bars_per_day_ratio(bar_size: BarSize) -> Fraction:
    """How many bars of ``bar_size`` make one regular trading day, exactly (fractions for weeks
    and months): the daily volume is the bars' average scaled by it, rounded once."""
    if bar_size.is_intraday:
        return Fraction(_SESSION_SECONDS, bar_size.seconds)
    if bar_size is BarSize.WEEK_1:
        return Fraction(1, _TRADING_DAYS_PER_WEEK)
    if bar_size is BarSize.MONTH_1:
        return Fraction(1, _TRADING_DAYS_PER_MONTH)
    return Fraction(1)


def bars_per_day(bar_size: BarSize) -> float:
    """:func:`bars_per_day_ratio` as a float (for the reasoning text)."""
    return float(bars_per_day_ratio(bar_size))


class ValueMomentumParams(ProtectionParams):
    """Thresholds of each layer; fractions are plain numbers (0.01 is 1%).

    ``min_market_cap`` and ``min_avg_daily_volume`` (shares, averaged over ``volume_window`` bars and
    scaled to a trading day); ``max_pe`` and ``max_price_to_book``; ``momentum_window`` bars for the
    average the price must beat by ``min_momentum`` to enter, and may fall under by ``exit_below``
    before a held position is sold; ``full_momentum`` is the momentum that counts as full strength;
    ``max_weight`` is the largest fraction of the capital one position gets.
    ``fundamentals_source`` (``"ib"`` or ``"sec"``) makes the strategy use only fundamentals
    from that source; None (the default) takes the newest record from any source.
    ``stop_loss_pct``, ``take_profit_pct``, ``trailing_stop_pct`` and ``protection_tif`` protect
    each entry with orders IB holds (see :class:`~ibbot.strategies.protection.ProtectionParams`);
    all off by default.
    """

    min_market_cap: float = Field(
        10e9, ge=0, description="liquidity: the smallest market cap, in the listing currency"
    )
    min_avg_daily_volume: float = Field(
        1_000_000, ge=0, description="liquidity: the smallest average daily volume, in shares"
    )
    volume_window: int = Field(
        20, ge=1, description="bars the average volume is taken over (scaled to a trading day)"
    )
    max_pe: float = Field(20.0, gt=0, description="valuation: the highest price/earnings ratio")
    max_price_to_book: float = Field(
        3.0, gt=0, description="valuation: the highest price/book ratio"
    )
    momentum_window: int = Field(
        20, ge=2, description="bars of the moving average the price is compared with"
    )
    min_momentum: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="entry: how far the price must be above its average (0.01 = 1%)",
    )
    exit_below: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="exit: how far under its average a held price may fall (0.01 = 1%)",
    )
    full_momentum: float = Field(
        0.05, gt=0, description="the momentum that counts as full strength when sizing"
    )
    max_weight: float = Field(
        0.2, gt=0, le=1, description="the largest fraction of the capital one position gets"
    )
    fundamentals_source: Literal["ib", "sec"] | None = Field(
        None, description="use only fundamentals from this source (none: the newest from any)"
    )


class ValueMomentumState(SymbolState):
    """A symbol's state plus the running averages of closes and of bar volumes."""

    __slots__ = ("bar_size", "bars_per_day", "momentum", "volume")

    def __init__(self, symbol: str, history_bars: int, momentum: int, volume: int) -> None:
        super().__init__(symbol, history_bars)
        self.momentum = RollingMean(momentum)
        self.volume = RollingMean(volume)
        self.bar_size = BarSize.DAY_1
        self.bars_per_day = 1.0

    @property
    def ready(self) -> bool:
        """True once both averages are complete and fundamentals are known."""
        return self.momentum.full and self.volume.full and self.fundamentals is not None

    def dump_indicators(self) -> dict[str, Any]:
        """Both windows (their values) and the bar size the volumes came from."""
        return {
            "momentum": self.momentum.dump(),
            "volume": self.volume.dump(),
            "bar_size": self.bar_size.value,
        }

    def load_indicators(self, data: dict[str, Any]) -> None:
        """Restore what :meth:`dump_indicators` wrote; an average whose length changed starts afresh."""
        momentum = RollingMean.restore(data["momentum"])
        if momentum.length == self.momentum.length:
            self.momentum = momentum
        volume = RollingMean.restore(data["volume"])
        if volume.length == self.volume.length:
            self.volume = volume
        self.bar_size = BarSize(data["bar_size"])
        self.bars_per_day = bars_per_day(self.bar_size)


class ValueMomentumStrategy(PipelineStrategy[ValueMomentumState]):
    """Liquidity, valuation and momentum screens, then a conviction-scaled target weight.

    Not holding and every layer passes: BUY. Holding and a layer fails: EXIT, the failed layer's
    numbers in the trail. Holding and everything still passes: nothing (no HOLD decision per bar).
    Evaluated on every bar and every fundamentals update once both averages are complete.
    """

    params_model: ClassVar[type[StrategyParams]] = ValueMomentumParams
    default_subscriptions: ClassVar[tuple[EventType, ...]] = (
        EventType.PRICE_BAR,
        EventType.FUNDAMENTAL_DATA,
        EventType.FILL,
    )
    params: ValueMomentumParams

    def __init__(
        self, *, name: str, allocated_capital: float, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name=name, allocated_capital=allocated_capital, params=params)
        wanted = self.params.fundamentals_source
        handler = self._handlers.get(EventType.FUNDAMENTAL_DATA)
        if wanted is not None and handler is not None:
            # Filter where fundamentals events are routed, so bars pay nothing for the option.
            def only_wanted(event: Event) -> list[Decision]:
                payload = event.payload
                if isinstance(payload, FundamentalData) and payload.source != wanted:
                    return []
                return handler(event)

            self._handlers[EventType.FUNDAMENTAL_DATA] = only_wanted

    def build_pipeline(self) -> StrategyPipeline:
        """Liquidity, valuation, momentum, then the target weight."""
        p = self.params
        return StrategyPipeline(
            [
                LiquidityLayer(p.min_market_cap, p.min_avg_daily_volume),
                ValuationLayer(p.max_pe, p.max_price_to_book),
                MomentumLayer(p.momentum_window, p.min_momentum, p.exit_below, p.full_momentum),
                TargetWeightLayer(p.max_weight),
            ]
        )

    def new_symbol_state(self, symbol: str) -> ValueMomentumState:
        """Empty averages of the configured lengths."""
        p = self.params
        return ValueMomentumState(symbol, p.history_bars, p.momentum_window, p.volume_window)

    def on_bar(self, state: ValueMomentumState, bar: PriceBar) -> bool:
        """Update both averages; decide once they are complete and fundamentals are known."""
        state.momentum.push(bar.close)
        state.volume.push(bar.volume)
        if bar.bar_size is not state.bar_size:
            state.bar_size = bar.bar_size
            state.bars_per_day = bars_per_day(bar.bar_size)
        return state.ready

    def on_fundamentals(self, state: ValueMomentumState, fundamentals: FundamentalData) -> bool:
        """New fundamentals can make a stock cheap or break the thesis: decide when ready."""
        return state.ready

    def pipeline_input(self, state: ValueMomentumState, timestamp: datetime) -> dict[str, Any]:
        """The common data plus the moving average and the daily volume estimate."""
        data = super().pipeline_input(state, timestamp)
        data["momentum_sma"] = state.momentum.mean
        volume = state.volume
        data["avg_daily_volume"] = volume.scaled_mean(bars_per_day_ratio(state.bar_size)) or 0.0
        if state.bar_size is BarSize.DAY_1:
            data["volume_basis"] = f"mean of {volume.count} daily bars"
        else:
            data["volume_basis"] = (
                f"mean of {volume.count} '{state.bar_size.value}' bars"
                f" x {state.bars_per_day:g} per day"
            )
        return data

    def conclude(
        self, state: ValueMomentumState, passed: bool, data: dict[str, Any], reasoning: str
    ) -> tuple[Intent, str] | None:
        """BUY when everything passed and nothing is held; EXIT when holding and a layer failed."""
        if passed:
            intent = data[INTENT_KEY]
            assert isinstance(intent, Intent)
            return None if intent.action is Action.HOLD else (intent, reasoning)
        held = self.position_quantity(state.symbol)
        if held <= 0:
            return None
        trail = append_step(
            reasoning,
            "exit",
            True,
            f"thesis broken at {data[FAILED_LAYER_KEY]} while holding {held:g} "
            f"{state.symbol}: EXIT",
        )
        return Intent(Action.EXIT, 0.0, 1.0), trail
