"""The simulated exchange calendar: NYSE holidays by rule, early closes, sessions, IB's hours strings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from ibbot.sim.calendar import EXCHANGE_TZ, ExchangeCalendar


@pytest.fixture(scope="module")
def cal() -> ExchangeCalendar:
    return ExchangeCalendar()


def test_holidays_2026_match_the_nyse_schedule(cal: ExchangeCalendar) -> None:
    """2026's holidays are NYSE's published ones, with Independence Day observed on Friday July 3."""
    assert sorted(cal.holidays(2026)) == [
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 4, 3),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
    ]


def test_weekend_observance_rules(cal: ExchangeCalendar) -> None:
    """Sunday holidays move to Monday, Saturday ones to Friday, but a Saturday New Year's Day is not."""
    assert not cal.is_trading_day(date(2021, 7, 5))  # July 4 2021 was a Sunday
    assert not cal.is_trading_day(date(2022, 6, 20))  # Juneteenth 2022 was a Sunday
    assert not cal.is_trading_day(date(2022, 12, 26))  # Christmas 2022 was a Sunday
    assert not cal.is_trading_day(date(2021, 12, 24))  # Christmas 2021 was a Saturday
    assert cal.is_trading_day(date(2021, 12, 31))  # New Year's Day 2022 was a Saturday


def test_rules_start_when_the_holidays_did(cal: ExchangeCalendar) -> None:
    """Juneteenth closes the market from 2022 and MLK Day from 1998, not before."""
    assert cal.is_trading_day(date(2021, 6, 18))
    assert not cal.is_trading_day(date(2023, 6, 19))
    assert cal.is_trading_day(date(1997, 1, 20))
    assert not cal.is_trading_day(date(1998, 1, 19))


def test_good_friday_follows_easter(cal: ExchangeCalendar) -> None:
    """Good Friday is computed from Easter (2024-03-29, 2025-04-18)."""
    assert cal.holidays(2024)[date(2024, 3, 29)] == "Good Friday"
    assert cal.holidays(2025)[date(2025, 4, 18)] == "Good Friday"
    assert cal.holidays(2000)[date(2000, 4, 21)] == "Good Friday"
    assert cal.holidays(2038)[date(2038, 4, 23)] == "Good Friday"


def test_weekends_are_closed(cal: ExchangeCalendar) -> None:
    """Saturdays and Sundays have no session."""
    assert cal.session(date(2026, 3, 7)) is None
    assert cal.session(date(2026, 3, 8)) is None
    assert cal.next_trading_day(date(2026, 3, 6)) == date(2026, 3, 9)
    assert cal.previous_trading_day(date(2026, 3, 9)) == date(2026, 3, 6)


def test_early_closes(cal: ExchangeCalendar) -> None:
    """July 3 (Mon-Thu), the day after Thanksgiving and Dec 24 (Mon-Thu) close at 13:00 ET."""
    for day in (date(2025, 7, 3), date(2025, 11, 28), date(2025, 12, 24), date(2026, 12, 24)):
        session = cal.session(day)
        assert session is not None
        assert session.early_close
        assert session.close.astimezone(EXCHANGE_TZ).time() == time(13, 0)
        assert session.post_close.astimezone(EXCHANGE_TZ).time() == time(17, 0)
    assert not cal.is_early_close(date(2026, 7, 2))  # July 3 2026 is the observed holiday
    assert not cal.is_early_close(date(2026, 7, 3))
    assert not cal.is_early_close(date(2023, 12, 22))


def test_sessions_follow_daylight_saving(cal: ExchangeCalendar) -> None:
    """09:30 New York is 14:30 UTC in winter and 13:30 UTC from the DST switch on."""
    winter = cal.session(date(2026, 3, 6))
    summer = cal.session(date(2026, 3, 9))  # the Monday after the switch on March 8
    autumn = cal.session(date(2026, 11, 2))  # the Monday after the switch back on November 1
    assert winter is not None
    assert summer is not None
    assert autumn is not None
    assert winter.open == datetime(2026, 3, 6, 14, 30, tzinfo=UTC)
    assert summer.open == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    assert summer.pre_open == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert summer.post_close == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
    assert autumn.open == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
    assert summer.open_ts == int(summer.open.timestamp())
    assert summer.start(use_rth=False) == summer.pre_open
    assert summer.end(use_rth=True) == summer.close


def test_trading_hours_strings(cal: ExchangeCalendar) -> None:
    """IB's tradingHours/liquidHours format, with CLOSED days and the early close."""
    trading, liquid = cal.trading_hours(date(2025, 11, 27), 3)
    assert trading == ("20251127:CLOSED;20251128:0400-20251128:1700;20251129:CLOSED")
    assert liquid == "20251127:CLOSED;20251128:0930-20251128:1300;20251129:CLOSED"
    trading, liquid = cal.trading_hours(date(2026, 3, 9), 1)
    assert (trading, liquid) == ("20260309:0400-20260309:2000", "20260309:0930-20260309:1600")
    with pytest.raises(ValueError, match="at least 1"):
        cal.trading_hours(date(2026, 3, 9), 0)


def test_years_outside_the_rules_are_refused(cal: ExchangeCalendar) -> None:
    """Dates before 1971 or after 2099 raise instead of guessing at other holiday rules."""
    with pytest.raises(ValueError, match="1971-2099"):
        cal.is_trading_day(date(1969, 7, 21))
    with pytest.raises(ValueError, match="outside"):
        cal.holidays(2100)


def test_trading_days_and_sessions_lists(cal: ExchangeCalendar) -> None:
    """A week with Good Friday has four sessions, in order."""
    days = cal.trading_days(date(2026, 3, 30), date(2026, 4, 5))
    assert days == [date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1), date(2026, 4, 2)]
    assert [s.day for s in cal.sessions(date(2026, 3, 30), date(2026, 4, 5))] == days
    assert cal.exchange_date(datetime(2026, 4, 2, 2, 0, tzinfo=UTC)) == date(2026, 4, 1)
