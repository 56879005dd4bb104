"""IB as a source for :mod:`ibbot.fundamentals`: one ReportSnapshot, received now, per symbol.

The fundamentals service asks its sources in priority order (``fundamentals.sources``, e.g.
``["ib", "sec"]``); this is the ``"ib"`` one, handed to :func:`ibbot.fundamentals.open_sources` as
``provided={"ib": source}``. IB keeps no history of its reports, so each fetch returns the one
snapshot IB serves now. IB's "unavailable" (430, an empty answer, no answer: reqFundamentalData is
de-supported since API 10.47) becomes :class:`SourceUnavailable`, so the service quietly moves on to
the next source; errors and garbled documents are :class:`FundamentalsError` with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ibbot.broker.errors import FUNDAMENTALS_UNAVAILABLE
from ibbot.broker.fundamentals import REPORT_SNAPSHOT, parse_report_snapshot
from ibbot.errors import FundamentalsParseError, FundamentalsUnavailable, IbbotError, RequestFailed
from ibbot.fundamentals.errors import FundamentalsError, SourceUnavailable

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.broker.ports import BrokerStore
    from ibbot.broker.requests import IBRequests
    from ibbot.clock import Clock
    from ibbot.models import ContractInfo, FundamentalData

__all__ = ["IBFundamentalsSource"]

# IB's "No security definition has been found": the symbol is not a stock IB knows.
_UNKNOWN_CONTRACT: Final = 200


class IBFundamentalsSource:
    """Fetches IB's ReportSnapshot for a symbol through the paced request layer."""

    def __init__(self, requests: IBRequests, store: BrokerStore | None, clock: Clock) -> None:
        self._requests = requests
        self._store = store
        self._clock = clock
        self._contracts: dict[str, ContractInfo] = {}

    @property
    def name(self) -> str:
        """``"ib"``, as ``fundamentals.sources`` spells it."""
        return "ib"

    async def fetch(self, symbol: str, *, since: datetime | None = None) -> list[FundamentalData]:
        """IB's snapshot of ``symbol`` as of now (``since`` is moot: IB serves only the latest)."""
        del since
        info = await self._contract(symbol)
        try:
            xml = await self._requests.fundamental_xml(
                info, REPORT_SNAPSHOT, expected_codes=(FUNDAMENTALS_UNAVAILABLE,)
            )
        except FundamentalsUnavailable as exc:
            raise SourceUnavailable(f"IB has no fundamentals for {symbol}: {exc}") from exc
        except (RequestFailed, TimeoutError) as exc:
            raise FundamentalsError(f"IB fundamentals for {symbol} failed: {exc}") from exc
        try:
            data = parse_report_snapshot(xml, symbol, received_at=self._clock.now(), contract=info)
        except FundamentalsParseError as exc:
            raise FundamentalsError(str(exc)) from exc
        return [data]

    async def _contract(self, symbol: str) -> ContractInfo:
        known = self._contracts.get(symbol)
        if known is not None:
            return known
        info = None
        if self._store is not None:
            try:
                info = await self._store.read_contract(symbol)
            except IbbotError:
                info = None
        if info is None:
            try:
                info = await self._requests.qualify(symbol)
            except RequestFailed as exc:
                if exc.code == _UNKNOWN_CONTRACT:
                    raise SourceUnavailable(f"IB knows no stock {symbol}") from exc
                raise FundamentalsError(f"IB cannot describe {symbol}: {exc}") from exc
            except TimeoutError as exc:
                raise FundamentalsError(f"IB did not describe {symbol} in time") from exc
        self._contracts[symbol] = info
        return info
