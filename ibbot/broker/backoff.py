"""Exponential backoff with jitter and a cap, on an injected clock and random source.

Used to reconnect to the Gateway (forever, until stopped) and to retry after a pacing violation.
A small class rather than a retry library: the waits must run on ibbot's :class:`~ibbot.clock.Clock`
(so tests drive them with a ``SimulatedClock``), the reconnect loop retries forever and needs the
attempt number for its log lines, and the random source is injected so tests are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays ``initial * multiplier**attempt``, capped at ``maximum``, with "equal jitter".

    A delay is drawn uniformly from ``[base * (1 - jitter), base]``: never longer than the cap, and
    spread out so many clients dropped by one Gateway restart do not all come back in the same
    instant (and a client id held by a half-closed session gets time to free up, IB error 326).
    """

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (self.initial > 0 and math.isfinite(self.initial)):
            raise ValueError(f"backoff initial delay must be positive, got {self.initial!r}")
        if not self.maximum >= self.initial:
            raise ValueError(f"backoff maximum {self.maximum!r} is below initial {self.initial!r}")
        if not self.multiplier >= 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {self.multiplier!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be within 0..1, got {self.jitter!r}")

    def base(self, attempt: int) -> float:
        """The capped delay before jitter for the ``attempt``-th retry (0 = the first)."""
        if attempt < 0:
            raise ValueError(f"attempt must not be negative, got {attempt}")
        # Past the cap the exponent only grows; stop computing before it overflows.
        exponent = min(attempt, 1_000)
        try:
            raw = self.initial * self.multiplier**exponent
        except OverflowError:
            return self.maximum
        return min(raw, self.maximum)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay for the ``attempt``-th retry, drawn from ``rng``."""
        base = self.base(attempt)
        return base * (1.0 - self.jitter) + rng.uniform(0.0, base * self.jitter)
