"""The example's decision: always HOLD, whatever the screens found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ibbot.models import Action, LayerResult
from ibbot.strategies.base import INTENT_KEY, Intent

__all__ = ["DecisionLayer"]


@dataclass(frozen=True, slots=True)
class DecisionLayer:
    """Always HOLD: the example validates the pipeline, it has no trading logic."""

    name: str = "decision"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Return a HOLD intent for every symbol that reaches this layer."""
        return LayerResult(
            True,
            {INTENT_KEY: Intent(Action.HOLD, target_weight=0.0, confidence=1.0)},
            f"HOLD {symbol}: the example strategy has no trading logic",
        )
