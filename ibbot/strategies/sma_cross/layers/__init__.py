"""The sma_cross layers: the crossover signal, then the decision."""

from ibbot.strategies.sma_cross.layers.crossover import CrossoverLayer
from ibbot.strategies.sma_cross.layers.decision import DecisionLayer

__all__ = ["CrossoverLayer", "DecisionLayer"]
