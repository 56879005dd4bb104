"""Size the position by conviction: cheaper and stronger gets a larger share of the capital."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import Action, LayerResult
from ibbot.strategies.base import INTENT_KEY, Intent

__all__ = ["TargetWeightLayer"]


@dataclass(frozen=True, slots=True)
class TargetWeightLayer:
    """BUY at ``max_weight x (0.5 + 0.5 x conviction)`` when not holding; HOLD when holding.

    ``conviction`` is the mean of ``value_score`` and ``momentum_score`` (both 0..1), so a stock
    that barely passes gets half the maximum weight and an ideal one gets all of it. Conviction is
    also the decision's confidence.
    """

    max_weight: float
    name: str = "decision"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Compute the target weight from the scores earlier layers left in the data."""
        value: float = data["value_score"]
        momentum: float = data["momentum_score"]
        conviction = (value + momentum) / 2
        position: float = data["position"]
        if position > 0:
            return LayerResult(
                True,
                {INTENT_KEY: Intent(Action.HOLD, 0.0, conviction)},
                f"HOLD {position:g} {symbol}: thesis intact (conviction {conviction:.2f})",
            )
        weight = self.max_weight * (0.5 + 0.5 * conviction)
        return LayerResult(
            True,
            {INTENT_KEY: Intent(Action.BUY, weight, conviction), "target_weight": weight},
            f"BUY {symbol} at target weight {weight:.3f} = {self.max_weight:.2f} x "
            f"(0.5 + 0.5 x conviction {conviction:.2f}; value {value:.2f}, "
            f"momentum {momentum:.2f})",
        )
