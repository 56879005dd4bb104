"""Company fundamentals, from IB's report XML or other sources (see ``source``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ibbot.clock import ensure_utc

__all__ = ["IB_SOURCE", "REPORT_SNAPSHOT", "FundamentalData"]

IB_SOURCE = "ib"
"""``FundamentalData.source`` of a record parsed from an IB report."""

REPORT_SNAPSHOT = "ReportSnapshot"
"""IB's company snapshot report (ratios, market cap...); its other reports are financial statements."""


@dataclass(frozen=True, slots=True)
class FundamentalData:
    """A point-in-time view of one company.

    ``timestamp`` is when this view became *known* (received from IB, or filed with the SEC), which
    is what as-of lookups and backtests key on. ``raw`` keeps the original document (XML or JSON)
    for debugging and re-parsing. Ratio fields are None when the source did not provide them;
    monetary values are in ``currency`` units (not millions).
    """

    symbol: str
    timestamp: datetime
    company_name: str
    cik: str | None = None
    employees: int | None = None
    shares_outstanding: float | None = None
    float_shares: float | None = None
    industry: str | None = None
    category: str | None = None
    subcategory: str | None = None
    raw: str = ""
    source: str = IB_SOURCE
    report_type: str = REPORT_SNAPSHOT
    currency: str | None = None
    price: float | None = None
    market_cap: float | None = None
    pe_ratio: float | None = None
    price_to_book: float | None = None
    eps: float | None = None
    revenue: float | None = None
    dividend_per_share: float | None = None
    values: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))

    @property
    def raw_xml(self) -> str:
        """The original document, under the name the user's plan gives it."""
        return self.raw
