"""Where the fast moving average stands against the slow one after a bar."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CrossSignal"]


class CrossSignal(StrEnum):
    """The fast SMA's position relative to the slow SMA, and whether this bar changed it."""

    CROSSED_ABOVE = "crossed_above"
    CROSSED_BELOW = "crossed_below"
    ABOVE = "above"
    BELOW = "below"
    EQUAL = "equal"

    @property
    def bullish_cross(self) -> bool:
        """True on the bar where the fast SMA moved above the slow one."""
        return self is CrossSignal.CROSSED_ABOVE

    @property
    def bearish(self) -> bool:
        """True whenever the fast SMA is below the slow one (crossed on this bar or earlier)."""
        return self in (CrossSignal.CROSSED_BELOW, CrossSignal.BELOW)
