"""Which XBRL concepts give each fundamental, with the documented fallbacks.

Companies tag the same line item differently, and change tags over time (revenue moved from
``SalesRevenueNet`` to ``RevenueFromContractWithCustomerExcludingAssessedTax`` with ASC 606 in 2018),
so each measure lists candidate concepts. The mapping evaluates every candidate the company has
filed and keeps the one with the **latest period**; between candidates ending on the same day, the
one listed first wins. So a tag abandoned years ago never shadows the one in use now.

Kinds: ``LATEST`` takes the most recent value (balance sheet, share counts); ``TTM`` builds the
trailing twelve months from 10-Q/10-K durations (see :mod:`ibbot.fundamentals.sec.ttm`).

Shares outstanding: companies report ``dei:EntityCommonStockSharesOutstanding`` on each cover page.
Issuers with several share classes report it per class only (a dimension the company-facts API
leaves out), so they fall back to the diluted weighted-average share count of the latest period,
then to the balance-sheet count (which such issuers sometimes fill with a nominal placeholder).

Total liabilities: many companies never tag ``Liabilities``; then it is derived from the same
balance sheet as ``LiabilitiesAndStockholdersEquity - equity`` (equity including noncontrolling
interests when tagged, else ``StockholdersEquity``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "FINANCIAL_FORMS",
    "LIABILITIES_AND_EQUITY",
    "MEASURES",
    "TOTAL_EQUITY_CONCEPTS",
    "Kind",
    "Measure",
    "MeasureSpec",
    "wanted_concepts",
]


class Measure(enum.StrEnum):
    """A fundamental the SEC source reports; the value is its key in ``FundamentalData.values``."""

    SHARES_OUTSTANDING = "shares_outstanding"
    REVENUE = "revenue_ttm"
    NET_INCOME = "net_income_ttm"
    EPS_DILUTED = "eps_diluted_ttm"
    OPERATING_CASH_FLOW = "operating_cash_flow_ttm"
    DIVIDENDS_PER_SHARE = "dividends_per_share_ttm"
    TOTAL_ASSETS = "total_assets"
    TOTAL_LIABILITIES = "total_liabilities"
    STOCKHOLDERS_EQUITY = "stockholders_equity"


class Kind(enum.Enum):
    """How a measure is read from its facts."""

    LATEST = "latest"
    TTM = "ttm"


@dataclass(frozen=True, slots=True)
class MeasureSpec:
    """A measure, how to read it, its unit, and its candidate concepts in order of preference."""

    measure: Measure
    kind: Kind
    unit: str
    concepts: tuple[str, ...]
    any_form: bool = False  # True: facts of any form count (cover-page data), not only 10-Q/10-K


USD: Final = "USD"
USD_PER_SHARE: Final = "USD/shares"
SHARES: Final = "shares"

# Forms whose financial statements feed the measures: annual and quarterly reports, their
# amendments (restatements) and transition reports.
FINANCIAL_FORMS: Final = frozenset(
    {"10-K", "10-K/A", "10-Q", "10-Q/A", "10-KT", "10-KT/A", "10-QT", "10-QT/A"}
)

MEASURES: Final[tuple[MeasureSpec, ...]] = (
    MeasureSpec(
        Measure.SHARES_OUTSTANDING,
        Kind.LATEST,
        SHARES,
        (
            "dei:EntityCommonStockSharesOutstanding",
            "us-gaap:WeightedAverageNumberOfDilutedSharesOutstanding",
            "us-gaap:CommonStockSharesOutstanding",
        ),
        any_form=True,
    ),
    MeasureSpec(
        Measure.REVENUE,
        Kind.TTM,
        USD,
        (
            "us-gaap:Revenues",
            "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax",
            "us-gaap:RevenueFromContractWithCustomerIncludingAssessedTax",
            "us-gaap:SalesRevenueNet",
            "us-gaap:SalesRevenueGoodsNet",
            "us-gaap:SalesRevenueServicesNet",
            "us-gaap:RevenuesNetOfInterestExpense",
        ),
    ),
    MeasureSpec(
        Measure.NET_INCOME,
        Kind.TTM,
        USD,
        (
            "us-gaap:NetIncomeLoss",
            "us-gaap:NetIncomeLossAvailableToCommonStockholdersBasic",
            "us-gaap:ProfitLoss",
        ),
    ),
    MeasureSpec(
        Measure.EPS_DILUTED,
        Kind.TTM,
        USD_PER_SHARE,
        (
            "us-gaap:EarningsPerShareDiluted",
            "us-gaap:EarningsPerShareBasicAndDiluted",
            "us-gaap:EarningsPerShareBasic",
        ),
    ),
    MeasureSpec(
        Measure.OPERATING_CASH_FLOW,
        Kind.TTM,
        USD,
        (
            "us-gaap:NetCashProvidedByUsedInOperatingActivities",
            "us-gaap:NetCashProvidedByUsedInOperatingActivitiesContinuingOperations",
        ),
    ),
    MeasureSpec(
        Measure.DIVIDENDS_PER_SHARE,
        Kind.TTM,
        USD_PER_SHARE,
        (
            "us-gaap:CommonStockDividendsPerShareDeclared",
            "us-gaap:CommonStockDividendsPerShareCashPaid",
        ),
    ),
    MeasureSpec(Measure.TOTAL_ASSETS, Kind.LATEST, USD, ("us-gaap:Assets",)),
    MeasureSpec(Measure.TOTAL_LIABILITIES, Kind.LATEST, USD, ("us-gaap:Liabilities",)),
    MeasureSpec(
        Measure.STOCKHOLDERS_EQUITY,
        Kind.LATEST,
        USD,
        (
            "us-gaap:StockholdersEquity",
            "us-gaap:StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest",
        ),
    ),
)

LIABILITIES_AND_EQUITY: Final = "us-gaap:LiabilitiesAndStockholdersEquity"
# Equity to subtract from LiabilitiesAndStockholdersEquity, most complete first.
TOTAL_EQUITY_CONCEPTS: Final = (
    "us-gaap:StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest",
    "us-gaap:StockholdersEquity",
)


def wanted_concepts() -> frozenset[str]:
    """Every concept the mapping may read (the rest of a company-facts document is skipped)."""
    return frozenset(
        {concept for spec in MEASURES for concept in spec.concepts}
        | {LIABILITIES_AND_EQUITY, *TOTAL_EQUITY_CONCEPTS}
    )
