"""Point in time: what had been filed by a given day, restatements only from their own filing date.

The company-facts document lists a period's value once per filing that stated it: the original
10-Q, the next year's comparative, a 10-K/A restatement. The view as of day D keeps, for each
concept and period, the value from the latest filing dated on or before D. A restatement therefore
replaces the original only from the restating filing's date on, and nothing filed after D is seen.

When a filing became known: EDGAR dates a filing accepted before 17:30 US/Eastern that business
day, and a later one the next business day, so everything dated D was public by 17:30 ET on D.
ibbot stamps a view :data:`KNOWN_AT` (18:00 ET, leaving the XBRL APIs time to publish) on its
filing date: late by some hours for a morning filing, never early, which is the side a backtest
must err on.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from ibbot.fundamentals.sec.facts import CompanyFacts, Fact

__all__ = ["KNOWN_AT", "FilingBook", "filing_day_known_by", "known_at"]

_EASTERN: Final = ZoneInfo("America/New_York")
KNOWN_AT: Final = time(18, 0)
"""Local time (US/Eastern) on its filing date by which a filing is taken to be public."""


def known_at(filed: date) -> datetime:
    """The UTC instant from which a filing dated ``filed`` counts as known."""
    return datetime.combine(filed, KNOWN_AT, tzinfo=_EASTERN).astimezone(UTC)


def filing_day_known_by(moment: datetime) -> date:
    """The latest filing date whose filings are known at ``moment`` (the inverse of :func:`known_at`)."""
    local = moment.astimezone(_EASTERN)
    day = local.date()
    if local.timetz().replace(tzinfo=None) < KNOWN_AT:
        day = date.fromordinal(day.toordinal() - 1)
    return day


_Key = tuple[str, date | None, date]  # unit, start, end


class FilingBook:
    """A company's facts replayed in filing order: :meth:`advance` to a day, then read the view.

    Advancing is incremental (each fact is looked at once however many days are visited), so
    building a whole history costs about as much as one view.
    """

    def __init__(
        self, company: CompanyFacts, concepts: Mapping[str, Collection[str] | None]
    ) -> None:
        """Replay the facts of ``concepts``, each mapped to the forms it is read from (None: any)."""
        self._pending: dict[str, list[Fact]] = {}
        self._cursor: dict[str, int] = {}
        self._known: dict[str, dict[_Key, Fact]] = {}
        days: set[date] = set()
        for concept, forms in concepts.items():
            facts = sorted(
                (f for f in company.of(concept) if forms is None or f.form in forms),
                key=lambda f: (f.filed, f.accession),
            )
            if facts:
                self._pending[concept] = facts
                self._cursor[concept] = 0
                self._known[concept] = {}
                days.update(f.filed for f in facts)
        self._days = sorted(days)
        self._day: date | None = None

    @property
    def filing_dates(self) -> list[date]:
        """Every distinct filing date among the facts, oldest first."""
        return list(self._days)

    def advance(self, day: date) -> None:
        """Take in every fact filed on or before ``day``; days only move forward."""
        if self._day is not None and day < self._day:
            raise ValueError(f"a filing book only moves forward: at {self._day}, asked for {day}")
        self._day = day
        for concept, facts in self._pending.items():
            start = self._cursor[concept]
            stop = bisect.bisect_right(facts, day, lo=start, key=lambda f: f.filed)
            known = self._known[concept]
            for fact in facts[start:stop]:
                known[(fact.unit, fact.start, fact.end)] = fact  # a later filing restates
            self._cursor[concept] = stop

    def known(self, concept: str, unit: str) -> list[Fact]:
        """The view: one fact per period of ``concept`` in ``unit``, each from its latest filing."""
        return [fact for (u, _, _), fact in self._known.get(concept, {}).items() if u == unit]
