"""Strategies for the chaos tests (``tests/chaos``), loaded by class path like any strategy.

The chaos schedule fills orders while ibbot is away, so a strategy must keep an order resting at
the exchange: :class:`RestingBuyer` bids well below the market, a few shares more each time its
last bid was filled. The long-only bar trader is the integration tests' ``Flipper``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ibbot.models import Action, LayerResult, OrderType
from ibbot.strategies import INTENT_KEY, Intent, StrategyParams, StrategyPipeline
from tests.integration.app_strategies import HoldQuantity

# Far enough below the market that the simulated exchange never fills it on its own in a test.
DISCOUNT = 0.9


class RestingParams(StrategyParams):
    """``step``: shares added by each bid."""

    step: int = Field(5, ge=1)


class _BidLayer:
    """BUY ``step`` more shares at a limit well below the last price."""

    name = "bid"

    def __init__(self, step: int) -> None:
        self.step = step

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        price = data["price"]
        if not price:
            return LayerResult(False, data, "no price yet")
        held = data["position"]
        limit = round(price * DISCOUNT, 2)
        data[INTENT_KEY] = Intent(
            Action.BUY,
            quantity=int(held) + self.step,
            order_type=OrderType.LIMIT,
            limit_price=limit,
        )
        return LayerResult(True, data, f"holding {held:g}: bid for {self.step} more at {limit}")


class RestingBuyer(HoldQuantity):
    """Keeps a DAY limit bid resting below the market in every symbol it trades."""

    params_model: ClassVar[type[StrategyParams]] = RestingParams
    params: RestingParams

    def build_pipeline(self) -> StrategyPipeline:
        """One layer."""
        return StrategyPipeline([_BidLayer(self.params.step)])
