"""Streaming market data for the watchlist: ticks and bars as events, kept alive across outages.

Per symbol, one ``reqMktData`` stream (top of book, last trade) and one bar stream: IB's 5-second
real-time bars aggregated to the configured bar size, or, for daily and longer bars (which cannot
be built from 5-second bars), a ``keepUpToDate`` historical request. After a reconnect or a 1101
("data lost") every stream is requested again; a bar bucket interrupted by the outage is dropped
rather than emitted wrong, and the hole it leaves is filled from historical data, so bars continue
without gaps. A pacing refusal of a stream (420) is retried with backoff.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import structlog
from ib_async import BarDataList, Contract, RealTimeBarList, RequestError, Ticker

from ibbot.broker.backfill import Backfill
from ibbot.broker.backoff import Backoff
from ibbot.broker.bars import REALTIME_BAR_SECONDS, BarAggregator, floor_time, parse_duration
from ibbot.broker.connection import HookPhase, SessionChange
from ibbot.broker.conversions import contract_for, price_bar, realtime_price_bar, tick_from_ticker
from ibbot.broker.errors import (
    CANCEL_OF_UNKNOWN,
    error_info,
    is_pacing_violation,
    translate_request_error,
)
from ibbot.broker.outbox import Outbox
from ibbot.broker.timing import within
from ibbot.errors import IbbotError, RequestFailed
from ibbot.models import BarSize, ContractInfo, Event, EventType, PriceBar, Tick, WhatToShow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ib_async import IB

    from ibbot.broker.connection import IBConnection
    from ibbot.broker.ports import BrokerStore, TickPublisher
    from ibbot.broker.requests import IBRequests

__all__ = ["MarketDataStreams", "StreamConfig"]

log = structlog.get_logger(__name__)

# ib_async appends every streamed bar to its list; only the last one or two are ever needed.
_KEEP_BARS: Final = 2
_TRIM_AT: Final = 256
# Cancelled request ids remembered per symbol for IB's answer (three requests per stream, twice).
_GONE_PER_SYMBOL: Final = 6


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """What to stream: bar size and series, RTH only or not, and how far back to fill holes."""

    bar_size: BarSize = BarSize.MIN_1
    what_to_show: WhatToShow = WhatToShow.TRADES
    use_rth: bool = True
    history_duration: str = "2 D"
    ticks: bool = True
    retry_backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=5.0, maximum=300.0, jitter=0.25)
    )


@dataclass(slots=True)
class _Stream:
    """One symbol's live subscriptions, as of the current session."""

    info: ContractInfo
    contract: Contract
    aggregator: BarAggregator | None
    ticker: Ticker | None = None
    realtime: RealTimeBarList | None = None
    history: BarDataList | None = None
    ticker_req_id: int = 0
    last_end: datetime | None = None
    failures: int = 0
    session: int = 0  # the connection session its requests were sent in


