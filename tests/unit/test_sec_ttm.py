"""Trailing twelve months from 10-Q/10-K durations: the three methods and their edge cases."""

from __future__ import annotations

from datetime import date

import pytest

from ibbot.fundamentals.sec.facts import Fact
from ibbot.fundamentals.sec.ttm import TtmMethod, quarters_spanned, trailing_twelve_months

FILED = date(2025, 1, 1)


def fact(start: date, end: date, value: float, form: str = "10-Q") -> Fact:
    return Fact("us-gaap:Revenues", "USD", value, start, end, f"acc-{start}-{end}", form, FILED)


def test_quarters_spanned_allows_52_53_week_years() -> None:
    """Quarter, half, nine months and year are recognised with room for 13/14-week quarters."""
    assert quarters_spanned(date(2024, 1, 1), date(2024, 3, 31)) == 1
    assert quarters_spanned(date(2023, 10, 1), date(2024, 1, 6)) == 1  # 14 weeks
    assert quarters_spanned(date(2024, 1, 1), date(2024, 6, 30)) == 2
    assert quarters_spanned(date(2024, 1, 1), date(2024, 9, 30)) == 3
    assert quarters_spanned(date(2023, 10, 1), date(2024, 9, 28)) == 4  # 52 weeks
    assert quarters_spanned(date(2024, 1, 1), date(2024, 1, 31)) is None


def test_annual_value_is_the_ttm_at_a_fiscal_year_end() -> None:
    """A 10-K's fiscal year is the TTM at its end."""
    found = trailing_twelve_months([fact(date(2024, 1, 1), date(2024, 12, 31), 400.0, "10-K")])
    assert found is not None
    assert (found.value, found.method, found.end) == (400.0, TtmMethod.ANNUAL, date(2024, 12, 31))


def test_q4_is_fiscal_year_minus_nine_months() -> None:
    """Q4 = FY - 9M YTD; with Q1-Q3 of the next year the TTM sums four quarters."""
    facts = [
        fact(date(2024, 1, 1), date(2024, 9, 30), 270.0),  # 9M 2024
        fact(date(2024, 1, 1), date(2024, 12, 31), 400.0, "10-K"),  # FY 2024 -> Q4 = 130
        fact(date(2025, 1, 1), date(2025, 3, 31), 100.0),  # Q1 2025
        fact(date(2025, 1, 1), date(2025, 6, 30), 210.0),  # H1 2025 -> Q2 = 110
        fact(date(2025, 1, 1), date(2025, 9, 30), 330.0),  # 9M 2025 -> Q3 = 120
    ]
    found = trailing_twelve_months(facts)
    assert found is not None
    assert found.method is TtmMethod.SUM_OF_QUARTERS
    assert found.value == pytest.approx(130 + 100 + 110 + 120)
    assert (found.start, found.end) == (date(2024, 10, 1), date(2025, 9, 30))


def test_reported_quarters_beat_derived_ones() -> None:
    """A three-month value a 10-Q states is used rather than a YTD difference."""
    facts = [
        fact(date(2024, 1, 1), date(2024, 3, 31), 100.0),
        fact(date(2024, 4, 1), date(2024, 6, 30), 111.0),  # stated Q2
        fact(date(2024, 1, 1), date(2024, 6, 30), 210.0),  # H1 (would derive Q2 = 110)
        fact(date(2024, 7, 1), date(2024, 9, 30), 120.0),
        fact(date(2023, 10, 1), date(2023, 12, 31), 90.0),
    ]
    found = trailing_twelve_months(facts)
    assert found is not None
    assert found.value == pytest.approx(90 + 100 + 111 + 120)


def test_ytd_adjusted_when_quarters_are_missing() -> None:
    """Cash-flow style (YTD only, no prior Q1): prior FY + this YTD - prior YTD."""
    facts = [
        fact(date(2024, 1, 1), date(2024, 12, 31), 500.0, "10-K"),
        fact(date(2024, 1, 1), date(2024, 6, 30), 240.0),  # prior H1, comparative
        fact(date(2025, 1, 1), date(2025, 6, 30), 300.0),  # this H1
    ]
    found = trailing_twelve_months(facts)
    assert found is not None
    assert found.method is TtmMethod.YTD_ADJUSTED
    assert found.value == pytest.approx(500 + 300 - 240)
    assert (found.start, found.end) == (date(2024, 7, 1), date(2025, 6, 30))


def test_falls_back_to_an_earlier_end_when_the_latest_is_incomplete() -> None:
    """A lone new quarter cannot make a TTM: the last fiscal year is used instead."""
    facts = [
        fact(date(2024, 1, 1), date(2024, 12, 31), 400.0, "10-K"),
        fact(date(2025, 1, 1), date(2025, 3, 31), 100.0),
    ]
    found = trailing_twelve_months(facts)
    assert found is not None
    assert (found.end, found.method) == (date(2024, 12, 31), TtmMethod.ANNUAL)


def test_no_ttm_from_instants_or_odd_lengths() -> None:
    """Instants and two-month transition periods give no TTM."""
    instant = Fact("us-gaap:Assets", "USD", 5.0, None, date(2024, 12, 31), "a", "10-K", FILED)
    odd = fact(date(2024, 1, 1), date(2024, 2, 29), 50.0)
    assert trailing_twelve_months([instant, odd]) is None
    assert trailing_twelve_months([]) is None


def test_gap_in_quarters_breaks_the_chain() -> None:
    """Four quarters must be consecutive: a missing quarter yields no quarter sum."""
    facts = [
        fact(date(2024, 1, 1), date(2024, 3, 31), 100.0),
        fact(date(2024, 7, 1), date(2024, 9, 30), 120.0),
        fact(date(2024, 10, 1), date(2024, 12, 31), 130.0),
        fact(date(2025, 1, 1), date(2025, 3, 31), 140.0),
    ]
    assert trailing_twelve_months(facts) is None
