"""Synthetic EDGAR documents of the real shape, for the fake SEC server, tests and the demo.

:class:`CompanyFactsBuilder` writes a company-facts document fact by fact. :func:`quarterly_history`
files a run of fiscal quarters the way companies do: a 10-Q for each of the first three quarters
(income-statement items for the quarter *and* the year to date, cash flows for the year to date
only, the balance sheet, prior-year comparatives) and a 10-K for the year (fiscal-year durations
only: no filing ever states the fourth quarter), each with the cover-page share count.
:func:`sim_company_facts` does it for a security of the simulated universe, consistently with its
TTM figures, so the SEC source and the simulated gateway tell the same story.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final, Self

if TYPE_CHECKING:
    from ibbot.sim.universe import SimSecurity

__all__ = [
    "CompanyFactsBuilder",
    "Filing",
    "FiscalQuarter",
    "QuarterFigures",
    "fiscal_quarters",
    "quarterly_history",
    "sim_company_facts",
    "ticker_map_document",
]

# Days after a period end on which the synthetic company files (large accelerated filers must file
# a 10-Q within 40 days and a 10-K within 60).
_TEN_Q_LAG: Final = 35
_TEN_K_LAG: Final = 55
# The cover page states the share count as of a date shortly before filing.
_COVER_LAG: Final = 20

_DEFAULT_CONCEPTS: Final[Mapping[str, str]] = {
    "revenue": "us-gaap:Revenues",
    "net_income": "us-gaap:NetIncomeLoss",
    "eps": "us-gaap:EarningsPerShareDiluted",
    "operating_cash_flow": "us-gaap:NetCashProvidedByUsedInOperatingActivities",
    "dividends_per_share": "us-gaap:CommonStockDividendsPerShareDeclared",
    "assets": "us-gaap:Assets",
    "liabilities": "us-gaap:Liabilities",
    "equity": "us-gaap:StockholdersEquity",
    "shares": "dei:EntityCommonStockSharesOutstanding",
}
_UNITS: Final[Mapping[str, str]] = {
    "eps": "USD/shares",
    "dividends_per_share": "USD/shares",
    "shares": "shares",
}
_INCOME_ITEMS: Final = ("revenue", "net_income", "eps", "dividends_per_share")
_CASH_ITEMS: Final = ("operating_cash_flow",)
_BALANCE_ITEMS: Final = ("assets", "liabilities", "equity")


def _unit(item: str) -> str:
    return _UNITS.get(item, "USD")


class CompanyFactsBuilder:
    """A company-facts document (``/api/xbrl/companyfacts/CIK##########.json``) built fact by fact."""

    def __init__(self, cik: int, entity_name: str) -> None:
        self.cik = cik
        self.entity_name = entity_name
        self._facts: dict[str, dict[str, dict[str, Any]]] = {}
        self._accessions = 0

    def next_accession(self, filed: date) -> str:
        """A fresh accession number in the SEC's format (filer id, year, sequence)."""
        self._accessions += 1
        return f"{self.cik:010d}-{filed.year % 100:02d}-{self._accessions:06d}"

    def filing(
        self,
        filed: date,
        form: str = "10-Q",
        *,
        fiscal_year: int | None = None,
        fiscal_period: str | None = None,
    ) -> Filing:
        """A new filing (with a fresh accession number) to :meth:`add` facts to."""
        return Filing(filed, self.next_accession(filed), form, fiscal_year, fiscal_period)

    def add(
        self,
        concept: str,
        value: float,
        *,
        filing: Filing,
        end: date,
        start: date | None = None,
        unit: str = "USD",
    ) -> Self:
        """Add one fact of ``concept`` (``"taxonomy:Name"``) as stated by ``filing``."""
        taxonomy, _, name = concept.partition(":")
        concepts = self._facts.setdefault(taxonomy, {})
        entry = concepts.setdefault(name, {"label": name, "description": name, "units": {}})
        item: dict[str, Any] = {}
        if start is not None:
            item["start"] = start.isoformat()
        item.update(
            end=end.isoformat(),
            val=int(value) if float(value).is_integer() else value,
            accn=filing.accession,
            fy=filing.fiscal_year,
            fp=filing.fiscal_period,
            form=filing.form,
            filed=filing.filed.isoformat(),
        )
        entry["units"].setdefault(unit, []).append(item)
        return self

    def document(self) -> dict[str, Any]:
        """The document as JSON-ready data."""
        return {"cik": self.cik, "entityName": self.entity_name, "facts": self._facts}

    def body(self) -> bytes:
        """The document as the SEC serves it (compact JSON)."""
        return json.dumps(self.document(), separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Filing:
    """One filing: its date, accession number, form and fiscal period."""

    filed: date
    accession: str
    form: str = "10-Q"
    fiscal_year: int | None = None
    fiscal_period: str | None = None


@dataclass(frozen=True, slots=True)
class FiscalQuarter:
    """One fiscal quarter: its year, number (1-4) and dates."""

    fiscal_year: int
    quarter: int
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class QuarterFigures:
    """A quarter's figures: flows for the quarter, instants at its end, shares on the cover."""

    revenue: float | None = None
    net_income: float | None = None
    eps: float | None = None
    operating_cash_flow: float | None = None
    dividends_per_share: float | None = None
    assets: float | None = None
    liabilities: float | None = None
    equity: float | None = None
    shares: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)  # other concepts' quarter values


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def fiscal_quarters(
    first_fiscal_year: int, count: int, *, year_end_month: int = 12
) -> list[FiscalQuarter]:
    """``count`` consecutive calendar-month fiscal quarters from the first of ``first_fiscal_year``."""
    quarters = []
    for index in range(count):
        fiscal_year = first_fiscal_year + index // 4
        quarter = index % 4 + 1
        first_month = year_end_month + 1 + (quarter - 1) * 3
        start = _month_start(fiscal_year - 1, first_month)
        end = _month_start(fiscal_year - 1, first_month + 3) - timedelta(days=1)
        quarters.append(FiscalQuarter(fiscal_year, quarter, start, end))
    return quarters


def quarterly_history(
    builder: CompanyFactsBuilder,
    quarters: Sequence[tuple[FiscalQuarter, QuarterFigures]],
    *,
    concepts: Mapping[str, str] | None = None,
    comparatives: bool = True,
) -> list[tuple[date, str]]:
    """File ``quarters`` (consecutive, starting at a Q1) into ``builder``; return (filed, accession)s.

    ``concepts`` overrides which concept carries an item (e.g. ``{"revenue":
    "us-gaap:SalesRevenueNet"}``; an item mapped to ``""`` is not reported). ``extra`` figures are
    filed like income-statement items under their own concept names (USD).
    """
    names = {**_DEFAULT_CONCEPTS, **(concepts or {})}
    filings: list[tuple[date, str]] = []
    by_index = list(quarters)
    for index, (period, figures) in enumerate(by_index):
        year_start = index - (period.quarter - 1)
        if year_start < 0:
            raise ValueError("quarterly_history must start at a fiscal first quarter")
        annual = period.quarter == 4
        filed = period.end + timedelta(days=_TEN_K_LAG if annual else _TEN_Q_LAG)
        filing = builder.filing(
            filed,
            "10-K" if annual else "10-Q",
            fiscal_year=period.fiscal_year,
            fiscal_period="FY" if annual else f"Q{period.quarter}",
        )
        filings.append((filed, filing.accession))
        years = [(index, by_index[year_start : index + 1])]
        if comparatives and year_start >= 4:
            years.append((index - 4, by_index[year_start - 4 : index - 3]))
        for at, span in years:
            quarter_period, quarter_figures = by_index[at]
            ytd_start = span[0][0].start
            for item in (*_INCOME_ITEMS, *_CASH_ITEMS):
                concept = names.get(item, "")
                if not concept or getattr(quarter_figures, item) is None:
                    continue
                values = [getattr(f, item) for _, f in span]
                if any(v is None for v in values):
                    continue
                total = round(sum(values), 6)
                builder.add(
                    concept,
                    total,
                    start=ytd_start,
                    end=quarter_period.end,
                    unit=_unit(item),
                    filing=filing,
                )
                if item in _INCOME_ITEMS and not annual and quarter_period.quarter > 1:
                    builder.add(
                        concept,
                        getattr(quarter_figures, item),
                        start=quarter_period.start,
                        end=quarter_period.end,
                        unit=_unit(item),
                        filing=filing,
                    )
            for concept in quarter_figures.extra:
                values = [f.extra.get(concept) for _, f in span]
                if any(v is None for v in values):
                    continue
                builder.add(
                    concept,
                    round(sum(v for v in values if v is not None), 6),
                    start=ytd_start,
                    end=quarter_period.end,
                    filing=filing,
                )
                if not annual and quarter_period.quarter > 1:
                    builder.add(
                        concept,
                        quarter_figures.extra[concept],
                        start=quarter_period.start,
                        end=quarter_period.end,
                        filing=filing,
                    )
            for item in _BALANCE_ITEMS:
                concept = names.get(item, "")
                value = getattr(quarter_figures, item)
                if concept and value is not None:
                    builder.add(concept, value, end=quarter_period.end, filing=filing)
        shares_concept = names.get("shares", "")
        if shares_concept and figures.shares is not None:
            builder.add(
                shares_concept,
                figures.shares,
                end=filed - timedelta(days=_COVER_LAG),
                unit="shares",
                filing=filing,
            )
    return filings


def sim_company_facts(
    security: SimSecurity, *, through: date, years: int = 3
) -> CompanyFactsBuilder:
    """Calendar-year filings of ``security`` whose TTM figures are the universe's, filed by ``through``.

    The last ``years`` full fiscal years that end (and are filed) before ``through``, plus the
    quarters of the current year already filed, with flat quarters (a quarter is a quarter of the
    TTM figure), so TTM revenue, net income, EPS and dividends equal the security's values.
    """
    builder = CompanyFactsBuilder(int(security.cik), security.long_name)
    first_year = through.year - years
    quarters = fiscal_quarters(first_year, (years + 1) * 4)
    equity = security.book_value_per_share * security.shares_outstanding
    assets = equity * 2.5
    figures = QuarterFigures(
        revenue=security.revenue_ttm / 4,
        net_income=security.net_income_ttm / 4,
        eps=round(security.eps_ttm / 4, 4),
        operating_cash_flow=security.net_income_ttm * 1.2 / 4,
        dividends_per_share=round(security.dividend_per_share / 4, 4)
        if security.dividend_per_share
        else None,
        assets=assets,
        liabilities=assets - equity,
        equity=equity,
        shares=security.shares_outstanding,
    )
    filed = [
        (q, figures)
        for q in quarters
        if q.end + timedelta(days=_TEN_K_LAG if q.quarter == 4 else _TEN_Q_LAG) <= through
    ]
    quarterly_history(builder, filed)
    return builder


def ticker_map_document(companies: Sequence[tuple[int, str, str]]) -> bytes:
    """The SEC's ticker map (``company_tickers.json``) for ``(cik, ticker, title)`` rows."""
    document = {
        str(i): {"cik_str": cik, "ticker": ticker, "title": title}
        for i, (cik, ticker, title) in enumerate(companies)
    }
    return json.dumps(document, separators=(",", ":")).encode()
