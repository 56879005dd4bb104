"""Moving-average crossover: BUY when the fast SMA crosses above the slow one, EXIT when below."""

from ibbot.strategies.sma_cross.signal import CrossSignal
from ibbot.strategies.sma_cross.strategy import SmaCrossParams, SmaCrossStrategy

__all__ = ["CrossSignal", "SmaCrossParams", "SmaCrossStrategy"]
