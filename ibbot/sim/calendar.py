"""The US equity exchange calendar the simulated market trades on.

NYSE/Nasdaq rules, computed rather than listed, so any year in range works without a table: weekdays
only; regular trading hours (RTH) 09:30-16:00 America/New_York; extended hours 04:00-09:30 and
16:00-20:00; the holidays NYSE Rule 7.2 names (New Year's Day, Martin Luther King Jr. Day, Washington's
Birthday, Good Friday, Memorial Day, Juneteenth from 2022, Independence Day, Labor Day, Thanksgiving,
Christmas), moved to the Friday before when they fall on a Saturday and to the Monday after when they fall
on a Sunday, except that a Saturday New Year's Day is not observed on the Friday before (that Friday
closes a year's books). Early closes at 13:00 (post-market until 17:00): the day before Independence Day
when that is a Monday-Thursday, the day after Thanksgiving, and Christmas Eve when that is a
Monday-Thursday. One-off closures (national days of mourning, storms) are not rules and are not
simulated. The rule set above holds from 1971 (Monday holidays act); earlier dates are refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "EXCHANGE_TZ",
    "FIRST_YEAR",
    "LAST_YEAR",
    "ExchangeCalendar",
    "Session",
]

EXCHANGE_TZ = ZoneInfo("America/New_York")
FIRST_YEAR = 1971
LAST_YEAR = 2099

_PRE_OPEN = time(4, 0)
_OPEN = time(9, 30)
_CLOSE = time(16, 0)
_EARLY_CLOSE = time(13, 0)
_POST_HOURS = (
    4  # extended trading runs four hours past the close (20:00, or 17:00 on early-close days)
)

MONDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = 0, 3, 4, 5, 6


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day: its extended and regular hours as UTC instants and epoch seconds.

    ``pre_open <= open < close < post_close``; pre-market is ``[pre_open, open)``, RTH ``[open, close)``
    and post-market ``[close, post_close)``. The epoch-second fields are what the price model indexes.
    """

    day: date
    pre_open: datetime
    open: datetime
    close: datetime
    post_close: datetime
    early_close: bool
    pre_open_ts: int
    open_ts: int
    close_ts: int
    post_close_ts: int

    def start(self, *, use_rth: bool) -> datetime:
        """When trading starts: the RTH open, or the pre-market open when extended hours count."""
        return self.open if use_rth else self.pre_open

    def end(self, *, use_rth: bool) -> datetime:
        """When trading ends: the RTH close, or the post-market close when extended hours count."""
        return self.close if use_rth else self.post_close


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed(day: date) -> date:
    if day.weekday() == SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == SUNDAY:
        return day + timedelta(days=1)
    return day


