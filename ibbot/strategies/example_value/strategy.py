"""ExampleValueStrategy: evaluates each symbol when its fundamentals arrive."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ibbot.models import EventType, FundamentalData
from ibbot.strategies.base import PipelineStrategy
from ibbot.strategies.example_value.layers import DecisionLayer, LiquidityScreen
from ibbot.strategies.params import StrategyParams
from ibbot.strategies.pipeline import StrategyPipeline
from ibbot.strategies.state import SymbolState

__all__ = ["ExampleValueParams", "ExampleValueStrategy"]


class ExampleValueParams(StrategyParams):
    """``min_market_cap``: the liquidity screen's threshold in the listing currency (default 10B)."""

    min_market_cap: float = Field(
        10e9, gt=0, description="liquidity screen: the smallest market cap, in the listing currency"
    )


class ExampleValueStrategy(PipelineStrategy[SymbolState]):
    """Liquidity screen on market cap, then HOLD: one decision per fundamentals update that passes.

    Price bars are followed only to value the market cap at the current price.
    """

    params_model: ClassVar[type[StrategyParams]] = ExampleValueParams
    default_subscriptions: ClassVar[tuple[EventType, ...]] = (
        EventType.FUNDAMENTAL_DATA,
        EventType.PRICE_BAR,
        EventType.FILL,
    )
    params: ExampleValueParams

    def build_pipeline(self) -> StrategyPipeline:
        """Liquidity screen, then the always-HOLD decision."""
        return StrategyPipeline([LiquidityScreen(self.params.min_market_cap), DecisionLayer()])

    def new_symbol_state(self, symbol: str) -> SymbolState:
        """The plain per-symbol state: this strategy keeps no indicators."""
        return SymbolState(symbol, self.params.history_bars)

    def on_fundamentals(self, state: SymbolState, fundamentals: FundamentalData) -> bool:
        """Every fundamentals update is evaluated."""
        return True
