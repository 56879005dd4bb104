"""Market data: price bars, ticks, contract descriptions, and IB's bar sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ibbot.clock import ensure_utc

__all__ = ["BarSize", "ContractInfo", "PriceBar", "Tick", "WhatToShow"]


class BarSize(StrEnum):
    """IB's bar size settings, spelled exactly as ``reqHistoricalData`` wants them."""

    SEC_1 = "1 secs"
    SEC_5 = "5 secs"
    SEC_10 = "10 secs"
    SEC_15 = "15 secs"
    SEC_30 = "30 secs"
    MIN_1 = "1 min"
    MIN_2 = "2 mins"
    MIN_3 = "3 mins"
    MIN_5 = "5 mins"
    MIN_10 = "10 mins"
    MIN_15 = "15 mins"
    MIN_20 = "20 mins"
    MIN_30 = "30 mins"
    HOUR_1 = "1 hour"
    HOUR_2 = "2 hours"
    HOUR_3 = "3 hours"
    HOUR_4 = "4 hours"
    HOUR_8 = "8 hours"
    DAY_1 = "1 day"
    WEEK_1 = "1 week"
    MONTH_1 = "1 month"

    @property
    def seconds(self) -> int:
        """Nominal length of one bar in seconds (a month counts as 30 days)."""
        return _BAR_SECONDS[self]

    @property
    def is_intraday(self) -> bool:
        """True for bars shorter than a trading day."""
        return _BAR_SECONDS[self] < 86_400

    @classmethod
    def parse(cls, text: str) -> BarSize:
        """Accept IB's spelling and common variants (``"1 mins"``, ``"1min"``, ``"1 hours"``, ``"1d"``)."""
        cleaned = " ".join(text.strip().lower().split())
        for member in cls:
            if cleaned == member.value:
                return member
        aliases = {"1d": cls.DAY_1, "1w": cls.WEEK_1, "1h": cls.HOUR_1, "1m": cls.MIN_1}
        if cleaned in aliases:
            return aliases[cleaned]
        compact = cleaned.replace(" ", "")
        for member in cls:
            count, unit = member.value.split()
            for spelled in (unit, unit.rstrip("s"), unit.rstrip("s") + "s"):
                if compact == f"{count}{spelled}":
                    return member
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"unknown bar size {text!r}; IB accepts {valid}")


_UNIT_SECONDS = {
    "sec": 1,
    "min": 60,
    "hour": 3_600,
    "day": 86_400,
    "week": 604_800,
    "month": 2_592_000,
}


def _nominal_seconds(size: BarSize) -> int:
    count, unit = size.value.split()
    return int(count) * _UNIT_SECONDS[unit.rstrip("s")]


# worked out once: backtests and metrics ask for a bar size's length per bar or per point
_BAR_SECONDS: dict[BarSize, int] = {size: _nominal_seconds(size) for size in BarSize}


class WhatToShow(StrEnum):
    """The price series a historical request asks for."""

    TRADES = "TRADES"
    MIDPOINT = "MIDPOINT"
    BID = "BID"
    ASK = "ASK"
    BID_ASK = "BID_ASK"


@dataclass(frozen=True, slots=True)
class PriceBar:
    """One OHLCV bar. ``timestamp`` is the bar's *start*, in UTC.

    The store de-duplicates on ``(symbol, timestamp, bar_size)``; ``wap`` and ``bar_count`` are IB's
    volume-weighted average price and trade count when known.
    """

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    bar_size: BarSize = BarSize.DAY_1
    wap: float | None = None
    bar_count: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        if type(self.bar_size) is not BarSize:  # accept IB's spellings given as plain strings
            object.__setattr__(self, "bar_size", BarSize.parse(str(self.bar_size)))

    @property
    def end(self) -> datetime:
        """When the bar closes (start + nominal length)."""
        return self.timestamp + timedelta(seconds=self.bar_size.seconds)


@dataclass(frozen=True, slots=True)
class Tick:
    """A top-of-book / last-trade snapshot for one symbol; fields IB did not send are None."""

    symbol: str
    timestamp: datetime
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None
    volume: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))

    @property
    def mid(self) -> float | None:
        """Midpoint of bid and ask when both are present and sane."""
        if self.bid is None or self.ask is None or self.bid <= 0 or self.ask <= 0:
            return None
        return (self.bid + self.ask) / 2

    @property
    def price(self) -> float | None:
        """Best single price for valuation: last trade, else the midpoint."""
        if self.last is not None and math.isfinite(self.last) and self.last > 0:
            return self.last
        return self.mid


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """What IB says a stock is: identifiers, listing, classification and trading rules."""

    symbol: str
    con_id: int
    long_name: str
    industry: str
    category: str
    subcategory: str
    exchange: str
    currency: str
    primary_exchange: str = ""
    sec_type: str = "STK"
    min_tick: float = 0.01
    time_zone: str = ""
    trading_hours: str = ""
    liquid_hours: str = ""
