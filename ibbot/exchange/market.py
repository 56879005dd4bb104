"""What the engine sees of the market: the top of book (live matching) and OHLCV bars (backtests).

The simulated gateway's market produces both; the backtester builds bars from stored prices. They live
here, beside the engine, so neither side has to reach into the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Quote", "SimBar"]


@dataclass(frozen=True, slots=True)
class SimBar:
    """One bar as the gateway serves it and the engine matches against it. ``time`` is its start, UTC.

    For MIDPOINT, BID, ASK and BID_ASK bars ``volume``, ``wap`` and ``count`` are -1, as IB sends them.
    """

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    wap: float
    count: int


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and the day so far at ``time``.

    ``last`` is the last trade; ``volume``, ``open``, ``high`` and ``low`` cover the regular session
    of the current day up to ``time`` (the previous session's, before today's open); ``close`` is the
    regular close of the session before that day, as IB's close tick.
    """

    time: datetime
    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: int
    open: float
    high: float
    low: float
    close: float
