"""Optional protection parameters for a strategy's entries: stop-loss, take-profit, trailing stop.

All off by default. A strategy whose parameters inherit :class:`ProtectionParams` gets them; every
BUY it decides then carries a :class:`~ibbot.models.Protection`, which the trading layer places as
one IB bracket with the entry, and the decision's reasoning trail says so. Fractions are plain
numbers, like every strategy parameter (0.05 is 5%).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ibbot.models import Protection, TimeInForce
from ibbot.strategies.params import StrategyParams

__all__ = ["ProtectionParams"]


class ProtectionParams(StrategyParams):
    """``stop_loss_pct`` below the entry, ``take_profit_pct`` above it, ``trailing_stop_pct``
    behind the best price since the entry; ``protection_tif`` is how long they work (GTC: until
    they fill or the position is sold; DAY: to the close)."""

    stop_loss_pct: float | None = Field(None, gt=0, lt=1)
    take_profit_pct: float | None = Field(None, gt=0, lt=1)
    trailing_stop_pct: float | None = Field(None, gt=0, lt=1)
    protection_tif: TimeInForce = TimeInForce.GTC

    @model_validator(mode="after")
    def _tif_needs_protection(self) -> ProtectionParams:
        if "protection_tif" in self.model_fields_set and self.protection() is None:
            raise ValueError("protection_tif applies only with a stop-loss, take-profit or trail")
        return self

    def protection(self) -> Protection | None:
        """The protection every entry carries (None: entries go unprotected, the default)."""
        protection = Protection(
            stop_loss_pct=self.stop_loss_pct,
            take_profit_pct=self.take_profit_pct,
            trailing_pct=self.trailing_stop_pct,
            time_in_force=self.protection_tif,
        )
        return None if protection.empty else protection