class ExchangeCalendar:
    """Trading days, sessions and IB's trading-hours strings for the US equity market."""

    def __init__(self) -> None:
        self._holidays = functools.lru_cache(maxsize=256)(self._compute_holidays)
        self._sessions = functools.lru_cache(maxsize=8192)(self._compute_session)

    def holidays(self, year: int) -> dict[date, str]:
        """The full-day market holidays of ``year`` (observed dates), with their names."""
        _check_year(year)
        return dict(self._holidays(year))

    def is_trading_day(self, day: date) -> bool:
        """True on weekdays that are not market holidays."""
        _check_year(day.year)
        return day.weekday() < SATURDAY and day not in self._holidays(day.year)

    def is_early_close(self, day: date) -> bool:
        """True on the trading days that close at 13:00 (July 3, the day after Thanksgiving, Dec 24)."""
        if not self.is_trading_day(day):
            return False
        year = day.year
        if day == _nth_weekday(year, 11, THURSDAY, 4) + timedelta(days=1):
            return True
        return day in (date(year, 7, 3), date(year, 12, 24)) and day.weekday() <= THURSDAY

    def session(self, day: date) -> Session | None:
        """The trading session on ``day``, or None when the market is closed that day."""
        return self._sessions(day)

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        nxt = day + timedelta(days=1)
        while not self.is_trading_day(nxt):
            nxt += timedelta(days=1)
        return nxt

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        prev = day - timedelta(days=1)
        while not self.is_trading_day(prev):
            prev -= timedelta(days=1)
        return prev

    def trading_days(self, first: date, last: date) -> list[date]:
        """Every trading day in ``[first, last]``."""
        out: list[date] = []
        day = first
        while day <= last:
            if self.is_trading_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out

    def sessions(self, first: date, last: date) -> list[Session]:
        """Every session in ``[first, last]``, in order."""
        return list(self.iter_sessions(first, last))

    def iter_sessions(self, first: date, last: date) -> Iterator[Session]:
        """:meth:`sessions` one at a time: decades of sessions are never built at once."""
        day = first
        while day <= last:
            session = self._sessions(day)
            if session is not None:
                yield session
            day += timedelta(days=1)

    def exchange_date(self, t: datetime) -> date:
        """The calendar date at the exchange (America/New_York) of instant ``t``."""
        return t.astimezone(EXCHANGE_TZ).date()

    def trading_hours(self, start: date, days: int) -> tuple[str, str]:
        """IB's ``tradingHours`` and ``liquidHours`` strings for ``days`` calendar days from ``start``.

        IB's format since API 9.72: ``YYYYMMDD:HHMM-YYYYMMDD:HHMM`` per day, ``YYYYMMDD:CLOSED`` on a
        closed day, joined with ``;``, in the contract's time zone (US/Eastern here). tradingHours
        covers extended hours, liquidHours the regular session.
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        trading: list[str] = []
        liquid: list[str] = []
        for offset in range(days):
            day = start + timedelta(days=offset)
            session = self.session(day)
            stamp = day.strftime("%Y%m%d")
            if session is None:
                trading.append(f"{stamp}:CLOSED")
                liquid.append(f"{stamp}:CLOSED")
                continue
            trading.append(_span(session.pre_open, session.post_close))
            liquid.append(_span(session.open, session.close))
        return ";".join(trading), ";".join(liquid)

    def _compute_holidays(self, year: int) -> dict[date, str]:
        days: dict[date, str] = {}
        new_year = date(year, 1, 1)
        if new_year.weekday() != SATURDAY:  # NYSE does not close on the Friday Dec 31 before it
            days[_observed(new_year)] = "New Year's Day"
        if year >= 1998:  # NYSE first closed for Martin Luther King Jr. Day in 1998
            days[_nth_weekday(year, 1, MONDAY, 3)] = "Martin Luther King Jr. Day"
        days[_nth_weekday(year, 2, MONDAY, 3)] = "Washington's Birthday"
        days[_easter(year) - timedelta(days=2)] = "Good Friday"
        days[_last_weekday(year, 5, MONDAY)] = "Memorial Day"
        if year >= 2022:  # Juneteenth became an NYSE holiday in 2022
            days[_observed(date(year, 6, 19))] = "Juneteenth National Independence Day"
        days[_observed(date(year, 7, 4))] = "Independence Day"
        days[_nth_weekday(year, 9, MONDAY, 1)] = "Labor Day"
        days[_nth_weekday(year, 11, THURSDAY, 4)] = "Thanksgiving Day"
        days[_observed(date(year, 12, 25))] = "Christmas Day"
        return days

    def _compute_session(self, day: date) -> Session | None:
        if not self.is_trading_day(day):
            return None
        early = self.is_early_close(day)
        close = _EARLY_CLOSE if early else _CLOSE
        post = time(close.hour + _POST_HOURS, close.minute)
        pre_open, open_, close_, post_close = (
            _utc(day, _PRE_OPEN),
            _utc(day, _OPEN),
            _utc(day, close),
            _utc(day, post),
        )
        return Session(
            day=day,
            pre_open=pre_open,
            open=open_,
            close=close_,
            post_close=post_close,
            early_close=early,
            pre_open_ts=int(pre_open.timestamp()),
            open_ts=int(open_.timestamp()),
            close_ts=int(close_.timestamp()),
            post_close_ts=int(post_close.timestamp()),
        )


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(
            f"the simulated calendar covers {FIRST_YEAR}-{LAST_YEAR}; {year} is outside it"
        )


def _utc(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def _span(start: datetime, end: datetime) -> str:
    a = start.astimezone(EXCHANGE_TZ)
    b = end.astimezone(EXCHANGE_TZ)
    return f"{a:%Y%m%d:%H%M}-{b:%Y%m%d:%H%M}"
