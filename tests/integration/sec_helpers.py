"""Shared pieces of the SEC tests: a client pointed at the fake server, and a small company."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from ibbot.clock import Clock, WallClock
from ibbot.fundamentals.sec import EdgarClient
from ibbot.fundamentals.sec.synthetic import (
    CompanyFactsBuilder,
    QuarterFigures,
    fiscal_quarters,
    quarterly_history,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.fundamentals.sec.fake import FakeSecServer

USER_AGENT = "ibbot tests tests@example.com"
ACME_CIK = 42


def edgar_client(
    sec: FakeSecServer, cache_dir: Path, *, clock: Clock | None = None, **options: object
) -> EdgarClient:
    """A client of the fake server with a fast backoff (a SimulatedClock makes it instant)."""
    settings: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": 0.05, **options}
    return EdgarClient(
        user_agent=USER_AGENT,
        clock=clock or WallClock(),
        cache_dir=cache_dir,
        base_url=sec.url,
        www_url=sec.url,
        **settings,  # type: ignore[arg-type]
    )


def acme_facts(years: int = 2, *, eps: float = 1.0) -> CompanyFactsBuilder:
    """ACME CORP: calendar quarters from FY2024, revenue 100 a quarter, EPS ``eps`` a quarter."""
    builder = CompanyFactsBuilder(ACME_CIK, "ACME CORP")
    figures = QuarterFigures(
        revenue=100.0,
        net_income=10.0,
        eps=eps,
        operating_cash_flow=12.0,
        dividends_per_share=0.25,
        assets=1000.0,
        liabilities=600.0,
        equity=400.0,
        shares=10.0,
    )
    quarterly_history(builder, [(q, figures) for q in fiscal_quarters(2024, years * 4)])
    return builder


def restate(builder: CompanyFactsBuilder, filed: date, fy2025_revenue: float) -> None:
    """A 10-K/A restating FY2025 revenue, filed on ``filed``."""
    filing = builder.filing(filed, "10-K/A", fiscal_year=2025, fiscal_period="FY")
    builder.add(
        "us-gaap:Revenues",
        fy2025_revenue,
        filing=filing,
        start=date(2025, 1, 1),
        end=date(2025, 12, 31),
    )
