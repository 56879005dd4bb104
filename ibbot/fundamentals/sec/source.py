"""The SEC as a fundamentals source: a symbol's point-in-time history from its XBRL company facts.

``fetch`` returns one :class:`~ibbot.models.FundamentalData` per filing date that changed a
measure (see :mod:`ibbot.fundamentals.sec.mapping`), each stamped with when it became known, with
ratios at the last price stored before that moment. :meth:`SecSource.as_of` answers "what had been
filed by t" directly; once the history is stored, ``store.read_fundamental(symbol, as_of=t,
source="sec")`` gives the same record without a request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import structlog

from ibbot.fundamentals.errors import NoXbrlFacts
from ibbot.fundamentals.sec.concepts import wanted_concepts
from ibbot.fundamentals.sec.mapping import SOURCE, build_history, priced
from ibbot.fundamentals.sec.pointintime import filing_day_known_by

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.fundamentals.prices import StorePrices
    from ibbot.fundamentals.sec.client import EdgarClient
    from ibbot.fundamentals.sec.facts import CompanyFacts, CompanyRef
    from ibbot.models import FundamentalData

__all__ = ["SecSource"]

log = structlog.get_logger(__name__)

_CONCEPTS: Final = wanted_concepts()


class SecSource:
    """A :class:`~ibbot.fundamentals.FundamentalsSource` over an :class:`EdgarClient`.

    ``prices`` reads the last stored price for ratios (None: records carry no price-based ratios;
    strategies still compute them at their current price from shares, EPS and book value).
    """

    def __init__(self, client: EdgarClient, *, prices: StorePrices | None = None) -> None:
        self._client = client
        self._prices = prices

    @property
    def name(self) -> str:
        """``"sec"``."""
        return SOURCE

    async def company_facts(self, symbol: str) -> tuple[CompanyRef, CompanyFacts]:
        """The company listed under ``symbol`` and the facts the mapping reads."""
        company = await self._client.company(symbol)
        facts = await self._client.company_facts(company.cik, _CONCEPTS)
        if not facts.facts:
            raise NoXbrlFacts(
                f"{symbol} (CIK {company.cik10}) files XBRL, but none of the financial concepts "
                "ibbot reads (revenue, net income, EPS, assets, equity, shares...)"
            )
        return company, facts

    async def fetch(self, symbol: str, *, since: datetime | None = None) -> list[FundamentalData]:
        """The point-in-time history of ``symbol`` (records known after ``since`` when given)."""
        company, facts = await self.company_facts(symbol)
        url = self._client.company_facts_url(company.cik)
        records = await asyncio.to_thread(
            build_history, symbol, facts, document_url=url, since=since
        )
        if not records and since is None:
            raise NoXbrlFacts(
                f"{symbol} (CIK {company.cik10}): no filing states any measure ibbot reads"
            )
        log.debug("sec.history_built", symbol=symbol, cik=company.cik10, records=len(records))
        return await self._priced(symbol, records)

    async def as_of(self, symbol: str, moment: datetime) -> FundamentalData | None:
        """What had been filed by ``moment`` (restatements only from their filing date), or None."""
        company, facts = await self.company_facts(symbol)
        url = self._client.company_facts_url(company.cik)
        records = await asyncio.to_thread(
            build_history, symbol, facts, document_url=url, until=filing_day_known_by(moment)
        )
        if not records:
            return None
        return (await self._priced(symbol, records[-1:]))[0]

    async def _priced(self, symbol: str, records: list[FundamentalData]) -> list[FundamentalData]:
        if self._prices is None or not records:
            return records
        prices = await self._prices.at(symbol, [record.timestamp for record in records])
        return [priced(record, prices.get(record.timestamp)) for record in records]
