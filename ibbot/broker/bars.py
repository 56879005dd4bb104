"""Bar arithmetic: aggregating IB's 5-second real-time bars, and the spans of historical requests.

IB streams real-time bars only as 5-second bars (``reqRealTimeBars`` accepts no other size), so a
1-minute bar is built from twelve of them. A bucket that is known to be incomplete (we joined it
late, or 5-second bars are missing inside it) is not emitted: its open or its range would be wrong.
The collector fills such holes from historical data instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from ibbot.models import BarSize, PriceBar

__all__ = [
    "REALTIME_BAR_SECONDS",
    "BarAggregator",
    "RequestSpan",
    "floor_time",
    "parse_duration",
    "request_span",
]

# IB's real-time bars are always 5 seconds long.
REALTIME_BAR_SECONDS: Final = 5
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def floor_time(moment: datetime, bar_size: BarSize) -> datetime:
    """The start of the ``bar_size`` bucket holding ``moment`` (UTC, aligned to the epoch).

    Daily and longer sizes floor to midnight UTC, the start ibbot gives daily bars.
    """
    if not bar_size.is_intraday:
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    seconds = int((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % bar_size.seconds)


@dataclass(frozen=True, slots=True)
class RequestSpan:
    """How much history one request asks for: ``count`` of IB's duration ``unit`` (S, W or Y)."""

    count: int
    unit: str

    @property
    def length(self) -> timedelta:
        """The calendar span this duration covers at least."""
        return timedelta(seconds=self.count * _UNIT_SECONDS[self.unit])

    def duration_for(self, span: timedelta) -> str:
        """IB's durationStr for a window of ``span`` (at most :attr:`length`), rounded up."""
        units = max(1, math.ceil(span.total_seconds() / _UNIT_SECONDS[self.unit]))
        return f"{min(units, self.count)} {self.unit}"


# Calendar length of IB's duration units as ibbot claims them covered: a year is 365 days (IB goes
# back one calendar year, which is never shorter). Only fixed-calendar units are used: IB counts "D"
# in trading sessions back from the end time (counting the one in progress), so "1 D" ending at
# 10:00 starts at that morning's open, not 24 hours earlier; claiming 86,400 s covered would mark
# the previous afternoon as held when it never arrived. Months are avoided: their length varies.
_UNIT_SECONDS: Final = {"S": 1, "W": 7 * 86_400, "Y": 365 * 86_400}

# One request per bar size, sized to return at most a few thousand bars (IB asks requests to
# "return only a few thousand bars"; a week outside regular hours is 5 x 16 h), in a duration unit
# IB allows for that bar size: S for bars of 1 s to 1 min, W for 10 s to 4 h, Y for 1 min to 1 day
# (IB Campus, historical data "step sizes").
_SPANS: Final = {
    BarSize.SEC_1: RequestSpan(1_800, "S"),
    BarSize.SEC_5: RequestSpan(7_200, "S"),
    BarSize.SEC_10: RequestSpan(14_400, "S"),
    BarSize.SEC_15: RequestSpan(14_400, "S"),
    BarSize.SEC_30: RequestSpan(28_800, "S"),
    BarSize.MIN_1: RequestSpan(86_400, "S"),
    BarSize.MIN_2: RequestSpan(1, "W"),
    BarSize.MIN_3: RequestSpan(1, "W"),
    BarSize.MIN_5: RequestSpan(2, "W"),
    BarSize.MIN_10: RequestSpan(4, "W"),
    BarSize.MIN_15: RequestSpan(6, "W"),
    BarSize.MIN_20: RequestSpan(8, "W"),
    BarSize.MIN_30: RequestSpan(12, "W"),
    BarSize.HOUR_1: RequestSpan(26, "W"),
    BarSize.HOUR_2: RequestSpan(52, "W"),
    BarSize.HOUR_3: RequestSpan(52, "W"),
    BarSize.HOUR_4: RequestSpan(52, "W"),
    BarSize.HOUR_8: RequestSpan(1, "Y"),
    BarSize.DAY_1: RequestSpan(1, "Y"),
    BarSize.WEEK_1: RequestSpan(5, "Y"),
    BarSize.MONTH_1: RequestSpan(10, "Y"),
}

