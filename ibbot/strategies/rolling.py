"""A fixed-length moving average updated in O(1) per value, for indicators on the bar hot path."""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["RollingMean"]


class RollingMean:
    """The mean of the last ``length`` values pushed, kept as a running sum.

    Pushing adds the new value and subtracts the one leaving the window, so the cost does not
    depend on the length. The running sum is part of :meth:`dump`, so a restored average continues
    bit for bit where the saved one stopped (recomputing it would differ in the last digits).
    """

    __slots__ = ("_total", "_values", "length")

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"a rolling mean needs a length of at least 1, got {length}")
        self.length = length
        self._values: deque[float] = deque(maxlen=length)
        self._total = 0.0

    def push(self, value: float) -> float | None:
        """Add ``value`` (the oldest drops out once the window is full); return the new :attr:`mean`."""
        values = self._values
        length = self.length
        if len(values) == length:
            self._total -= values[0]
            values.append(value)
            self._total += value
            return self._total / length
        values.append(value)
        self._total += value
        return self._total / length if len(values) == length else None

    @property
    def full(self) -> bool:
        """True once ``length`` values have been pushed."""
        return len(self._values) == self.length

    @property
    def count(self) -> int:
        """How many values the window holds (at most ``length``)."""
        return len(self._values)

    @property
    def mean(self) -> float | None:
        """The average of the window, or None while it is still filling."""
        if len(self._values) < self.length:
            return None
        return self._total / self.length

    def dump(self) -> dict[str, Any]:
        """JSON-safe state: the window's values and the running sum."""
        return {"length": self.length, "values": list(self._values), "total": self._total}

    @classmethod
    def restore(cls, state: dict[str, Any]) -> RollingMean:
        """Rebuild from :meth:`dump` output."""
        rolling = cls(int(state["length"]))
        values = [float(v) for v in state["values"]]
        if len(values) > rolling.length:
            raise ValueError(
                f"a rolling mean of length {rolling.length} cannot hold {len(values)} values"
            )
        rolling._values.extend(values)
        rolling._total = float(state["total"])
        return rolling