class MarketDataStreams:
    """Owns the tick and bar subscriptions of a set of qualified symbols.

    :meth:`run` subscribes, fills history holes and keeps everything alive until cancelled; ticks
    are published (latest per symbol wins when the bus is slower than IB), completed bars are
    written to the store and published.
    """

    def __init__(
        self,
        connection: IBConnection,
        requests: IBRequests,
        store: BrokerStore,
        publisher: TickPublisher | None,
        *,
        config: StreamConfig,
        rng: random.Random | None = None,
    ) -> None:
        self._connection = connection
        self._requests = requests
        self._pacer = requests.pacer
        self._store = store
        self._publisher = publisher
        self._config = config
        self._clock = connection.market_clock  # "now": windows, timestamps
        self._waits = connection.clock  # retry backoff, timeouts
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not secrets
        self._realtime = config.bar_size.is_intraday
        if self._realtime and config.what_to_show is WhatToShow.BID_ASK:
            # reqRealTimeBars accepts TRADES, MIDPOINT, BID and ASK only.
            raise ValueError("real-time bars cannot show BID_ASK; use TRADES, MIDPOINT, BID or ASK")
        self._backfill = Backfill(requests, store, self._clock, publisher=publisher, workers=2)
        self._outbox = Outbox(publisher, name="market_data", persist=self._persist)
        self._streams: dict[str, _Stream] = {}
        self._by_req_id: dict[int, _Stream] = {}
        self._by_con_id: dict[int, _Stream] = {}
        # Coalescing hand-offs: the latest tick per symbol, the union of holes per symbol, the
        # symbols whose subscription IB refused for pacing. Each is bounded by the watchlist.
        self._latest_ticks: dict[str, Tick] = {}
        self._ticks_ready = asyncio.Event()
        self._publishing_ticks = False  # the tick task is between taking a backlog and its end
        self._holes: dict[str, tuple[datetime, datetime]] = {}
        self._holes_ready = asyncio.Event()
        self._retry: set[str] = set()
        self._retry_ready = asyncio.Event()
        # Request ids cancelled although IB had probably dropped them already (after a 1101, or a
        # refused stream): IB answers such a cancel with 300/366, which is expected then. The
        # latest few per symbol are kept (IB answers within moments; older ones are forgotten).
        self._cancelled_gone: dict[int, str] = {}
        self.bars_emitted = 0
        self.subscriptions = 0

    # ------------------------------------------------------------------ lifecycle

    async def run(self, infos: Iterable[ContractInfo]) -> None:
        """Stream ``infos`` until cancelled; on the way out, cancel the subscriptions at IB."""
        ib = self._connection.ib
        for info in infos:
            aggregator = (
                BarAggregator(info.symbol, self._config.bar_size) if self._realtime else None
            )
            stream = _Stream(info, contract_for(info), aggregator)
            self._streams[info.symbol] = stream
            self._by_con_id[info.con_id] = stream
        ib.pendingTickersEvent += self._on_tickers
        ib.barUpdateEvent += self._on_bar_update
        ib.errorEvent += self._on_error
        self._connection.add_session_hook(self._on_session_change, phase=HookPhase.RESUBSCRIBE)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._outbox.run(), name="ibbot-market-data-outbox")
                tasks.create_task(self._publish_ticks(), name="ibbot-ticks")
                tasks.create_task(self._fill_holes(), name="ibbot-hole-filler")
                tasks.create_task(self._retry_refused(), name="ibbot-stream-retry")
                now = self._clock.now()
                history_start = now - parse_duration(self._config.history_duration)
                for stream in self._streams.values():
                    self._add_hole(stream.info.symbol, history_start, now)
                    # Live bars continue from here; anything between is a hole to fill.
                    stream.last_end = floor_time(now, self._config.bar_size)
                await self._connection.wait_ready()
                for stream in self._streams.values():
                    await self._subscribe(stream, data_lost=False)
        finally:
            self._connection.remove_session_hook(self._on_session_change)
            ib.pendingTickersEvent -= self._on_tickers
            ib.barUpdateEvent -= self._on_bar_update
            ib.errorEvent -= self._on_error
            self._unsubscribe_all()

    async def flush(self) -> None:
        """Wait until every bar and error event produced so far is stored and published."""
        await self._outbox.flush()

    # ------------------------------------------------------------------ subscriptions

    @property
    def _ib(self) -> IB:
        return self._connection.ib

    async def _on_session_change(self, change: SessionChange) -> None:
        """Re-request every stream after a reconnect or a 1101."""
        data_lost = change is SessionChange.DATA_LOST
        log.info("market_data.resubscribing", streams=len(self._streams), change=change.value)
        # Every stream is let go of first: after a 1101 IB has dropped them all, after a reconnect
        # they died with the old socket. IB's pacing may hold the new requests back for minutes.
        for stream in self._streams.values():
            if data_lost:
                self._cancel(stream, gone=True)
            self._forget(stream)
        for stream in self._streams.values():
            await self._subscribe(stream, data_lost=False)

    async def _subscribe(self, stream: _Stream, *, data_lost: bool) -> None:
        """(Re-)request the tick and bar streams of one symbol."""
        symbol = stream.info.symbol
        if data_lost:
            # IB dropped them (or refused them); ib_async still holds the old request ids.
            self._cancel(stream, gone=True)
        self._forget(stream)
        if stream.aggregator is not None:
            stream.aggregator.reset()
        stream.session = self._connection.session
        try:
            if self._config.ticks:
                await self._pacer.message()
                ticker = self._ib.reqMktData(stream.contract, "", False, False)
                stream.ticker = ticker
                stream.ticker_req_id = self._ib.wrapper.ticker2ReqId["mktData"].get(ticker, 0)
                self._by_req_id[stream.ticker_req_id] = stream
            if self._realtime:
                await self._pacer.realtime_bars(symbol)
                bars = self._ib.reqRealTimeBars(
                    stream.contract,
                    REALTIME_BAR_SECONDS,
                    self._config.what_to_show.value,
                    self._config.use_rth,
                )
                stream.realtime = bars
                self._by_req_id[bars.reqId] = stream
            else:
                await self._keep_up_to_date(stream)
        except (RequestFailed, TimeoutError, ConnectionError) as exc:
            self._refused(stream, str(exc) or type(exc).__name__, None)
            return
        stream.failures = 0
        self.subscriptions += 1
        log.info("market_data.subscribed", symbol=symbol, realtime_bars=self._realtime)

    async def _keep_up_to_date(self, stream: _Stream) -> None:
        """Daily (and longer) bars: a historical request that IB keeps updating."""
        cfg = self._config
        timeout = self._requests.policy.timeout
        key = (stream.info.con_id, "keepUpToDate", cfg.bar_size, cfg.what_to_show)
        async with self._pacer.historical(
            key, (stream.info.con_id, "SMART"), cfg.what_to_show, bar_size=cfg.bar_size
        ):
            try:
                bars = await within(
                    self._waits,
                    timeout,
                    self._ib.reqHistoricalDataAsync(
                        stream.contract,
                        endDateTime="",
                        durationStr=cfg.history_duration,
                        barSizeSetting=cfg.bar_size.value,
                        whatToShow=cfg.what_to_show.value,
                        useRTH=cfg.use_rth,
                        formatDate=2,
                        keepUpToDate=True,
                        timeout=0,  # ours (above), on the injected clock
                    ),
                )
            except RequestError as exc:
                raise translate_request_error(exc, request="keepUpToDate") from exc
        if not bars:
            raise RequestFailed(f"keepUpToDate {stream.info.symbol}: IB returned no bars")
        stream.history = bars
        self._by_req_id[bars.reqId] = stream
        for bar in bars[:-1]:  # the last bar is still forming
            self._emit(stream, price_bar(bar, stream.info.symbol, cfg.bar_size))

    def _cancel(self, stream: _Stream, *, gone: bool = False) -> None:
        """Cancel the stream's requests at IB; ``gone``: IB has probably dropped them already."""
        ib = self._ib
        if not ib.isConnected() or stream.session != self._connection.session:
            return  # requests of an earlier socket ended with it (ib_async forgot them too)
        if gone:
            symbol = stream.info.symbol
            for bars in (stream.realtime, stream.history):
                if bars is not None:
                    self._cancelled_gone[bars.reqId] = symbol
            if stream.ticker is not None:
                self._cancelled_gone[stream.ticker_req_id] = symbol
            while len(self._cancelled_gone) > _GONE_PER_SYMBOL * len(self._streams):
                del self._cancelled_gone[next(iter(self._cancelled_gone))]
        if stream.ticker is not None:
            ib.cancelMktData(stream.contract)
        if stream.realtime is not None:
            ib.cancelRealTimeBars(stream.realtime)
        if stream.history is not None:
            ib.cancelHistoricalData(stream.history)

    def _forget(self, stream: _Stream) -> None:
        for bars in (stream.realtime, stream.history):
            if bars is not None:
                self._by_req_id.pop(bars.reqId, None)
        self._by_req_id.pop(stream.ticker_req_id, None)
        stream.ticker, stream.realtime, stream.history = None, None, None
        stream.ticker_req_id = 0

    def _unsubscribe_all(self) -> None:
        for stream in self._streams.values():
            self._cancel(stream)
            self._forget(stream)

    # ------------------------------------------------------------------ ib_async callbacks (sync)

    def _on_tickers(self, tickers: set[Ticker]) -> None:
        now = self._clock.now()
        for ticker in tickers:
            stream = self._by_con_id.get(ticker.contract.conId) if ticker.contract else None
            if stream is None:
                continue
            tick = tick_from_ticker(ticker, stream.info.symbol, now=now)
            if tick is not None:
                self._latest_ticks[stream.info.symbol] = tick
        if self._latest_ticks and not self._publishing_ticks:
            self._publish_ticks_now()
        if self._latest_ticks:
            self._ticks_ready.set()

    def _publish_ticks_now(self) -> None:
        """Hand the waiting ticks to the bus from the callback itself, as long as it has room.

        A price then reaches the strategies without a hop through the tick task (this is the start
        of the tick-to-order path); what does not fit stays for the task, which waits for room.
        """
        publisher = self._publisher
        if publisher is None:
            return
        latest = self._latest_ticks
        while latest:
            symbol, tick = next(iter(latest.items()))
            failure = ""
            try:
                if not publisher.try_publish(self._tick_event(tick)):
                    return
            except IbbotError as exc:
                failure = str(exc)
            if failure:
                log.warning("market_data.tick_not_published", symbol=symbol, error=failure)
            del latest[symbol]

    def _on_bar_update(self, bars: Any, has_new_bar: bool) -> None:
        stream = self._by_req_id.get(getattr(bars, "reqId", -1))
        if stream is None or not bars:
            return
        symbol = stream.info.symbol
        if isinstance(bars, RealTimeBarList) and stream.aggregator is not None:
            for bar in stream.aggregator.add(realtime_price_bar(bars[-1], symbol)):
                self._emit(stream, bar)
        elif isinstance(bars, BarDataList) and has_new_bar and len(bars) >= _KEEP_BARS:
            self._emit(stream, price_bar(bars[-2], symbol, self._config.bar_size))
        if len(bars) > _TRIM_AT:
            del bars[:-_KEEP_BARS]

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        if code in CANCEL_OF_UNKNOWN:
            self._cancel_answered(req_id, code, message)
            return
        stream = self._by_req_id.get(req_id) if req_id > 0 else None
        if stream is None:
            return
        if 2100 <= code < 2200 or code == 10167:
            return  # notices and warnings on a live stream
        self._refused(stream, f"IB error {code}: {message}", code)

    def _cancel_answered(self, req_id: int, code: int, message: str) -> None:
        """IB says it had no such stream to cancel: expected after a 1101, odd otherwise."""
        symbol = self._cancelled_gone.pop(req_id, None)
        if symbol is not None:
            log.debug(
                "market_data.cancel_of_dropped_stream",
                symbol=symbol,
                code=code,
                detail="IB had dropped the stream already (1101 or a refusal): nothing to cancel",
            )
            return
        log.warning("market_data.cancel_unknown_at_ib", req_id=req_id, code=code, message=message)

    # ------------------------------------------------------------------ bars and holes

    def _emit(self, stream: _Stream, bar: PriceBar) -> None:
        """Queue a completed bar; note a hole if it does not follow the last one."""
        if stream.last_end is not None and bar.timestamp > stream.last_end:
            self._add_hole(stream.info.symbol, stream.last_end, bar.timestamp)
        if stream.last_end is None or bar.end > stream.last_end:
            stream.last_end = bar.end
        self.bars_emitted += 1
        self._outbox.put(
            Event(
                EventType.PRICE_BAR,
                bar.symbol,
                bar.timestamp,
                bar,
                source="ib",
                ingested_at=self._clock.now(),
            )
        )

    def _add_hole(self, symbol: str, start: datetime, end: datetime) -> None:
        """Remember that ``[start, end)`` may be missing (merged with what is already pending)."""
        start = floor_time(start, self._config.bar_size)
        end = floor_time(end, self._config.bar_size)
        if end <= start:
            return
        pending = self._holes.get(symbol)
        if pending is not None:
            start, end = min(start, pending[0]), max(end, pending[1])
        self._holes[symbol] = (start, end)
        self._holes_ready.set()

    async def _fill_holes(self) -> None:
        """Fetch the holes from historical data, one batch at a time, forever."""
        while True:
            await self._holes_ready.wait()
            self._holes_ready.clear()
            holes, self._holes = self._holes, {}
            for symbol, (start, end) in holes.items():
                stream = self._streams[symbol]
                try:
                    await self._backfill.fill(
                        [stream.info],
                        bar_size=self._config.bar_size,
                        start=start,
                        end=end,
                        what_to_show=self._config.what_to_show,
                        use_rth=self._config.use_rth,
                    )
                except IbbotError as exc:  # the store could not tell what it lacks
                    log.exception("market_data.hole_not_filled", symbol=symbol, error=str(exc))

    async def _persist(self, event: Event) -> None:
        if isinstance(event.payload, PriceBar):
            await self._store.write_bars(event.payload.symbol, [event.payload])

    def _tick_event(self, tick: Tick) -> Event:
        return Event(
            EventType.TICK,
            tick.symbol,
            tick.timestamp,
            tick,
            source="ib",
            ingested_at=self._clock.now(),
        )

    async def _publish_ticks(self) -> None:
        """Publish the ticks the callback could not hand over (the bus was full), waiting for room."""
        while True:
            await self._ticks_ready.wait()
            self._ticks_ready.clear()
            ticks, self._latest_ticks = self._latest_ticks, {}
            if self._publisher is None:
                continue
            self._publishing_ticks = True
            try:
                for tick in ticks.values():
                    try:
                        await self._publisher.publish(self._tick_event(tick))
                    except IbbotError as exc:
                        log.warning(
                            "market_data.tick_not_published", symbol=tick.symbol, error=str(exc)
                        )
            finally:
                self._publishing_ticks = False

    # ------------------------------------------------------------------ refusals and retries

    def _refused(self, stream: _Stream, message: str, code: int | None) -> None:
        """A stream failed: an error event, and a retry with backoff when IB asked us to slow down."""
        symbol = stream.info.symbol
        pacing = code is not None and is_pacing_violation(code, message)
        log.warning(
            "market_data.stream_failed", symbol=symbol, code=code, error=message, retry=pacing
        )
        self._outbox.put(
            Event(
                EventType.ERROR,
                symbol,
                self._clock.now(),
                error_info(code, message, request="market data", symbol=symbol),
                source="ib",
                ingested_at=self._clock.now(),
            )
        )
        if pacing or code is None:
            self._retry.add(symbol)
            self._retry_ready.set()

    async def _retry_refused(self) -> None:
        while True:
            await self._retry_ready.wait()
            self._retry_ready.clear()
            symbols, self._retry = self._retry, set()
            for symbol in sorted(symbols):
                stream = self._streams[symbol]
                delay = self._config.retry_backoff.delay(stream.failures, self._rng)
                stream.failures += 1
                log.info("market_data.retrying", symbol=symbol, delay=round(delay, 3))
                await self._waits.sleep(delay)
                await self._connection.wait_ready()
                await self._subscribe(stream, data_lost=True)
