"""Buy liquid, cheap stocks in an uptrend; sell when any part of that thesis breaks."""

from ibbot.strategies.value_momentum.strategy import (
    ValueMomentumParams,
    ValueMomentumState,
    ValueMomentumStrategy,
)

__all__ = ["ValueMomentumParams", "ValueMomentumState", "ValueMomentumStrategy"]
