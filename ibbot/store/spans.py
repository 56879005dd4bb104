"""How much time one bar file spans, chosen per bar size so files are neither tiny nor huge.

One file per symbol and month for daily bars would be ~20 rows (4 KB): 500 symbols x 20 years make
120,000 files, and opening them dominates a backtest's load. So each bar size gets the span that
puts a few thousand to a few hundred thousand rows in a file:

=============================  ==========  ==========================  ====================
bar sizes                      span        file name                   rows per file (US)
=============================  ==========  ==========================  ====================
1-30 secs, 1-30 mins           month       ``2024-01.parquet``         ~8,000 (1 min)
1-8 hours                      year        ``2024.parquet``            ~1,800 (1 hour)
1 day                          decade      ``2020s.parquet``           ~2,500
1 week, 1 month                all time    ``all.parquet``             ~1,000 (1 week)
=============================  ==========  ==========================  ====================

All spans are UTC and keyed by bar start. A write rewrites only the files of the spans it touches,
so appending one daily bar a day rewrites one decade file (no small files pile up).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.store.ranges import merge_ranges

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ibbot.models import BarSize
    from ibbot.store.ranges import TimeRange

__all__ = ["Span", "span_of"]

_MONTH_NAME = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_YEAR_NAME = re.compile(r"(\d{4})")
_DECADE_NAME = re.compile(r"(\d{3}0)s")
_ALL_NAME = "all"
_BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
_DAY = 86_400


class Span(StrEnum):
    """The stretch of time one bar file covers."""

    MONTH = "month"
    YEAR = "year"
    DECADE = "decade"
    ALL = "all"

    def start(self, t: datetime) -> datetime:
        """The first instant of the span holding ``t`` (UTC)."""
        if self is Span.MONTH:
            return datetime(t.year, t.month, 1, tzinfo=UTC)
        if self is Span.YEAR:
            return datetime(t.year, 1, 1, tzinfo=UTC)
        if self is Span.DECADE:
            return datetime(t.year - t.year % 10, 1, 1, tzinfo=UTC)
        return _BEGINNING

    def next(self, start: datetime) -> datetime | None:
        """The start of the span after the one starting at ``start`` (None: no end)."""
        if self is Span.MONTH:
            return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        step = {Span.YEAR: 1, Span.DECADE: 10}.get(self)
        if step is None or start.year + step > 9999:
            return None
        return datetime(start.year + step, 1, 1, tzinfo=UTC)

    def overlaps(self, start: datetime, lo: datetime, hi: datetime) -> bool:
        """True when the span starting at ``start`` meets ``[lo, hi)``."""
        end = self.next(start)
        return start < hi and (end is None or end > lo)

    def stem(self, start: datetime) -> str:
        """The file stem of the span starting at ``start``."""
        if self is Span.MONTH:
            return f"{start.year:04d}-{start.month:02d}"
        if self is Span.YEAR:
            return f"{start.year:04d}"
        if self is Span.DECADE:
            return f"{start.year:04d}s"
        return _ALL_NAME

    def parse_stem(self, stem: str) -> datetime | None:
        """The span start a file stem stands for, or None when it is not this span's name."""
        if self is Span.MONTH:
            match = _MONTH_NAME.fullmatch(stem)
            return None if match is None else datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
        if self is Span.YEAR:
            match = _YEAR_NAME.fullmatch(stem)
        elif self is Span.DECADE:
            match = _DECADE_NAME.fullmatch(stem)
        else:
            return _BEGINNING if stem == _ALL_NAME else None
        if match is None or int(match[1]) == 0:
            return None
        return datetime(int(match[1]), 1, 1, tzinfo=UTC)

    def keys(self, timestamps: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
        """One integer per timestamp, equal for timestamps in the same span (Arrow, no loop)."""
        if self is Span.ALL:
            return pa.repeat(pa.scalar(0, pa.int64()), len(timestamps))
        years = pc.cast(pc.year(timestamps), pa.int64())
        if self is Span.MONTH:
            return pc.add(pc.multiply(years, 12), pc.cast(pc.month(timestamps), pa.int64()))
        if self is Span.YEAR:
            return years
        return pc.divide(years, 10)

    def split_ranges(self, ranges: Iterable[TimeRange]) -> dict[datetime, list[TimeRange]]:
        """``ranges`` cut at span boundaries, keyed by the start of the span each piece lies in."""
        pieces: dict[datetime, list[TimeRange]] = {}
        for start, end in merge_ranges(ranges):
            cursor = start
            while cursor < end:
                span = self.start(cursor)
                boundary = self.next(span)
                stop = end if boundary is None else min(end, boundary)
                pieces.setdefault(span, []).append((cursor, stop))
                cursor = stop
        return pieces


def span_of(size: BarSize) -> Span:
    """The span of one file of ``size`` bars (see the module docstring)."""
    seconds = size.seconds
    if seconds < 3_600:
        return Span.MONTH
    if seconds < _DAY:
        return Span.YEAR
    if seconds == _DAY:
        return Span.DECADE
    return Span.ALL
