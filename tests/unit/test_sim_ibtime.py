"""IB date/time strings: endDateTime parsing and bar/execution time formatting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ibbot.sim.ibtime import (
    format_bar_time,
    format_connection_time,
    format_exec_time,
    parse_end_datetime,
)

NOW = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", NOW),
        ("20260302 15:00:00 UTC", datetime(2026, 3, 2, 15, 0, tzinfo=UTC)),
        ("20260302 10:00:00 US/Eastern", datetime(2026, 3, 2, 15, 0, tzinfo=UTC)),
        ("20260302-15:00:00", datetime(2026, 3, 2, 15, 0, tzinfo=UTC)),
        ("20260302 10:00:00", datetime(2026, 3, 2, 15, 0, tzinfo=UTC)),
        ("20260302", datetime(2026, 3, 3, 4, 59, 59, tzinfo=UTC)),
        ("20260702 10:00:00 America/New_York", datetime(2026, 7, 2, 14, 0, tzinfo=UTC)),
    ],
)
def test_end_datetime_forms(text: str, expected: datetime) -> None:
    """Every endDateTime spelling TWS accepts names the right instant (no zone: US/Eastern)."""
    assert parse_end_datetime(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "20260302 10:00", "20260302 10:00:00 Mars/Base", "2026-03-02"]
)
def test_unreadable_end_datetimes(text: str) -> None:
    """Unreadable dates and unknown zones raise ValueError."""
    with pytest.raises(ValueError, match=r"unreadable|unknown time zone"):
        parse_end_datetime(text, NOW)


def test_bar_time_formats() -> None:
    """Intraday: zoned text (formatDate 1) or epoch (2); daily bars: the session date."""
    start = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert format_bar_time(start, format_date=1, intraday=True) == "20260302 09:30:00 US/Eastern"
    assert format_bar_time(start, format_date=2, intraday=True) == str(int(start.timestamp()))
    assert format_bar_time(start, format_date=2, intraday=False) == "20260302"


def test_exec_and_connection_times() -> None:
    """Execution times carry the exchange zone; the handshake time its abbreviation."""
    assert format_exec_time(NOW) == "20260302 11:00:00 US/Eastern"
    assert format_connection_time(NOW) == "20260302 11:00:00 EST"
