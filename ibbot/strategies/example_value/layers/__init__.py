"""The example_value layers: liquidity screen, then a decision that always holds."""

from ibbot.strategies.example_value.layers.decision import DecisionLayer
from ibbot.strategies.example_value.layers.liquidity_screen import LiquidityScreen

__all__ = ["DecisionLayer", "LiquidityScreen"]
