"""Fixed-length moving averages updated in O(1) per value, exact, for indicators on the bar hot path.

A float running sum drifts: adding and subtracting prices that have no exact binary form leaves
rounding errors behind, so two averages of 2-decimal prices that are exactly equal can come out a
hair apart and a touch is taken for a cross. Here the sum is an integer. A value with up to 4
decimals (every US stock price: 0.0001 is the smallest tick) counts as a whole number of 1e-4
units, exactly as its decimal reads; when a value needs more decimals (forex quotes, adjusted
series) the window's unit becomes 1e-8, and a value that is no decimal of up to 8 places counts as
its exact binary value, the unit refined by powers of two. Units only get finer while a window
lives, each step rescaling the window once. Nothing is rounded until
:attr:`RollingMean.mean` turns the exact average into the nearest float, and
:class:`MovingAverageCross` decides which of two averages is larger without rounding at all.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = ["COARSE", "FINE", "MovingAverageCross", "RollingMean"]

COARSE: Final = 10**4
"""Units per 1.0 of the first decimal grid: prices with up to 4 decimals (small integers: fast)."""
FINE: Final = 10**8
"""Units per 1.0 of the finer decimal grid, for values with 5 to 8 decimals."""


def _on_grid(value: float, scale: int) -> int | None:
    """``value`` as a whole number of ``1/scale`` units when it is the float of such a decimal."""
    try:
        units = round(value * scale)
        return units if units / scale == value else None
    except (ValueError, OverflowError):  # NaN, infinities, magnitudes beyond the grid
        return None


class RollingMean:
    """The mean of the last ``length`` values pushed, kept as an exact integer sum.

    Each value is held as an integer in units of ``1 / (scale * 2**shift)``: ``scale`` is
    :data:`COARSE` until a value needs :data:`FINE`, and ``shift`` is 0 until a value is no decimal
    of up to 8 places. The sum never depends on the order values came and went, so a restored
    average continues exactly where the saved one stopped.
    """

    __slots__ = ("_denominator", "_scale", "_shift", "_total", "_units", "length")

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"a rolling mean needs a length of at least 1, got {length}")
        self.length = length
        self._units: deque[int] = deque(maxlen=length)
        self._total = 0
        self._scale = COARSE
        self._shift = 0
        self._denominator = length * COARSE

    def push(self, value: float) -> float | None:
        """Add ``value`` (the oldest drops out once the window is full); return the new :attr:`mean`.

        A value that is not finite is refused with :class:`ValueError` (the window is unchanged).
        """
        scale = self._scale
        try:
            units = round(value * scale)
            on_grid = units / scale == value
        except (ValueError, OverflowError):
            on_grid = False
        if not on_grid:
            units = self._units_of(value)
        elif self._shift:
            units <<= self._shift
        window = self._units
        if len(window) == self.length:
            self._total += units - window[0]
            window.append(units)
            return self._total / self._denominator
        window.append(units)
        self._total += units
        return self._total / self._denominator if len(window) == self.length else None

    def _units_of(self, value: float) -> int:
        """``value`` (not on the current decimal grid) in this window's unit, made finer first."""
        if not math.isfinite(value):
            raise ValueError(f"a rolling mean takes finite numbers, got {value!r}")
        if self._scale < FINE:
            units = _on_grid(value, FINE)
            if units is not None:
                self.refine(FINE, self._shift)
                return units << self._shift
        numerator, denominator = float(value).as_integer_ratio()
        shift = denominator.bit_length() - 1  # the denominator is a power of two
        self.refine(FINE, shift)
        return numerator * FINE << (self._shift - shift)

    def refine(self, scale: int, shift: int) -> None:
        """Use the unit ``1 / (scale * 2**shift)`` where it is finer than the current one (each of
        ``scale`` and ``shift`` only grows; ``scale`` is :data:`COARSE` or :data:`FINE`)."""
        scale, shift = max(scale, self._scale), max(shift, self._shift)
        if (scale, shift) == (self._scale, self._shift):
            return
        factor = scale // self._scale << (shift - self._shift)
        self._units = deque((u * factor for u in self._units), maxlen=self.length)
        self._total *= factor
        self._scale, self._shift = scale, shift
        self._denominator = self.length * scale << shift

    @property
    def unit(self) -> tuple[int, int]:
        """``(scale, shift)``: values are held in units of ``1 / (scale * 2**shift)``."""
        return self._scale, self._shift

    @property
    def full(self) -> bool:
        """True once ``length`` values have been pushed."""
        return len(self._units) == self.length

    @property
    def count(self) -> int:
        """How many values the window holds (at most ``length``)."""
        return len(self._units)

    @property
    def mean(self) -> float | None:
        """The average of the window (the float nearest the exact one), or None while filling."""
        if len(self._units) < self.length:
            return None
        return self._total / self._denominator

    def scaled_mean(self, ratio: Fraction) -> float | None:
        """The average times ``ratio``, rounded once from the exact product (None while filling).

        ``mean * float(ratio)`` rounds twice: an average of whole shares scaled to a day can come
        out a hair under a whole-number threshold it meets exactly.
        """
        if len(self._units) < self.length:
            return None
        return self._total * ratio.numerator / (self._denominator * ratio.denominator)

    def values(self) -> list[float]:
        """The window's values, oldest first, exactly as they were pushed."""
        unit = self._scale << self._shift
        return [u / unit for u in self._units]

    def dump(self) -> dict[str, Any]:
        """JSON-safe state: the window's values (the exact sum follows from them).

        ``total`` (the sum as a float) is written for readers of older versions, which restore
        their running sum from it; :meth:`restore` ignores it.
        """
        return {
            "length": self.length,
            "values": self.values(),
            "total": self._total / (self._scale << self._shift),
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> RollingMean:
        """Rebuild from :meth:`dump` output, this version's or an older one's (whose float running
        sum is replaced by the exact sum of its values)."""
        rolling = cls(int(state["length"]))
        values = [float(v) for v in state["values"]]
        if len(values) > rolling.length:
            raise ValueError(
                f"a rolling mean of length {rolling.length} cannot hold {len(values)} values"
            )
        for value in values:
            rolling.push(value)
        return rolling


class MovingAverageCross:
    """Two moving averages of one series, ``fast`` and ``slow``, and where the fast one stands.

    :meth:`push` converts each value once for both windows (they share one unit) and compares the
    exact sums scaled by the other window's length, ``sum_fast x slow`` against ``sum_slow x fast``:
    equal averages are equal, whatever the history of the windows.
    """

    __slots__ = ("_full", "fast", "slow")

    def __init__(self, fast: RollingMean, slow: RollingMean) -> None:
        fast.refine(*slow.unit)
        slow.refine(*fast.unit)
        self.fast = fast
        self.slow = slow
        self._full = False  # both windows full (a full window stays full: checked once)

    @classmethod
    def of_lengths(cls, fast: int, slow: int) -> MovingAverageCross:
        """Two empty windows of these lengths."""
        return cls(RollingMean(fast), RollingMean(slow))

    def push(self, value: float) -> int | None:
        """Add ``value`` to both windows; return 1, 0 or -1 as the fast average is above, equal to
        or below the slow one, or None while either window is still filling.

        A value that is not finite is refused with :class:`ValueError` (both windows unchanged).
        """
        # RollingMean.push, once for two windows: this runs on every bar of a crossover strategy
        fast = self.fast
        scale = fast._scale
        try:
            units = round(value * scale)
            on_grid = units / scale == value
        except (ValueError, OverflowError):
            on_grid = False
        slow = self.slow
        if on_grid and self._full and not fast._shift:
            # the steady state (every bar after the first ``slow``, on the current decimal grid):
            # one value in, the oldest out
            fast_window, slow_window = fast._units, slow._units
            fast_total = fast._total = fast._total + units - fast_window[0]
            slow_total = slow._total = slow._total + units - slow_window[0]
            fast_window.append(units)
            slow_window.append(units)
            slow_length = slow.length
            above = fast_total * slow_length
            below = slow_total * fast.length
            return (above > below) - (above < below)
        if not on_grid:
            units = fast._units_of(value)
            slow.refine(*fast.unit)
        elif fast._shift:
            units <<= fast._shift
        fast_window, slow_window = fast._units, slow._units
        fast_length, slow_length = fast.length, slow.length
        if len(slow_window) == slow_length and len(fast_window) == fast_length:
            self._full = True
            fast_total = fast._total = fast._total + units - fast_window[0]
            slow_total = slow._total = slow._total + units - slow_window[0]
            fast_window.append(units)
            slow_window.append(units)
        else:
            if len(fast_window) == fast_length:
                fast._total += units - fast_window[0]
            else:
                fast._total += units
            fast_window.append(units)
            if len(slow_window) == slow_length:
                slow._total += units - slow_window[0]
            else:
                slow._total += units
            slow_window.append(units)
            if len(slow_window) < slow_length or len(fast_window) < fast_length:
                return None
            fast_total, slow_total = fast._total, slow._total
        above = fast_total * slow_length
        below = slow_total * fast_length
        return (above > below) - (above < below)
