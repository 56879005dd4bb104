"""Keeps each symbol's fundamentals reports fresh: at most one request per report per refresh period.

Fundamentals are point-in-time: each document is stored with the moment it was received, so a
backtest sees only what was known then. IB de-supported ``reqFundamentalData`` in TWS API 10.47
(2026): error 430, an empty answer or no answer means "unavailable" for that symbol and report. That
is said once in the log (not every hour), and the symbol/report is backed off: the wait doubles
with each failure up to a week, and a success resets it (and is logged, so the recovery is seen).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.broker.errors import FUNDAMENTALS_UNAVAILABLE, error_info
from ibbot.broker.fundamentals import (
    REPORT_FIN_STATEMENTS,
    REPORT_FIN_SUMMARY,
    REPORT_SNAPSHOT,
    parse_financial_statements,
    parse_financial_summary,
    parse_report_snapshot,
)
from ibbot.errors import FundamentalsParseError, FundamentalsUnavailable, IbbotError, RequestFailed
from ibbot.models import ContractInfo, Event, EventType, FundamentalData, fundamentals_event_type

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ibbot.broker.ports import BrokerStore, EventPublisher
    from ibbot.broker.requests import IBRequests
    from ibbot.clock import Clock

__all__ = ["FundamentalsRefresher", "RefreshConfig"]

log = structlog.get_logger(__name__)

# Never sleep longer than this between checks, so a clock jump or a new due date is noticed.
_MAX_NAP: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RefreshConfig:
    """Which reports to keep, how often to refresh them, and how far to back off when unavailable."""

    report_types: tuple[str, ...] = (REPORT_SNAPSHOT, REPORT_FIN_STATEMENTS)
    refresh: timedelta = timedelta(hours=24)
    max_backoff: timedelta = timedelta(days=7)


@dataclass(slots=True)
class _Schedule:
    due: datetime
    failures: int = 0
    said_unavailable: bool = False


class FundamentalsRefresher:
    """Requests, parses, stores and publishes fundamentals reports on a schedule."""

    def __init__(
        self,
        requests: IBRequests,
        store: BrokerStore,
        publisher: EventPublisher | None,
        clock: Clock,
        *,
        config: RefreshConfig,
    ) -> None:
        self._requests = requests
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._config = config
        self._schedule: dict[tuple[str, str], _Schedule] = {}
        self._infos: dict[str, ContractInfo] = {}

    def status(self) -> dict[tuple[str, str], datetime]:
        """When each (symbol, report) is next due."""
        return {key: entry.due for key, entry in self._schedule.items()}

    async def run(self, infos: Iterable[ContractInfo]) -> None:
        """Refresh every due report, then sleep until the next one is due; forever."""
        await self.prepare(infos)
        while True:
            await self.refresh_due()
            await self._clock.sleep(self._nap().total_seconds())

    async def prepare(self, infos: Iterable[ContractInfo]) -> None:
        """Schedule every report of ``infos``: due now, or one period after the stored one.

        The stored one is the latest known as of now: one stored later in market time (by an
        earlier run of the embedded simulator, which starts each run at the same instant) does not
        put the next request off.
        """
        now = self._clock.now()
        for info in infos:
            self._infos[info.symbol] = info
            for report in self._config.report_types:
                stored = await self._store.read_fundamental(
                    info.symbol, as_of=now, report_type=report
                )
                due = now if stored is None else max(now, stored.timestamp + self._config.refresh)
                self._schedule[(info.symbol, report)] = _Schedule(due)

    async def refresh_due(self) -> int:
        """Request every report that is due; return how many were stored."""
        now = self._clock.now()
        due: Sequence[tuple[str, str]] = sorted(
            k for k, v in self._schedule.items() if v.due <= now
        )
        stored = 0
        for symbol, report in due:
            if await self._refresh(self._infos[symbol], report):
                stored += 1
        return stored

    def _nap(self) -> timedelta:
        if not self._schedule:
            return _MAX_NAP
        soonest = min(entry.due for entry in self._schedule.values())
        return max(timedelta(seconds=1), min(_MAX_NAP, soonest - self._clock.now()))

    async def _refresh(self, info: ContractInfo, report: str) -> bool:
        key = (info.symbol, report)
        entry = self._schedule[key]
        try:
            xml = await self._requests.fundamental_xml(
                info, report, expected_codes=(FUNDAMENTALS_UNAVAILABLE,)
            )
            received = self._clock.now()
            # Statements run to tens of kilobytes: parse them off the loop.
            data = await asyncio.to_thread(_parse, report, xml, info, received)
        except FundamentalsUnavailable as exc:
            self._unavailable(info.symbol, report, entry, exc)
            return False
        except FundamentalsParseError as exc:
            # Garbage from IB: say which symbol and what it looked like, try again next period.
            entry.due = self._clock.now() + self._config.refresh
            await self._error(info.symbol, None, exc)
            return False
        except (RequestFailed, TimeoutError) as exc:
            entry.due = self._clock.now() + self._config.refresh
            await self._error(info.symbol, getattr(exc, "code", None), exc)
            return False
        if entry.said_unavailable:
            log.info("fundamentals.available_again", symbol=info.symbol, report=report)
        entry.failures, entry.said_unavailable = 0, False
        entry.due = received + self._config.refresh
        try:
            await self._store.write_fundamental(info.symbol, data)
        except IbbotError as exc:
            await self._error(info.symbol, None, exc)
        await self._publish(  # typed as a backtest replays it (ibbot.models.events)
            Event(
                fundamentals_event_type(data),
                info.symbol,
                received,
                data,
                source="ib",
                ingested_at=received,
            )
        )
        log.info("fundamentals.stored", symbol=info.symbol, report=report, bytes=len(xml))
        return True

    def _unavailable(
        self, symbol: str, report: str, entry: _Schedule, exc: FundamentalsUnavailable
    ) -> None:
        entry.failures += 1
        wait = min(self._config.refresh * 2 ** (entry.failures - 1), self._config.max_backoff)
        entry.due = self._clock.now() + wait
        if not entry.said_unavailable:
            entry.said_unavailable = True
            log.warning(
                "fundamentals.unavailable",
                symbol=symbol,
                report=report,
                reason=str(exc),
                next_try=entry.due.isoformat(),
                note="IB de-supported reqFundamentalData in API 10.47; said once per symbol/report",
            )
        else:
            log.debug(
                "fundamentals.still_unavailable",
                symbol=symbol,
                report=report,
                failures=entry.failures,
            )

    async def _error(self, symbol: str, code: int | None, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        log.error("fundamentals.failed", symbol=symbol, code=code, error=message)
        now = self._clock.now()
        await self._publish(
            Event(
                EventType.ERROR,
                symbol,
                now,
                error_info(code, message, request="fundamentals", symbol=symbol),
                source="ib",
                ingested_at=now,
            )
        )

    async def _publish(self, event: Event) -> None:
        if self._publisher is None:
            return
        try:
            await self._publisher.publish(event)
        except IbbotError as exc:
            log.warning("fundamentals.not_published", symbol=event.symbol, error=str(exc))


def _parse(report: str, xml: str, info: ContractInfo, received: datetime) -> FundamentalData:
    """The document as a FundamentalData (statements and summaries keep their dict in ``details``)."""
    if report == REPORT_SNAPSHOT:
        return parse_report_snapshot(xml, info.symbol, received_at=received, contract=info)
    parsed: dict[str, Any]
    if report == REPORT_FIN_STATEMENTS:
        parsed = parse_financial_statements(xml, info.symbol, received_at=received)
    elif report == REPORT_FIN_SUMMARY:
        parsed = parse_financial_summary(xml, info.symbol, received_at=received)
    else:  # reports ibbot does not parse (RESC, ReportsOwnership, ...) are kept raw
        parsed = {}
    return FundamentalData(
        symbol=info.symbol,
        timestamp=received,
        company_name=str(parsed.get("company_name") or info.long_name),
        cik=parsed.get("cik"),
        currency=parsed.get("reporting_currency"),
        raw=xml,
        source="ib",
        report_type=report,
        details={k: v for k, v in parsed.items() if k != "raw"},
    )
