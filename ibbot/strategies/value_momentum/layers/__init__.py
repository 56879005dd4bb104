"""The value_momentum layers: liquidity, valuation, momentum, then the target weight."""

from ibbot.strategies.value_momentum.layers.liquidity import LiquidityLayer
from ibbot.strategies.value_momentum.layers.momentum import MomentumLayer
from ibbot.strategies.value_momentum.layers.target_weight import TargetWeightLayer
from ibbot.strategies.value_momentum.layers.valuation import ValuationLayer

__all__ = ["LiquidityLayer", "MomentumLayer", "TargetWeightLayer", "ValuationLayer"]
