"""Half-open time ranges ``[start, end)``: merging, subtracting, and cutting at month starts.

Bar coverage is kept as a list of such ranges, so a resumable backfill can ask for exactly the parts
of a window the store does not hold yet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "TimeRange",
    "merge_ranges",
    "month_start",
    "next_month",
    "split_by_month",
    "subtract_ranges",
]

TimeRange = tuple[datetime, datetime]


def month_start(t: datetime) -> datetime:
    """Midnight UTC on the first day of ``t``'s month."""
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def next_month(t: datetime) -> datetime:
    """Midnight UTC on the first day of the month after ``t``'s."""
    return datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)


def merge_ranges(ranges: Iterable[TimeRange]) -> list[TimeRange]:
    """The union of ``ranges`` as sorted, disjoint, non-touching ranges (empty ones dropped)."""
    merged: list[TimeRange] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract_ranges(window: TimeRange, covered: Iterable[TimeRange]) -> list[TimeRange]:
    """The parts of ``window`` that no range in ``covered`` contains, in time order."""
    start, end = window
    gaps: list[TimeRange] = []
    cursor = start
    for c_start, c_end in merge_ranges(covered):
        if c_end <= cursor:
            continue
        if c_start >= end:
            break
        if c_start > cursor:
            gaps.append((cursor, c_start))
        cursor = max(cursor, c_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def split_by_month(ranges: Iterable[TimeRange]) -> dict[datetime, list[TimeRange]]:
    """``ranges`` cut at UTC month starts, keyed by the month each piece lies in."""
    pieces: dict[datetime, list[TimeRange]] = {}
    for start, end in merge_ranges(ranges):
        month = month_start(start)
        cursor = start
        while cursor < end:
            boundary = next_month(month)
            pieces.setdefault(month, []).append((cursor, min(end, boundary)))
            cursor, month = boundary, boundary
    return pieces