_DURATION_UNITS: Final = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 30 * 86_400, "Y": 365 * 86_400}


def request_span(bar_size: BarSize) -> RequestSpan:
    """The largest window one historical request for ``bar_size`` asks for."""
    return _SPANS[bar_size]


def parse_duration(text: str) -> timedelta:
    """IB's durationStr (``"2 D"``, ``"6 M"``, ``"1 Y"``) as a calendar span (M = 30 days)."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1].upper() not in _DURATION_UNITS:
        raise ValueError(f"duration must be '<count> S|D|W|M|Y' (e.g. '2 D'), got {text!r}")
    count = int(parts[0])
    if count <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return timedelta(seconds=count * _DURATION_UNITS[parts[1].upper()])


class BarAggregator:
    """Builds ``bar_size`` bars from consecutive 5-second bars of one symbol.

    :meth:`add` returns the bars completed by the new 5-second bar (none or one). A bucket is
    emitted when its last 5-second slot arrives, if it holds every slot from its first; otherwise
    it is dropped (and counted in :attr:`discarded`): joined late, a slot missing inside, or a
    later bucket starting before its last slot came.
    """

    def __init__(self, symbol: str, bar_size: BarSize) -> None:
        if not bar_size.is_intraday or bar_size.seconds % REALTIME_BAR_SECONDS:
            raise ValueError(
                f"cannot build {bar_size.value} bars from {REALTIME_BAR_SECONDS}-second bars"
            )
        self._symbol = symbol
        self._bar_size = bar_size
        self._length = timedelta(seconds=bar_size.seconds)
        self._parts: list[PriceBar] = []
        self._start: datetime | None = None
        self._complete = False
        self.discarded = 0

    @property
    def bar_size(self) -> BarSize:
        """The size of the bars built."""
        return self._bar_size

    def reset(self) -> None:
        """Forget the bucket in progress (the feed was interrupted; it cannot be trusted whole)."""
        if self._parts:
            self.discarded += 1
        self._parts = []
        self._start = None

    def add(self, bar: PriceBar) -> list[PriceBar]:
        """Feed one 5-second bar; return the ``bar_size`` bars it completes."""
        start = floor_time(bar.timestamp, self._bar_size)
        if self._start is not None and start != self._start:
            if start < self._start:
                return []  # a stale bar from before the bucket in progress: ignore
            self.reset()  # the bucket in progress never got its last 5-second slot
        if self._start is None:
            self._start = start
            # A bucket joined after its first 5-second slot would have the wrong open.
            self._complete = bar.timestamp == start
        elif self._parts and bar.timestamp != self._parts[-1].end:
            if bar.timestamp <= self._parts[-1].timestamp:
                return []  # a repeated or out-of-order 5-second bar
            self._complete = False  # 5-second bars are missing inside the bucket
        self._parts.append(bar)
        if bar.end >= start + self._length:
            return self._finish()
        return []

    def _finish(self) -> list[PriceBar]:
        parts, start, complete = self._parts, self._start, self._complete
        self._parts, self._start, self._complete = [], None, False
        if start is None or not complete:
            self.discarded += 1
            return []
        volume = sum(p.volume for p in parts)
        weighted = [(p.wap, p.volume) for p in parts if p.wap is not None]
        wap = (
            sum(w * v for w, v in weighted) / volume
            if volume > 0 and len(weighted) == len(parts)
            else None
        )
        counts = [p.bar_count for p in parts]
        return [
            PriceBar(
                symbol=self._symbol,
                timestamp=start,
                open=parts[0].open,
                high=max(p.high for p in parts),
                low=min(p.low for p in parts),
                close=parts[-1].close,
                volume=volume,
                bar_size=self._bar_size,
                wap=wap,
                bar_count=None if None in counts else sum(c for c in counts if c is not None),
            )
        ]
