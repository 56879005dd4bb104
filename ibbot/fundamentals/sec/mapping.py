"""From a company's facts to point-in-time :class:`~ibbot.models.FundamentalData` records.

One record per filing date that changed a measure: the view of everything filed by then (see
:mod:`ibbot.fundamentals.sec.pointintime`), its measures (see :mod:`ibbot.fundamentals.sec.concepts`
for the concepts and fallbacks, :mod:`ibbot.fundamentals.sec.ttm` for trailing twelve months), and
ratios at the last price stored before the record's timestamp.

Where things go in a record:

- fields: ``shares_outstanding``, ``revenue`` (TTM), ``eps`` (diluted, TTM), ``dividend_per_share``
  (TTM), ``price``, ``market_cap``, ``pe_ratio`` (TTM), ``price_to_book``; ``source = "sec"``,
  ``report_type = "CompanyFacts"``, ``cik`` (ten digits), ``currency = "USD"``;
- ``values``: every measure by its :class:`~ibbot.fundamentals.sec.concepts.Measure` name, plus
  ``book_value_per_share`` (equity / shares outstanding);
- ``details``: per measure, the concept, unit, period, method, and the form, accession number and
  filing date of the latest fact used, with every fact used listed; ``filed`` and ``accessions``
  (the filings of that date); ``missing`` (measures the company does not report);
  ``price`` (which bar); ``ratios`` (the arithmetic).
- ``raw``: where the original document is (the company-facts URL) and which filings made this view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from ibbot.fundamentals.sec.concepts import (
    FINANCIAL_FORMS,
    LIABILITIES_AND_EQUITY,
    MEASURES,
    TOTAL_EQUITY_CONCEPTS,
    USD,
    Kind,
    Measure,
)
from ibbot.fundamentals.sec.facts import Fact
from ibbot.fundamentals.sec.pointintime import FilingBook, known_at
from ibbot.fundamentals.sec.ttm import trailing_twelve_months
from ibbot.models import FundamentalData

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from ibbot.fundamentals.prices import PricePoint
    from ibbot.fundamentals.sec.facts import CompanyFacts

__all__ = [
    "BOOK_VALUE_PER_SHARE",
    "REPORT_TYPE",
    "SOURCE",
    "MeasureValue",
    "build_history",
    "concept_forms",
    "evaluate",
    "priced",
]

SOURCE: Final = "sec"
REPORT_TYPE: Final = "CompanyFacts"
BOOK_VALUE_PER_SHARE: Final = "book_value_per_share"
_LATEST: Final = "latest"


@dataclass(frozen=True, slots=True)
class MeasureValue:
    """A measure's value with its provenance."""

    measure: Measure
    value: float
    concept: str
    unit: str
    start: date | None
    end: date
    method: str
    facts: tuple[Fact, ...]

    def detail(self) -> dict[str, Any]:
        """JSON-ready provenance: concept, period, method, and the latest fact's form/accession/filed."""
        latest = max(self.facts, key=lambda f: (f.filed, f.accession))
        return {
            "concept": self.concept,
            "unit": self.unit,
            "period": {
                "start": None if self.start is None else self.start.isoformat(),
                "end": self.end.isoformat(),
            },
            "method": self.method,
            "form": latest.form,
            "accession": latest.accession,
            "filed": latest.filed.isoformat(),
            "facts": [fact.describe() for fact in self.facts],
        }


def concept_forms() -> dict[str, Collection[str] | None]:
    """Every concept the mapping reads, with the forms its facts are taken from (None: any form)."""
    forms: dict[str, Collection[str] | None] = {}
    for spec in MEASURES:
        for concept in spec.concepts:
            forms[concept] = None if spec.any_form else FINANCIAL_FORMS
    for concept in (LIABILITIES_AND_EQUITY, *TOTAL_EQUITY_CONCEPTS):
        forms.setdefault(concept, FINANCIAL_FORMS)
    return forms


def _latest_fact(facts: list[Fact]) -> Fact:
    # Latest period; then latest filing; then the shortest duration (a quarter's average share
    # count is more current than the year-to-date one ending the same day).
    return max(facts, key=lambda f: (f.end, f.filed, f.accession, f.start or f.end))


def evaluate(book: FilingBook) -> dict[Measure, MeasureValue]:
    """Every measure the view in ``book`` allows (absent ones are left out)."""
    values: dict[Measure, MeasureValue] = {}
    for spec in MEASURES:
        best: tuple[date, int, MeasureValue] | None = None
        for rank, concept in enumerate(spec.concepts):
            facts = book.known(concept, spec.unit)
            if not facts:
                continue
            if spec.kind is Kind.LATEST:
                fact = _latest_fact(facts)
                found = MeasureValue(
                    spec.measure,
                    fact.value,
                    concept,
                    spec.unit,
                    fact.start,
                    fact.end,
                    _LATEST,
                    (fact,),
                )
            else:
                trailing = trailing_twelve_months(facts)
                if trailing is None:
                    continue
                found = MeasureValue(
                    spec.measure,
                    trailing.value,
                    concept,
                    spec.unit,
                    trailing.start,
                    trailing.end,
                    trailing.method.value,
                    trailing.facts,
                )
            # latest period wins; on the same end date, the concept listed first (-rank larger)
            if best is None or (found.end, -rank) > (best[0], best[1]):
                best = (found.end, -rank, found)
        if best is not None:
            values[spec.measure] = best[2]
    if Measure.TOTAL_LIABILITIES not in values:
        derived = _derived_liabilities(book)
        if derived is not None:
            values[Measure.TOTAL_LIABILITIES] = derived
    return values


