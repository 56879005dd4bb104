"""Trailing twelve months from the durations a company reports in its 10-Qs and 10-Ks.

What filings give: a 10-K states the fiscal year; a 10-Q states the quarter for income-statement
items and the year to date (3, 6 or 9 months), but often only the year to date for cash flows. No
filing states the fourth quarter. So quarters are derived: a direct three-month value, or the
difference of two year-to-date values with the same start (``Q2 = H1 - Q1``, ``Q3 = 9M - H1``,
``Q4 = FY - 9M``).

For the latest period end that allows it, the TTM is, in order of preference:

1. ``annual``: a twelve-month value ending then (the 10-K's fiscal year);
2. ``sum_of_quarters``: four consecutive quarters ending then (direct or derived);
3. ``ytd_adjusted``: prior fiscal year + this year to date - the same span of the prior year.

Per-share values (EPS, dividends) are summed the same way: an approximation when the share count
moves within the year, as every data vendor's TTM EPS is. Lengths are classified with room for
52/53-week fiscal years (a "quarter" is 13 or 14 weeks, a "year" 52 or 53).
"""

from __future__ import annotations

import enum
import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from ibbot.fundamentals.sec.facts import Fact

if TYPE_CHECKING:
    from collections.abc import Iterable


__all__ = ["Trailing", "TtmMethod", "quarters_spanned", "trailing_twelve_months"]

# Days of each length (inclusive of both ends), with room for 52/53-week years and odd calendars.
_QUARTER_DAYS: Final = ((75, 105, 1), (166, 196, 2), (257, 287, 3), (350, 380, 4))
# Period ends that should meet (a quarter's start after the previous end) may differ by this much.
_TOLERANCE: Final = timedelta(days=7)
_ONE_DAY: Final = timedelta(days=1)
_YEAR: Final = timedelta(days=365)


class TtmMethod(enum.StrEnum):
    """How a trailing-twelve-month value was obtained (see the module docstring)."""

    ANNUAL = "annual"
    SUM_OF_QUARTERS = "sum_of_quarters"
    YTD_ADJUSTED = "ytd_adjusted"


@dataclass(frozen=True, slots=True)
class Trailing:
    """A TTM value, the twelve months it covers, how it was built and every fact it used."""

    value: float
    start: date
    end: date
    method: TtmMethod
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class _Quarter:
    start: date
    end: date
    value: float
    facts: tuple[Fact, ...]


def quarters_spanned(start: date, end: date) -> int | None:
    """1-4 for a quarter, half, nine months or year; None for any other length."""
    days = (end - start).days + 1
    for low, high, quarters in _QUARTER_DAYS:
        if low <= days <= high:
            return quarters
    return None


def _tidy(value: float) -> float:
    """Drop binary noise from sums of decimal figures (reported values have at most 6 decimals)."""
    return round(value, 9)


def _near(a: date, b: date) -> bool:
    return abs(a - b) <= _TOLERANCE


class _Durations:
    """One concept's durations, indexed for the three methods."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        self.annual: dict[date, Fact] = {}
        self.by_start: dict[date, list[tuple[int, Fact]]] = defaultdict(list)
        self.ends: set[date] = set()
        for fact in facts:
            if fact.start is None:
                continue
            span = quarters_spanned(fact.start, fact.end)
            if span is None:
                continue
            self.ends.add(fact.end)
            if span == 4:
                self.annual[fact.end] = fact
            self.by_start[fact.start].append((span, fact))
        self.quarters = self._quarters()

    def _quarters(self) -> dict[date, _Quarter]:
        quarters: dict[date, _Quarter] = {}
        derived: list[_Quarter] = []
        for items in self.by_start.values():
            items.sort(key=lambda item: item[1].end)
            for span, fact in items:
                if span == 1:
                    quarters[fact.end] = _Quarter(
                        fact.start or fact.end, fact.end, fact.value, (fact,)
                    )
            for (span_a, a), (span_b, b) in itertools.pairwise(items):
                if span_b == span_a + 1:
                    derived.append(
                        _Quarter(a.end + _ONE_DAY, b.end, _tidy(b.value - a.value), (b, a))
                    )
        for quarter in derived:
            quarters.setdefault(quarter.end, quarter)  # a reported quarter beats a derived one
        return quarters

    def _quarter_ending_near(self, end: date) -> _Quarter | None:
        exact = self.quarters.get(end)
        if exact is not None:
            return exact
        return next((q for e, q in self.quarters.items() if _near(e, end)), None)

    def sum_of_quarters(self, end: date) -> Trailing | None:
        chain: list[_Quarter] = []
        quarter = self.quarters.get(end)
        while quarter is not None:
            chain.append(quarter)
            if len(chain) == 4:
                return Trailing(
                    _tidy(sum(q.value for q in chain)),
                    chain[-1].start,
                    end,
                    TtmMethod.SUM_OF_QUARTERS,
                    tuple(fact for q in chain for fact in q.facts),
                )
            quarter = self._quarter_ending_near(quarter.start - _ONE_DAY)
        return None

    def ytd_adjusted(self, end: date) -> Trailing | None:
        for start, items in self.by_start.items():
            for span, current in items:
                if current.end != end or span == 4:
                    continue
                prior_year = next(
                    (f for e, f in self.annual.items() if _near(e, start - _ONE_DAY)), None
                )
                if prior_year is None or prior_year.start is None:
                    continue
                prior_ytd = self._ytd_near(prior_year.start, span, end - _YEAR)
                if prior_ytd is None:
                    continue
                return Trailing(
                    _tidy(prior_year.value + current.value - prior_ytd.value),
                    prior_ytd.end + _ONE_DAY,
                    end,
                    TtmMethod.YTD_ADJUSTED,
                    (current, prior_year, prior_ytd),
                )
        return None

    def _ytd_near(self, start: date, span: int, end: date) -> Fact | None:
        for candidate_start, items in self.by_start.items():
            if not _near(candidate_start, start):
                continue
            for candidate_span, fact in items:
                if candidate_span == span and _near(fact.end, end):
                    return fact
        return None


def trailing_twelve_months(facts: Iterable[Fact]) -> Trailing | None:
    """The TTM at the latest period end that allows one (see the module docstring), or None.

    ``facts`` are one concept's durations in one unit, at most one per ``(start, end)`` (the
    point-in-time selection has already kept the latest filed); instants are ignored.
    """
    durations = _Durations(facts)
    for end in sorted(durations.ends, reverse=True):
        annual = durations.annual.get(end)
        if annual is not None and annual.start is not None:
            return Trailing(annual.value, annual.start, end, TtmMethod.ANNUAL, (annual,))
        found = durations.sum_of_quarters(end) or durations.ytd_adjusted(end)
        if found is not None:
            return found
    return None
