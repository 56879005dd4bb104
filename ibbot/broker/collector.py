"""The collector: qualifies the watchlist, then streams market data and refreshes fundamentals.

Everything collected is written to the store and published on the bus; every request goes through
the pacer (via :class:`~ibbot.broker.requests.IBRequests`); a request that fails or times out
becomes an ``error`` event and a log line, never an empty result.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from ibbot.broker.errors import error_info
from ibbot.broker.fundamentals_refresh import FundamentalsRefresher, RefreshConfig
from ibbot.broker.market_data import MarketDataStreams, StreamConfig
from ibbot.errors import IbbotError, RequestFailed
from ibbot.models import ContractInfo, Event, EventType

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ibbot.broker.connection import IBConnection
    from ibbot.broker.ports import BrokerStore, TickPublisher
    from ibbot.broker.requests import IBRequests
    from ibbot.settings import CollectorSettings

__all__ = ["CollectorConfig", "IBCollector"]

log = structlog.get_logger(__name__)

# IB's "No security definition has been found": the symbol does not exist as asked.
_UNKNOWN_CONTRACT = 200


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """The watchlist and what to collect for it (``fundamentals`` None turns fundamentals off)."""

    watchlist: tuple[str, ...]
    streams: StreamConfig = field(default_factory=StreamConfig)
    market_data: bool = True
    fundamentals: RefreshConfig | None = field(default_factory=RefreshConfig)

    @classmethod
    def from_settings(cls, settings: CollectorSettings) -> CollectorConfig:
        """The collector section of ibbot's settings."""
        return cls(
            watchlist=tuple(settings.watchlist),
            streams=StreamConfig(
                bar_size=settings.bar_size,
                what_to_show=settings.what_to_show,
                use_rth=settings.use_rth,
                history_duration=settings.history_duration,
            ),
            market_data=settings.market_data,
            fundamentals=RefreshConfig(
                report_types=tuple(settings.report_types),
                refresh=timedelta(hours=settings.fundamental_refresh_hours),
            )
            if settings.report_types
            else None,
        )


class IBCollector:
    """Collects the watchlist's contracts, ticks, bars and fundamentals until :meth:`stop`."""

    def __init__(
        self,
        connection: IBConnection,
        requests: IBRequests,
        store: BrokerStore,
        publisher: TickPublisher | None,
        *,
        config: CollectorConfig,
    ) -> None:
        self._connection = connection
        self._requests = requests
        self._store = store
        self._publisher = publisher
        self._config = config
        self._clock = connection.market_clock
        self._contracts: dict[str, ContractInfo] = {}
        self._stopping = asyncio.Event()
        self.streams = MarketDataStreams(
            connection, requests, store, publisher, config=config.streams
        )
        self.fundamentals = (
            FundamentalsRefresher(
                requests, store, publisher, self._clock, config=config.fundamentals
            )
            if config.fundamentals is not None
            else None
        )

    @property
    def contracts(self) -> Mapping[str, ContractInfo]:
        """The watchlist symbols IB could describe, by symbol."""
        return self._contracts

    def stop(self) -> None:
        """Ask :meth:`run` to finish (it cancels its streams and returns)."""
        self._stopping.set()

    async def run(self) -> None:
        """Qualify the watchlist, then stream and refresh until :meth:`stop` or cancellation."""
        await self._connection.wait_ready()
        contracts = await self.qualify()
        if not contracts:
            log.error("collector.nothing_to_collect", watchlist=list(self._config.watchlist))
        async with asyncio.TaskGroup() as tasks:
            workers = []
            if self._config.market_data and contracts:
                workers.append(
                    tasks.create_task(self.streams.run(contracts.values()), name="ibbot-streams")
                )
            if self.fundamentals is not None and contracts:
                workers.append(
                    tasks.create_task(
                        self.fundamentals.run(contracts.values()), name="ibbot-fundamentals"
                    )
                )
            await self._stopping.wait()
            for worker in workers:
                worker.cancel()
        log.info("collector.stopped")

    async def qualify(self) -> dict[str, ContractInfo]:
        """Ask IB what each watchlist symbol is; store and publish the answers.

        A symbol IB does not know (200) is left out with an error event. When IB cannot be asked
        (timeout, connection trouble), the description stored by an earlier run is used.
        """
        for symbol in self._config.watchlist:
            try:
                info = await self._requests.qualify(symbol)
            except (RequestFailed, TimeoutError) as exc:
                code = exc.code if isinstance(exc, RequestFailed) else None
                stored = None if code == _UNKNOWN_CONTRACT else await self._stored(symbol)
                await self._error(symbol, code, exc, fallback=stored is not None)
                if stored is not None:
                    self._contracts[symbol] = stored
                continue
            self._contracts[symbol] = info
            try:
                await self._store.write_contract(info)
            except IbbotError as exc:
                await self._error(symbol, None, exc, fallback=False)
            await self._publish(
                Event(
                    EventType.CONTRACT_INFO,
                    symbol,
                    self._clock.now(),
                    info,
                    source="ib",
                    ingested_at=self._clock.now(),
                )
            )
        log.info(
            "collector.qualified", symbols=len(self._contracts), of=len(self._config.watchlist)
        )
        return dict(self._contracts)

    async def _stored(self, symbol: str) -> ContractInfo | None:
        try:
            return await self._store.read_contract(symbol)
        except IbbotError:
            return None

    async def _error(
        self, symbol: str, code: int | None, exc: BaseException, *, fallback: bool
    ) -> None:
        message = str(exc) or type(exc).__name__
        log.error(
            "collector.qualify_failed",
            symbol=symbol,
            code=code,
            error=message,
            using_stored=fallback,
        )
        await self._publish(
            Event(
                EventType.ERROR,
                symbol,
                self._clock.now(),
                error_info(code, message, request="contract details", symbol=symbol),
                source="ib",
                ingested_at=self._clock.now(),
            )
        )

    async def _publish(self, event: Event) -> None:
        if self._publisher is None:
            return
        try:
            await self._publisher.publish(event)
        except IbbotError as exc:
            log.warning("collector.not_published", symbol=event.symbol, error=str(exc))