def _derived_liabilities(book: FilingBook) -> MeasureValue | None:
    """Liabilities = LiabilitiesAndStockholdersEquity - equity, both from the same balance sheet."""
    totals = book.known(LIABILITIES_AND_EQUITY, USD)
    if not totals:
        return None
    total = _latest_fact(totals)
    for concept in TOTAL_EQUITY_CONCEPTS:
        same_day = [f for f in book.known(concept, USD) if f.end == total.end and f.start is None]
        if same_day:
            equity = max(same_day, key=lambda f: (f.filed, f.accession))
            return MeasureValue(
                Measure.TOTAL_LIABILITIES,
                total.value - equity.value,
                f"{LIABILITIES_AND_EQUITY} - {concept}",
                USD,
                None,
                total.end,
                "derived",
                (total, equity),
            )
    return None


def _book_value_per_share(values: Mapping[Measure, MeasureValue]) -> tuple[float, str] | None:
    shares = values.get(Measure.SHARES_OUTSTANDING)
    equity = values.get(Measure.STOCKHOLDERS_EQUITY)
    if shares is None or shares.value <= 0 or equity is None:
        return None
    return (
        equity.value / shares.value,
        f"equity {equity.value:.0f} / shares outstanding {shares.value:.0f}",
    )


def _record(
    symbol: str,
    *,
    company: CompanyFacts,
    filed: date,
    accessions: list[str],
    values: Mapping[Measure, MeasureValue],
    document_url: str,
) -> FundamentalData:
    def value(measure: Measure) -> float | None:
        found = values.get(measure)
        return None if found is None else found.value

    numbers = {measure.value: found.value for measure, found in values.items()}
    details: dict[str, Any] = {
        "filed": filed.isoformat(),
        "accessions": accessions,
        "missing": sorted(m.value for m in Measure if m not in values),
        **{measure.value: found.detail() for measure, found in values.items()},
    }
    book = _book_value_per_share(values)
    if book is not None:
        numbers[BOOK_VALUE_PER_SHARE], details["ratios"] = book[0], {BOOK_VALUE_PER_SHARE: book[1]}
    raw = json.dumps(
        {
            "document": document_url,
            "cik": company.cik,
            "filed": filed.isoformat(),
            "accessions": accessions,
        },
        separators=(",", ":"),
    )
    return FundamentalData(
        symbol=symbol,
        timestamp=known_at(filed),
        company_name=company.entity_name,
        cik=f"{company.cik:010d}",
        shares_outstanding=value(Measure.SHARES_OUTSTANDING),
        raw=raw,
        source=SOURCE,
        report_type=REPORT_TYPE,
        currency=USD,
        eps=value(Measure.EPS_DILUTED),
        revenue=value(Measure.REVENUE),
        dividend_per_share=value(Measure.DIVIDENDS_PER_SHARE),
        values=numbers,
        details=details,
    )


def priced(record: FundamentalData, price: PricePoint | None) -> FundamentalData:
    """``record`` with market cap, P/E (TTM) and price/book at ``price`` (unchanged when None).

    The price must be one known at the record's timestamp (see :mod:`ibbot.fundamentals.prices`).
    """
    if price is None or price.price <= 0:
        return record
    values = record.values
    arithmetic = dict(record.details.get("ratios", {}))
    market_cap = pe = pb = None
    shares = record.shares_outstanding
    if shares is not None and shares > 0:
        market_cap = shares * price.price
        arithmetic["market_cap"] = f"shares {shares:.0f} x price {price.price:.2f}"
    if record.eps is not None and record.eps > 0:
        pe = price.price / record.eps
        arithmetic["pe_ratio"] = f"price {price.price:.2f} / TTM diluted EPS {record.eps:.4f}"
    book = values.get(BOOK_VALUE_PER_SHARE)
    if book is not None and book > 0:
        pb = price.price / book
        arithmetic["price_to_book"] = f"price {price.price:.2f} / book {book:.4f} per share"
    details = {
        **record.details,
        "price": {"price": price.price, "as_of": price.as_of.isoformat(), "basis": price.basis},
        "ratios": arithmetic,
    }
    return replace(
        record,
        price=price.price,
        market_cap=market_cap,
        pe_ratio=pe,
        price_to_book=pb,
        details=details,
    )


def _fingerprint(values: Mapping[Measure, MeasureValue]) -> dict[Measure, tuple[float, str, date]]:
    return {measure: (found.value, found.concept, found.end) for measure, found in values.items()}


def build_history(
    symbol: str,
    company: CompanyFacts,
    *,
    document_url: str,
    since: datetime | None = None,
    until: date | None = None,
) -> list[FundamentalData]:
    """One record per filing date that changed a measure, oldest first.

    ``since``: only records known after it are returned (earlier filings are still replayed, so
    the views are the same). ``until``: stop after that filing date. Ratios at a price are added
    afterwards with :func:`priced`, once the prices at the records' timestamps are read.
    """
    book = FilingBook(company, concept_forms())
    accessions_by_day: dict[date, set[str]] = {}
    for concept in concept_forms():
        for fact in company.of(concept):
            accessions_by_day.setdefault(fact.filed, set()).add(fact.accession)
    records: list[FundamentalData] = []
    previous: dict[Measure, tuple[float, str, date]] = {}
    for day in book.filing_dates:
        if until is not None and day > until:
            break
        book.advance(day)
        values = evaluate(book)
        fingerprint = _fingerprint(values)
        if not values or fingerprint == previous:
            continue
        previous = fingerprint
        moment = known_at(day)
        if since is not None and moment <= since:
            continue
        accessions = sorted(accessions_by_day.get(day, ()))
        records.append(
            _record(
                symbol,
                company=company,
                filed=day,
                accessions=accessions,
                values=values,
                document_url=document_url,
            )
        )
    return records
