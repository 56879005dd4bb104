"""IB's date and time strings, read and written the way TWS does.

Requests carry ``endDateTime`` as ``yyyymmdd hh:mm:ss <zone>`` (ib_async always sends ``... UTC``),
``yyyymmdd-hh:mm:ss`` (UTC), or without a zone, which TWS reads in its login time zone; the
simulated gateway's login zone is US/Eastern. Replies write intraday bar times either as
``yyyymmdd hh:mm:ss US/Eastern`` (formatDate 1) or as epoch seconds (formatDate 2); daily and longer
bars are always the session date ``yyyymmdd``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "EXCHANGE_ZONE",
    "EXCHANGE_ZONE_NAME",
    "format_bar_time",
    "format_connection_time",
    "format_exec_time",
    "format_session_date",
    "parse_end_datetime",
]

EXCHANGE_ZONE_NAME = "US/Eastern"
EXCHANGE_ZONE = ZoneInfo("America/New_York")

_WITH_ZONE = re.compile(r"(\d{8})[ -](\d{2}:\d{2}:\d{2})(?: +(\S+))?")
_DATE_ONLY = re.compile(r"\d{8}")


def parse_end_datetime(text: str, now: datetime) -> datetime:
    """The instant an ``endDateTime`` names (empty: ``now``); raises ValueError when unreadable."""
    text = text.strip()
    if not text:
        return now
    if _DATE_ONLY.fullmatch(text):
        day = datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 - a bare date, zone added below
        return datetime.combine(day, time(23, 59, 59), EXCHANGE_ZONE).astimezone(UTC)
    match = _WITH_ZONE.fullmatch(text)
    if match is None:
        raise ValueError(f"unreadable end date/time {text!r}")
    day_text, clock_text, zone_text = match.groups()
    naive = datetime.strptime(day_text + clock_text, "%Y%m%d%H:%M:%S")  # noqa: DTZ007 - zone below
    if zone_text is None:
        zone = UTC if "-" in text else EXCHANGE_ZONE
    else:
        try:
            zone = ZoneInfo(zone_text) if zone_text.upper() != "UTC" else UTC
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone_text!r}") from exc
    return naive.replace(tzinfo=zone).astimezone(UTC)


def format_bar_time(start: datetime, *, format_date: int, intraday: bool) -> str:
    """A bar's date field: session date for daily bars, else zone-qualified text or epoch seconds."""
    if not intraday:
        return format_session_date(start)
    if format_date == 2:
        return str(int(start.timestamp()))
    local = start.astimezone(EXCHANGE_ZONE)
    return f"{local:%Y%m%d %H:%M:%S} {EXCHANGE_ZONE_NAME}"


def format_session_date(start: datetime) -> str:
    """``yyyymmdd`` of the exchange-local date of ``start``."""
    local: date = start.astimezone(EXCHANGE_ZONE).date()
    return f"{local:%Y%m%d}"


def format_exec_time(instant: datetime) -> str:
    """An execution time as TWS reports it: exchange-local with the zone name."""
    return f"{instant.astimezone(EXCHANGE_ZONE):%Y%m%d %H:%M:%S} {EXCHANGE_ZONE_NAME}"


def format_connection_time(instant: datetime) -> str:
    """The handshake's connection time, e.g. ``20250425 15:23:54 EST``."""
    local = instant.astimezone(EXCHANGE_ZONE)
    return f"{local:%Y%m%d %H:%M:%S} {local.tzname()}"
