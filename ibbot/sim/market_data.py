"""Historical bars, streaming quotes, real-time bars and fundamentals over the wire.

Every answer is computed from the shared :class:`~ibbot.sim.market.MarketSimulator` at the gateway
clock's current instant, so history and live data agree: a keepUpToDate update extends the last bar
of the history it follows, real-time bars are the 5-second pieces of the same price path, and quote
ticks carry the same last price. Streams run in simulated time; at high time scales their wall-clock
rate is capped (:data:`MIN_WALL_INTERVAL`) and each update carries the latest state, while real-time
bars are never skipped: a late wake-up sends every completed 5-second bar it missed, in order.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from ibbot.exchange import Quote
from ibbot.models import BarSize, WhatToShow
from ibbot.sim import messages as msg
from ibbot.sim.contracts import Resolved
from ibbot.sim.fundamentals import REPORT_TYPES, report_xml
from ibbot.sim.generic_ticks import GenericTickFeed, parse_generic_ticks, refusal_text
from ibbot.sim.ibtime import format_bar_time, parse_end_datetime
from ibbot.sim.market import HistoricalDataError, parse_duration
from ibbot.sim.pacing import OPEN_HISTORICAL_TEXT, HistoricalRequestKey, PacingKind, PacingVerdict
from ibbot.sim.protocol import HISTORICAL_PACING_TEXT, ErrorCode, error_text
from ibbot.sim.requests import ContractSpec, read_contract
from ibbot.sim.tick_data import TickDataService, no_permission_text
from ibbot.sim.wire import FieldReader, ProtocolError, encode_fields, frame_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ibbot.exchange import SimBar
    from ibbot.sim.market import MarketSimulator
    from ibbot.sim.ports import ClientPort
    from ibbot.sim.world import World

__all__ = [
    "MARKET_DATA_STREAMS",
    "MIN_WALL_INTERVAL",
    "PAUSE_SECONDS",
    "SLICE_SECONDS",
    "MarketDataService",
]

log = structlog.get_logger(__name__)

# Simulated seconds between stream updates (IB sends top-of-book about every 250 ms, a
# keepUpToDate update every few seconds and a real-time bar every 5 s) ...
TICK_INTERVAL = 0.25
BAR_UPDATE_INTERVAL = 5.0
REALTIME_BAR_SECONDS = 5
# ... but never more often than this in wall-clock seconds, however fast simulated time runs.
MIN_WALL_INTERVAL = 0.02
# marketDataType 2: IB's "frozen" data, the last values recorded, no live updates (4: the same
# for a client on delayed data, 3). A withheld symbol's quote stream is announced this way.
LIVE_DATA = 1
FROZEN_DATA = 2
DELAYED_DATA = 3
DELAYED_FROZEN_DATA = 4
# How old delayed data is (IB: 15-20 minutes for US stocks).
DELAYED_BY = timedelta(minutes=15)
# A large answer (up to a second or two of work for the largest request IB allows) computes for
# SLICE_SECONDS, then steps aside for PAUSE_SECONDS, in which the event loop runs every round trip
# that is ready to completion (a control-port request takes a dozen loop iterations: yielding
# for one iteration only would make it wait a dozen slices). A slice ends after the step that
# crosses it; no step costs more than a few milliseconds (see MarketSimulator.bar_steps).
SLICE_SECONDS = 0.005
PAUSE_SECONDS = 0.001

# Tick types (IB "Available Tick Types"): live ids, then the delayed ids market data type 3/4 uses.
_LIVE_TICKS = {
    "bid_size": 0,
    "bid": 1,
    "ask": 2,
    "ask_size": 3,
    "last": 4,
    "last_size": 5,
    "high": 6,
    "low": 7,
    "volume": 8,
    "close": 9,
    "open": 14,
    "last_timestamp": 45,
}
_DELAYED_TICKS = {
    "bid_size": 69,
    "bid": 66,
    "ask": 67,
    "ask_size": 70,
    "last": 68,
    "last_size": 71,
    "high": 72,
    "low": 73,
    "volume": 74,
    "close": 75,
    "open": 76,
    "last_timestamp": 88,
}
_SUPPORTED_WHAT_TO_SHOW = {w.value: w for w in WhatToShow}
# The kinds of session stream this service runs: quote ticks, real-time bars, keepUpToDate bars.
# These are the market data subscriptions IB drops when it reports 1101 ("data lost").
MARKET_DATA_STREAMS = frozenset({"mkt", "rtb", "hist", "tbt", "hticks", "histo"})


@dataclass(frozen=True, slots=True)
class _HistoricalRequest:
    req_id: int
    resolved: Resolved
    end_text: str
    bar_size_text: str
    duration: str
    use_rth: bool
    what_to_show_text: str
    format_date: int
    keep_up_to_date: bool


class MarketDataService:
    """Handlers for the data requests, and the stream loops behind the subscriptions."""

    def __init__(self, world: World) -> None:
        self.world = world
        # tick-by-tick, historical ticks and histograms
        self.ticks = TickDataService(world)

    # ---------------------------------------------------------------- helpers

    def _interval(self, simulated: float) -> float:
        """A stream period in simulated seconds, stretched so the wall-clock rate stays bounded."""
        return max(simulated, MIN_WALL_INTERVAL * self.world.config.time_scale)

    def _resolve_or_200(
        self, session: ClientPort, req_id: int, spec: ContractSpec
    ) -> Resolved | None:
        resolved = self.world.contracts.resolve(spec)
        if resolved is None:
            session.send_error(req_id, ErrorCode.NO_SECURITY_DEFINITION)
            log.info("sim.data.unknown_contract", req_id=req_id, contract=spec.describe())
        return resolved

    def drop_subscriptions(self, session: ClientPort) -> int:
        """Stop every market data stream of ``session`` (IB lost them); returns how many ran."""
        lost = [
            key
            for key in session.stream_keys()
            if isinstance(key, tuple) and key and key[0] in MARKET_DATA_STREAMS
        ]
        for key in lost:
            session.stop_stream(key)
        if lost:
            log.info("sim.data.subscriptions_lost", client_id=session.client_id, streams=len(lost))
        return len(lost)

    # ---------------------------------------------------------------- historical data

    def req_historical_data(self, session: ClientPort, reader: FieldReader) -> None:
        """reqHistoricalData (20): bars, then (keepUpToDate) updates of the last bar."""
        req_id = reader.integer()
        spec = read_contract(reader)
        reader.skip(1)  # includeExpired
        end_text = reader.text()
        bar_size_text = reader.text()
        duration = reader.text()
        use_rth = reader.flag()
        what_to_show_text = reader.text()
        format_date = reader.integer(default=1)
        if spec.sec_type == "BAG":
            legs = reader.integer(default=0)
            if legs < 0:
                raise ProtocolError(f"negative combo leg count {legs}")
            reader.skip(4 * legs)
        keep_up_to_date = reader.flag()
        reader.optional_text()  # chartOptions
        resolved = self._resolve_or_200(session, req_id, spec)
        if resolved is None:
            return
        self._historical(
            session,
            _HistoricalRequest(
                req_id=req_id,
                resolved=resolved,
                end_text=end_text,
                bar_size_text=bar_size_text,
                duration=duration,
                use_rth=use_rth,
                what_to_show_text=what_to_show_text.upper(),
                format_date=format_date,
                keep_up_to_date=keep_up_to_date,
            ),
        )

    def _hmds_error(self, session: ClientPort, req_id: int, detail: str) -> None:
        session.send_error(
            req_id,
            ErrorCode.HISTORICAL_SERVICE_ERROR,
            error_text(ErrorCode.HISTORICAL_SERVICE_ERROR, detail=detail),
        )

    def _historical(self, session: ClientPort, request: _HistoricalRequest) -> None:
        req_id = request.req_id
        try:
            bar_size = BarSize.parse(request.bar_size_text)
        except ValueError:
            session.send_error(
                req_id,
                ErrorCode.VALIDATION_ERROR,
                error_text(
                    ErrorCode.VALIDATION_ERROR,
                    tag="bP",
                    detail="Historical data bar size setting is invalid.",
                ),
            )
            return
        what_to_show = _SUPPORTED_WHAT_TO_SHOW.get(request.what_to_show_text)
        if what_to_show is None:
            self._hmds_error(
                session,
                req_id,
                f"No data of type {request.what_to_show_text} is available for the exchange "
                f"'{request.resolved.exchange}' and the security type 'Stock'",
            )
            return
        if not self.world.faults.has_live_data(request.resolved.security.symbol):
            # IB: "historical data still requires market data subscriptions"
            self._hmds_error(session, req_id, no_permission_text(request.resolved))
            return
        if request.keep_up_to_date and request.end_text.strip():
            session.send_error(
                req_id,
                ErrorCode.VALIDATION_ERROR,
                error_text(
                    ErrorCode.VALIDATION_ERROR,
                    tag="bX",
                    detail="End date not supported with live updates",
                ),
            )
            return
        now = self.world.clock.now()
        try:
            end = min(parse_end_datetime(request.end_text, now), now)
        except ValueError:
            session.send_error(req_id, ErrorCode.INVALID_END_DATE)
            return
        try:
            parse_duration(request.duration, bar_size)
        except HistoricalDataError as exc:
            session.send(msg.error(req_id, exc.code, exc.message))
            return
        key = HistoricalRequestKey(
            con_id=request.resolved.security.con_id,
            exchange=request.resolved.exchange,
            what_to_show=what_to_show.value,
            end=request.end_text.strip(),
            duration=request.duration.strip().upper(),
            bar_size=bar_size.value,
            use_rth=request.use_rth,
        )
        open_requests = sum(
            1 for k in session.stream_keys() if isinstance(k, tuple) and k and k[0] == "hist"
        )
        verdict = self.world.pacer.check_historical(key, open_requests=open_requests)
        if verdict is not None:
            self._pacing_refusal(session, req_id, verdict)
            return
        delay = self.world.pacer.answer_delay()
        symbol = request.resolved.security.symbol
        try:
            steps = self.world.market.historical_bar_steps(
                symbol,
                end=end,
                duration=request.duration,
                bar_size=bar_size,
                what_to_show=what_to_show,
                use_rth=request.use_rth,
            )
        except HistoricalDataError as exc:
            session.send(msg.error(req_id, exc.code, exc.message))
            return
        except (
            ValueError
        ) as exc:  # the market refusing its input: IB would say HMDS could not serve it
            self._hmds_error(session, req_id, str(exc))
            return
        session.start_stream(
            ("hist", req_id),
            self._serve_history(
                session,
                request,
                steps,
                bar_size=bar_size,
                what_to_show=what_to_show,
                end=end,
                delay=delay,
            ),
        )

    async def _serve_history(
        self,
        session: ClientPort,
        request: _HistoricalRequest,
        steps: Iterator[SimBar | None],
        *,
        bar_size: BarSize,
        what_to_show: WhatToShow,
        end: datetime,
        delay: float,
    ) -> None:
        """Wait out the soft throttle's ``delay``, compute and encode the answer a slice at a time,
        send it, then follow the last bar.

        Up to a second or two of work for the largest requests IB allows, so it steps aside every
        :data:`SLICE_SECONDS`: other clients and the control port are answered meanwhile.
        It starts, and its frame is queued, only once the frames queued before have gone to the
        client's socket (:meth:`~ibbot.sim.ports.ClientPort.flushed`), so a client that stops
        reading holds back nobody but itself.
        A cancelHistoricalData while it runs ends it with nothing sent.
        """
        req_id, format_date = request.req_id, request.format_date
        if delay > 0:
            await self.world.clock.sleep(delay)
        await session.flushed()
        try:
            first, count, rows = await _encode_cooperatively(
                steps, lambda bar: msg.historical_bar_fields(self._row(bar, bar_size, format_date))
            )
        except HistoricalDataError as exc:
            session.send(msg.error(req_id, exc.code, exc.message))
            return
        except ValueError as exc:
            self._hmds_error(session, req_id, str(exc))
            return
        if first is None:
            self._hmds_error(session, req_id, "HMDS query returned no data")
            return
        start_text = format_bar_time(first.time, format_date=format_date, intraday=True)
        end_text = format_bar_time(end, format_date=format_date, intraday=True)
        head = encode_fields(msg.historical_data_head(req_id, start_text, end_text, count))
        await session.flushed()
        session.send_frame(frame_of(head + rows))
        if request.keep_up_to_date:
            await self._bar_updates(
                session,
                req_id,
                symbol=request.resolved.security.symbol,
                bar_size=bar_size,
                what_to_show=what_to_show,
                request=request,
            )

    @staticmethod
    def _row(bar: SimBar, bar_size: BarSize, format_date: int) -> msg.HistoricalBarRow:
        return msg.HistoricalBarRow(
            date=format_bar_time(bar.time, format_date=format_date, intraday=bar_size.is_intraday),
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            wap=bar.wap,
            count=bar.count,
        )

    async def _bar_updates(
        self,
        session: ClientPort,
        req_id: int,
        *,
        symbol: str,
        bar_size: BarSize,
        what_to_show: WhatToShow,
        request: _HistoricalRequest,
    ) -> None:
        """keepUpToDate: resend the current (growing) bar every few simulated seconds."""
        clock = self.world.clock
        interval = self._interval(BAR_UPDATE_INTERVAL)
        while True:
            await clock.sleep(interval)
            now = clock.now()
            if not self.world.market.is_trading(now, outside_rth=not request.use_rth):
                continue
            bars = self.world.market.bars(
                symbol,
                start=now - _update_window(bar_size),
                end=now,
                bar_size=bar_size,
                what_to_show=what_to_show,
                use_rth=request.use_rth,
            )
            if bars and not self.world.faults.is_silent(symbol):
                session.send(
                    msg.historical_data_update(
                        req_id, self._row(bars[-1], bar_size, request.format_date)
                    )
                )

    def cancel_historical_data(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelHistoricalData (25): stops an answer in progress or a keepUpToDate stream; else 366."""
        reader.integer()  # version
        req_id = reader.integer()
        if not session.stop_stream(("hist", req_id)):
            session.send_error(req_id, ErrorCode.NO_HISTORICAL_QUERY)

    def req_head_timestamp(self, session: ClientPort, reader: FieldReader) -> None:
        """reqHeadTimeStamp (87): the start of the first session with data (the listing day).

        IB answers formatDate 1 as UTC ``yyyymmdd-hh:mm:ss`` (AAPL: ``19801212-14:30:00``) and
        formatDate 2 as epoch seconds.
        """
        req_id = reader.integer()
        spec = read_contract(reader)
        reader.skip(1)  # includeExpired
        use_rth = reader.flag()
        reader.text()  # whatToShow: every kind of data starts with the listing
        format_date = reader.integer(default=1)
        resolved = self._resolve_or_200(session, req_id, spec)
        if resolved is None:
            return
        first = self.world.market.first_session(resolved.security.symbol)
        head = first.start(use_rth=use_rth)
        text = str(int(head.timestamp())) if format_date == 2 else f"{head:%Y%m%d-%H:%M:%S}"
        session.send(msg.head_timestamp(req_id, text))

    def cancel_head_timestamp(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelHeadTimeStamp (90): head timestamps are answered at once, nothing to stop."""
        reader.integer()  # reqId

    # ---------------------------------------------------------------- pacing

    def _pacing_refusal(self, session: ClientPort, req_id: int, verdict: PacingVerdict) -> None:
        log.info("sim.pacing.violation", req_id=req_id, kind=verdict.kind.value, rule=verdict.rule)
        if verdict.kind is PacingKind.REALTIME_BARS:
            session.send_error(
                req_id,
                ErrorCode.INVALID_REALTIME_QUERY,
                error_text(ErrorCode.INVALID_REALTIME_QUERY, detail=HISTORICAL_PACING_TEXT),
            )
        elif verdict.kind is PacingKind.HISTORICAL_OPEN:
            session.send_error(req_id, ErrorCode.PROCESSING_ERROR, OPEN_HISTORICAL_TEXT)
        elif verdict.kind is PacingKind.FUNDAMENTALS:
            session.send_error(
                req_id,
                ErrorCode.HISTORICAL_SERVICE_ERROR,
                "Fundamental data service error message:Fundamentals request pacing violation",
            )
        else:
            self._hmds_error(session, req_id, HISTORICAL_PACING_TEXT)

    # ---------------------------------------------------------------- streaming quotes

    def req_market_data_type(self, session: ClientPort, reader: FieldReader) -> None:
        """reqMarketDataType (59): 1 live, 2 frozen, 3 delayed, 4 delayed-frozen.

        The type is a wish for later requests, as at IB: live data is sent whenever the symbol has
        it (a delayed request is then answered live), delayed data only when it has none, and the
        frozen types only change what comes while the market is closed (see :class:`_DataView`).
        """
        reader.integer()  # version
        data_type = reader.integer()
        if data_type not in (1, 2, 3, 4):
            session.send_error(
                -1,
                ErrorCode.VALIDATION_ERROR,
                error_text(
                    ErrorCode.VALIDATION_ERROR, detail=f"Invalid market data type {data_type}"
                ),
            )
            return
        session.market_data_type = data_type

    def req_mkt_data(self, session: ClientPort, reader: FieldReader) -> None:
        """reqMktData (1): a tick stream, or a snapshot closed by tickSnapshotEnd.

        A symbol without a live subscription (the control interface's ``/no-subscription``) gets
        354 on live or frozen data; on delayed data the 10167 warning, then data 15 minutes old
        with the delayed tick ids.
        """
        reader.integer()  # version
        req_id = reader.integer()
        spec = read_contract(reader)
        if spec.sec_type == "BAG":
            legs = reader.integer(default=0)
            if legs < 0:
                raise ProtocolError(f"negative combo leg count {legs}")
            reader.skip(4 * legs)
        if reader.flag():  # delta-neutral contract
            reader.skip(3)
        generic_list = reader.text()
        snapshot = reader.flag()
        regulatory = reader.flag()
        reader.optional_text()  # mktDataOptions
        if session.has_stream(("mkt", req_id)):
            session.send_error(req_id, ErrorCode.DUPLICATE_TICKER_ID)
            return
        resolved = self._resolve_or_200(session, req_id, spec)
        if resolved is None:
            return
        codes = parse_generic_ticks(generic_list)
        if codes is None:
            session.send_error(req_id, ErrorCode.VALIDATION_ERROR, refusal_text(generic_list))
            return
        if codes and (snapshot or regulatory):
            session.send_error(
                req_id,
                ErrorCode.VALIDATION_ERROR,
                error_text(
                    ErrorCode.VALIDATION_ERROR,
                    tag="bK",
                    detail="Snapshot market data subscription is not applicable to generic ticks",
                ),
            )
            return
        security = resolved.security
        view = _DataView(
            live=self.world.faults.has_live_data(security.symbol),
            requested=session.market_data_type,  # as when the request came
        )
        if not view.live and not view.delayed_wanted:
            session.send_error(
                req_id,
                ErrorCode.MARKET_DATA_NOT_SUBSCRIBED,
                error_text(
                    ErrorCode.MARKET_DATA_NOT_SUBSCRIBED,
                    detail=_subscription_name(resolved),
                ),
            )
            return
        session.send(msg.tick_req_params(req_id, security.min_tick, "9c0001", 3))
        if not view.live:
            session.send_error(req_id, ErrorCode.DISPLAYING_DELAYED_DATA)
        now = self.world.clock.now()
        data_type, at = view.at(self.world.market, now)
        feed = GenericTickFeed.start(
            self.world.market, security, codes, now=at, delayed=not view.live
        )
        quote: Quote | None = None
        if self.world.faults.is_silent(security.symbol):
            session.send(msg.market_data_type(req_id, _frozen(data_type)))
        else:
            session.send(msg.market_data_type(req_id, data_type))
            quote = self.world.market.quote(security.symbol, at)
            last_time = self.world.market.last_prints(security.symbol, at)[-1].time
            for fields in _quote_ticks(req_id, quote, None, _tick_ids(data_type), last_time):
                session.send(fields)
            for fields in feed.messages(req_id, quote, at):
                session.send(fields)
        if snapshot or regulatory:
            session.send(msg.tick_snapshot_end(req_id))
            return
        session.start_stream(
            ("mkt", req_id),
            self._ticks(session, req_id, security.symbol, _TickState(view, data_type, quote, feed)),
        )

    async def _ticks(
        self, session: ClientPort, req_id: int, symbol: str, state: _TickState
    ) -> None:
        """Send what changed since the last quote sent (``state.previous``: None when the symbol
        was withheld at the request), and the generic ticks that changed.

        While the symbol is withheld nothing is sent; when it goes silent or speaks again the
        change is announced with a marketDataType message, as IB does when a ticker switches
        between live and frozen data, and on resuming every value is sent (the client's are stale).
        The same announcement comes when frozen data starts at the end of trading or ends at its
        start (for a client that asked for frozen data).
        """
        clock = self.world.clock
        interval = self._interval(TICK_INTERVAL)
        silent = state.previous is None
        while True:
            await clock.sleep(interval)
            data_type, at = state.view.at(self.world.market, clock.now())
            if self.world.faults.is_silent(symbol):
                if not silent:
                    session.send(msg.market_data_type(req_id, _frozen(data_type)))
                    silent, state.previous = True, None
                continue
            if silent or data_type != state.data_type:
                session.send(msg.market_data_type(req_id, data_type))
                silent = False
            state.data_type = data_type
            quote = self.world.market.quote(symbol, at)
            last_time = self.world.market.last_prints(symbol, at)[-1].time
            ticks = _tick_ids(data_type)
            for fields in _quote_ticks(req_id, quote, state.previous, ticks, last_time):
                session.send(fields)
            for fields in state.feed.messages(req_id, quote, at):
                session.send(fields)
            state.previous = quote

    def cancel_mkt_data(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelMktData (2): stops a tick stream; 300 if the ticker id is unknown."""
        reader.integer()  # version
        req_id = reader.integer()
        if not session.stop_stream(("mkt", req_id)):
            session.send_error(req_id, ErrorCode.TICKER_ID_NOT_FOUND)

    # ---------------------------------------------------------------- real-time bars

    def req_real_time_bars(self, session: ClientPort, reader: FieldReader) -> None:
        """reqRealTimeBars (50): a 5-second bar at every 5-second boundary of simulated time."""
        reader.integer()  # version
        req_id = reader.integer()
        spec = read_contract(reader)
        reader.integer(default=5)  # barSize: IB only ever serves 5-second bars
        what_to_show_text = reader.text().upper()
        use_rth = reader.flag()
        reader.optional_text()  # realTimeBarsOptions
        resolved = self._resolve_or_200(session, req_id, spec)
        if resolved is None:
            return
        what_to_show = _SUPPORTED_WHAT_TO_SHOW.get(what_to_show_text)
        if what_to_show is None or what_to_show is WhatToShow.BID_ASK:
            session.send_error(
                req_id,
                ErrorCode.INVALID_REALTIME_QUERY,
                error_text(
                    ErrorCode.INVALID_REALTIME_QUERY,
                    detail=f"Unsupported whatToShow {what_to_show_text}",
                ),
            )
            return
        if not self.world.faults.has_live_data(resolved.security.symbol):
            session.send_error(
                req_id,
                ErrorCode.INVALID_REALTIME_QUERY,
                error_text(ErrorCode.INVALID_REALTIME_QUERY, detail=no_permission_text(resolved)),
            )
            return
        verdict = self.world.pacer.check_realtime_bars()
        if verdict is not None:
            self._pacing_refusal(session, req_id, verdict)
            return
        session.start_stream(
            ("rtb", req_id),
            self._realtime_bars(session, req_id, resolved.security.symbol, what_to_show, use_rth),
        )

    async def _realtime_bars(
        self,
        session: ClientPort,
        req_id: int,
        symbol: str,
        what_to_show: WhatToShow,
        use_rth: bool,
    ) -> None:
        clock = self.world.clock
        step = timedelta(seconds=REALTIME_BAR_SECONDS)
        next_start = _bar_start(clock.now(), seconds=REALTIME_BAR_SECONDS)
        while True:
            wait = (next_start + step - clock.now()).total_seconds()
            await clock.sleep(max(wait, self._interval(0.0)))
            now = clock.now()
            while next_start + step <= now:
                if self.world.market.is_trading(
                    next_start, outside_rth=not use_rth
                ) and not self.world.faults.is_silent(symbol):
                    bar = self.world.market.realtime_bar(symbol, next_start, what_to_show)
                    session.send(
                        msg.realtime_bar(
                            req_id,
                            epoch_seconds=int(bar.time.timestamp()),
                            open_=bar.open,
                            high=bar.high,
                            low=bar.low,
                            close=bar.close,
                            volume=bar.volume,
                            wap=bar.wap,
                            count=bar.count,
                        )
                    )
                next_start += step

    def cancel_real_time_bars(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelRealTimeBars (51): stops a real-time bar stream (unknown ids are ignored, as TWS does)."""
        reader.integer()  # version
        req_id = reader.integer()
        session.stop_stream(("rtb", req_id))

    # ---------------------------------------------------------------- fundamentals

    def req_fundamental_data(self, session: ClientPort, reader: FieldReader) -> None:
        """reqFundamentalData (52): one XML report; 430 when configured unavailable or unknown."""
        reader.integer()  # version
        req_id = reader.integer()
        spec = ContractSpec(
            con_id=reader.integer(default=0),
            symbol=reader.text(),
            sec_type=reader.text(),
            last_trade_date="",
            strike=None,
            right="",
            multiplier="",
            exchange=reader.text(),
            primary_exchange=reader.text(),
            currency=reader.text(),
            local_symbol=reader.text(),
            trading_class="",
        )
        report_type = reader.text()
        reader.integer(default=0)  # number of options
        reader.optional_text()  # options
        resolved = self._resolve_or_200(session, req_id, spec)
        if resolved is None:
            return
        security = resolved.security
        if report_type not in REPORT_TYPES:
            session.send_error(
                req_id,
                ErrorCode.FUNDAMENTALS_UNAVAILABLE,
                error_text(ErrorCode.FUNDAMENTALS_UNAVAILABLE, detail="Not allowed"),
            )
            return
        if self.world.config.fundamentals_unavailable(security.symbol, report_type):
            session.send_error(req_id, ErrorCode.FUNDAMENTALS_UNAVAILABLE)
            return
        verdict = self.world.pacer.check_fundamentals()
        if verdict is not None:
            self._pacing_refusal(session, req_id, verdict)
            return
        now = self.world.clock.now()
        xml = report_xml(
            report_type, security, price=self.world.market.price(security.symbol, now), as_of=now
        )
        session.send(msg.fundamental_data(req_id, xml))

    def cancel_fundamental_data(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelFundamentalData (53): reports are answered at once, nothing to stop."""
        reader.integer()  # version
        reader.integer()  # reqId


@dataclass(frozen=True, slots=True)
class _DataView:
    """Which data one market data request gets, from the type it asked for and the symbol's feed.

    Live data whenever the symbol has it (types 3 and 4 are then ignored, as IB ignores them);
    without it, delayed data (:data:`DELAYED_BY` old) for types 3 and 4, nothing for 1 and 2. Types
    2 and 4 ask for frozen data while no session trades (the last values, announced 2 or 4).
    """

    live: bool
    requested: int

    @property
    def delayed_wanted(self) -> bool:
        return self.requested >= 3

    def at(self, market: MarketSimulator, now: datetime) -> tuple[int, datetime]:
        """The marketDataType to announce at ``now`` and the instant whose data it shows."""
        if self.live:
            frozen = self.requested in (2, 4) and not market.is_trading(now, outside_rth=True)
            return (FROZEN_DATA if frozen else LIVE_DATA), now
        at = now - DELAYED_BY
        frozen = self.requested == DELAYED_FROZEN_DATA and not market.is_trading(
            at, outside_rth=True
        )
        return (DELAYED_FROZEN_DATA if frozen else DELAYED_DATA), at


@dataclass(slots=True)
class _TickState:
    """A quote stream's state: what it announced and the last quote it sent."""

    view: _DataView
    data_type: int
    previous: Quote | None
    feed: GenericTickFeed


async def _encode_cooperatively(
    steps: Iterator[SimBar | None], fields: Callable[[SimBar], msg.Fields]
) -> tuple[SimBar | None, int, bytes]:
    """Encode every bar's fields, pausing :data:`PAUSE_SECONDS` after each :data:`SLICE_SECONDS`.

    ``steps`` are bars or None (work that produced no bar yet; see ``MarketSimulator.bar_steps``).
    Returns the first bar (None when there is none), the count, and the encoded fields.
    """
    loop = asyncio.get_running_loop()
    pieces: list[bytes] = []
    first: SimBar | None = None
    slice_ends = loop.time() + SLICE_SECONDS
    for bar in steps:
        if bar is not None:
            if first is None:
                first = bar
            pieces.append(encode_fields(fields(bar)))
        if loop.time() >= slice_ends:
            await asyncio.sleep(PAUSE_SECONDS)
            slice_ends = loop.time() + SLICE_SECONDS
    return first, len(pieces), b"".join(pieces)


def _subscription_name(resolved: Resolved) -> str:
    """How IB names the missing subscription in 354: symbol, then listing venue /TOP/ALL."""
    venue = "NASDAQ.NMS" if resolved.security.primary_exchange == "NASDAQ" else "NYSE"
    return f"{resolved.security.symbol} {venue}/TOP/ALL"


def _tick_ids(data_type: int) -> dict[str, int]:
    """The tick type ids for a market data type: live (1, 2) or delayed (3, 4)."""
    return _DELAYED_TICKS if data_type >= 3 else _LIVE_TICKS


def _frozen(data_type: int) -> int:
    """The frozen counterpart of a market data type: 2 for live data, 4 for delayed."""
    return DELAYED_FROZEN_DATA if data_type >= 3 else FROZEN_DATA


def _bar_start(instant: datetime, *, seconds: int) -> datetime:
    """Start of the ``seconds``-long bar containing ``instant`` (bars aligned to the epoch)."""
    return datetime.fromtimestamp(math.floor(instant.timestamp() / seconds) * seconds, UTC)


def _update_window(bar_size: BarSize) -> timedelta:
    """A look-back that surely holds the bar in progress (days: across a weekend and a holiday)."""
    extra = timedelta(0) if bar_size.is_intraday else timedelta(days=10)
    return timedelta(seconds=3 * bar_size.seconds) + extra


def _quote_ticks(
    req_id: int, quote: Quote, previous: Quote | None, ticks: dict[str, int], last_time: int
) -> list[msg.Fields]:
    """The tick messages that bring a client from ``previous`` to ``quote`` (all of them if None);
    ``last_time`` is the epoch second of the last trade."""
    out: list[msg.Fields] = []

    def changed(*names: str) -> bool:
        return previous is None or any(getattr(quote, n) != getattr(previous, n) for n in names)

    if changed("bid", "bid_size"):
        out.append(msg.tick_price(req_id, ticks["bid"], quote.bid, quote.bid_size))
    if changed("ask", "ask_size"):
        out.append(msg.tick_price(req_id, ticks["ask"], quote.ask, quote.ask_size))
    if changed("last", "last_size", "volume"):
        out.append(msg.tick_price(req_id, ticks["last"], quote.last, quote.last_size))
        out.append(msg.tick_size(req_id, ticks["last_size"], quote.last_size))
        out.append(msg.tick_string(req_id, ticks["last_timestamp"], str(last_time)))
    if changed("volume"):
        out.append(msg.tick_size(req_id, ticks["volume"], quote.volume))
    out.extend(
        msg.tick_price(req_id, ticks[name], getattr(quote, name), 0)
        for name in ("high", "low", "open", "close")
        if changed(name) and getattr(quote, name) > 0
    )
    return out
