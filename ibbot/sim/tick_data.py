"""Tick-by-tick data, historical ticks and histograms: the simulated tape, as IB serves it.

Every tick comes from :meth:`~ibbot.sim.market.MarketSimulator.prints`, the trades inside each
second of the same price path the bars, real-time bars and quotes are cut from: the TRADES ticks of
a bar's span aggregate to that bar (open, high, low, close, volume, trade count); a BID_ASK tick is
the book after each trade (every update: its sizes change with each trade; with ``ignoreSize`` only
those that moved a price), so the highest ask and lowest bid of a bar's BID_ASK ticks are its
BID_ASK bar's high and low and their midpoints aggregate to its MIDPOINT bar; a MIDPOINT tick is a
change of the midpoint. The last book of a second is the quote ``reqMktData`` shows for it.

IB's rules, as its documentation states them: ``reqTickByTickData`` types are ``Last``, ``AllLast``,
``BidAsk`` and ``MidPoint`` (case-sensitive; a stock has no combo or derivative trades, so Last and
AllLast are the same trades); simultaneous subscriptions are limited per account (10190 past
``max_tick_by_tick``); ``numberOfTicks`` (at most 1000) first sends that many historical ticks.
``reqHistoricalTicks`` takes exactly one of start and end, at most 1000 ticks, ticks of one trading
session, and completes the last second (so a little more than asked may come); ``TRADES``,
``BID_ASK`` and ``MIDPOINT`` only. ``reqHistogramData`` periods are ``N days`` (sessions), ``N weeks``
or ``N months``, up to a year; each 5-minute bar's volume is spread over the prices it traded at,
peaked at its VWAP, so the sizes add up to the period's volume exactly.

Where IB publishes no text for a refusal (a bad tick type, more than 1000 ticks, a bad period), the
gateway answers the request's own failure code (10189, 10187, 10188) with its reason appended, so a
client fails the request at once. Tick-by-tick streams run in simulated time: each update sends the
trades of the seconds completed since the last one; past :data:`MAX_TICKS_PER_UPDATE` (only at high
time scales) it sends the latest ones.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from ibbot.models import BarSize
from ibbot.sim import messages as msg
from ibbot.sim.calendar import EXCHANGE_TZ, FIRST_YEAR
from ibbot.sim.ibtime import parse_end_datetime
from ibbot.sim.protocol import ErrorCode, error_text
from ibbot.sim.requests import ContractSpec, read_contract

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ibbot.exchange import SimBar
    from ibbot.sim.contracts import Resolved
    from ibbot.sim.market import Print
    from ibbot.sim.ports import ClientPort
    from ibbot.sim.wire import FieldReader
    from ibbot.sim.world import World

__all__ = [
    "MAX_HISTORICAL_TICKS",
    "MAX_TICKS_PER_UPDATE",
    "TICK_BY_TICK_TYPES",
    "TickDataService",
    "no_permission_text",
]

log = structlog.get_logger(__name__)

TICK_BY_TICK_TYPES = {"Last": 1, "AllLast": 2, "BidAsk": 3, "MidPoint": 4}
MAX_HISTORICAL_TICKS = 1000
MAX_TICKS_PER_UPDATE = 100
# Simulated seconds between tick-by-tick updates (stretched at high time scales like every stream).
UPDATE_INTERVAL = 0.25
MIN_WALL_INTERVAL = 0.02
# Cooperative computing: work SLICE_SECONDS, then let the loop run others for PAUSE_SECONDS.
SLICE_SECONDS = 0.005
PAUSE_SECONDS = 0.001
_WHAT_TO_SHOW = ("TRADES", "BID_ASK", "MIDPOINT")
_PERIOD_RE = re.compile(r"^\s*(\d+)\s+(day|week|month)s?\s*$", re.IGNORECASE)
_MAX_PERIOD = {"day": 365, "week": 52, "month": 12}
_HISTOGRAM_BAR = BarSize.MIN_5
_MAX_HISTOGRAM_POINTS = 500
# The venues a US stock's trades print on (IB's exchange codes), assigned per trade; conditions as
# IB's time and sales shows them: "T" outside regular hours, "I" an odd lot (fewer than 100 shares).
_VENUES = ("NASDAQ", "NYSE", "ARCA", "BATS", "EDGX", "IEX", "DRCTEDGE", "FINRA")
_ROUND_LOT = 100


def no_permission_text(resolved: Resolved) -> str:
    """IB's reason for data refused without a market data subscription ("... for ISLAND STK")."""
    listing = "ISLAND" if resolved.security.primary_exchange == "NASDAQ" else "NYSE"
    return f"No market data permissions for {listing} STK"


@dataclass(slots=True)
class _Book:
    """The last book (``bid`` alone: the last midpoint) sent, for ticks that go out on a change."""

    bid: float = math.nan
    ask: float = math.nan


def _last_tick(trade: Print) -> msg.LastTick:
    conditions = " ".join(
        flag for flag, on in (("T", trade.extended), ("I", trade.size < _ROUND_LOT)) if on
    )
    venue = _VENUES[(trade.millis // 7 + trade.size) % len(_VENUES)]
    return msg.LastTick(trade.time, trade.price, trade.size, venue, conditions)


def _changed_books(
    prints: tuple[Print, ...], book: _Book, *, ignore_size: bool
) -> list[msg.QuoteTick]:
    """The book after each of ``prints``: every update, or with ``ignore_size`` only those that
    moved the bid or the ask (``book`` holds the last one sent)."""
    out: list[msg.QuoteTick] = []
    for trade in prints:
        if ignore_size and trade.bid == book.bid and trade.ask == book.ask:
            continue
        book.bid, book.ask = trade.bid, trade.ask
        out.append(msg.QuoteTick(trade.time, trade.bid, trade.ask, trade.bid_size, trade.ask_size))
    return out


def _changed_midpoints(prints: tuple[Print, ...], book: _Book) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for trade in prints:
        if trade.midpoint != book.bid:
            book.bid = trade.midpoint
            out.append((trade.time, trade.midpoint))
    return out


@dataclass(frozen=True, slots=True)
class _TickQuery:
    """What one second's prints become: TRADES, BID_ASK or MIDPOINT ticks."""

    what: str
    ignore_size: bool

    def ticks(self, prints: tuple[Print, ...], book: _Book) -> list[object]:
        if self.what == "TRADES":
            return [_last_tick(trade) for trade in prints]
        if self.what == "BID_ASK":
            return list(_changed_books(prints, book, ignore_size=self.ignore_size))
        return list(_changed_midpoints(prints, book))

    def message(self, req_id: int, ticks: list[object], *, done: bool) -> msg.Fields:
        if self.what == "TRADES":
            return msg.historical_ticks_last(
                req_id, [t for t in ticks if isinstance(t, msg.LastTick)], done=done
            )
        if self.what == "BID_ASK":
            return msg.historical_ticks_bid_ask(
                req_id, [t for t in ticks if isinstance(t, msg.QuoteTick)], done=done
            )
        return msg.historical_ticks(req_id, [t for t in ticks if isinstance(t, tuple)], done=done)


class TickDataService:
    """Handlers for reqTickByTickData, reqHistoricalTicks and reqHistogramData, and the streams."""

    def __init__(self, world: World) -> None:
        self.world = world

    # ---------------------------------------------------------------- helpers

    def _resolve(self, session: ClientPort, req_id: int, spec: ContractSpec) -> Resolved | None:
        resolved = self.world.contracts.resolve(spec)
        if resolved is None:
            session.send_error(req_id, ErrorCode.NO_SECURITY_DEFINITION)
            log.info("sim.ticks.unknown_contract", req_id=req_id, contract=spec.describe())
        return resolved

    def _tick_by_tick_count(self) -> int:
        return sum(
            1
            for client in self.world.clients.api_sessions()
            for key in client.stream_keys()
            if isinstance(key, tuple) and key and key[0] == "tbt"
        )

    def _backward(
        self, symbol: str, end: int, count: int, query: _TickQuery, *, use_rth: bool
    ) -> Iterator[list[object] | None]:
        """The last ``count`` ticks before epoch second ``end`` in one session, as steps.

        Each step is None (a second scanned) until the last: the ticks in time order, whole
        seconds. A book or midpoint tick is one that changed since the trade before it.
        """
        market = self.world.market
        span = market.session_seconds(symbol, end, use_rth=use_rth, forward=False)
        seconds: list[list[object]] = []
        found = 0
        for second in reversed(span or range(0)):
            book = _Book()
            query.ticks(market.prints(symbol, second - 1)[-1:], book)
            ticks = query.ticks(market.prints(symbol, second), book)
            seconds.append(ticks)
            found += len(ticks)
            if found >= count:
                break
            yield None
        yield [tick for ticks in reversed(seconds) for tick in ticks]

    def _forward(
        self, symbol: str, start: int, count: int, query: _TickQuery, *, use_rth: bool
    ) -> Iterator[list[object] | None]:
        """The first ``count`` ticks from epoch second ``start`` in one session, never past now."""
        market = self.world.market
        now = math.floor(self.world.clock.now().timestamp())
        span = market.session_seconds(symbol, start, use_rth=use_rth, forward=True)
        out: list[object] = []
        book = _Book()
        if span is not None:
            query.ticks(market.prints(symbol, span.start - 1)[-1:], book)
        for second in span or range(0):
            if second >= now or len(out) >= count:
                break
            out.extend(query.ticks(market.prints(symbol, second), book))
            yield None
        yield out

    # ---------------------------------------------------------------- tick-by-tick

    def req_tick_by_tick_data(self, session: ClientPort, reader: FieldReader) -> None:
        """reqTickByTickData (97): the trades or books as they print, after ``numberOfTicks``."""
        req_id = reader.integer()
        spec = read_contract(reader)
        tick_type = reader.text()
        number_of_ticks = reader.integer(default=0)
        ignore_size = reader.flag()
        if session.has_stream(("tbt", req_id)):
            session.send_error(req_id, ErrorCode.DUPLICATE_TICKER_ID)
            return
        resolved = self._resolve(session, req_id, spec)
        if resolved is None:
            return
        kind = TICK_BY_TICK_TYPES.get(tick_type)
        if kind is None:
            self._tbt_refusal(session, req_id, f"Invalid tick type {tick_type!r}")
            return
        if not 0 <= number_of_ticks <= MAX_HISTORICAL_TICKS:
            self._tbt_refusal(session, req_id, f"numberOfTicks must be 0 to {MAX_HISTORICAL_TICKS}")
            return
        symbol = resolved.security.symbol
        if not self.world.faults.has_live_data(symbol):
            self._tbt_refusal(session, req_id, no_permission_text(resolved))
            return
        if self._tick_by_tick_count() >= self.world.config.max_tick_by_tick:
            session.send_error(req_id, ErrorCode.TICK_BY_TICK_LIMIT)
            log.info("sim.ticks.tick_by_tick_limit", req_id=req_id, symbol=symbol)
            return
        what = "TRADES" if kind <= 2 else ("BID_ASK" if kind == 3 else "MIDPOINT")
        query = _TickQuery(what, ignore_size)
        session.start_stream(
            ("tbt", req_id),
            self._tick_by_tick(
                session, req_id, symbol, kind=kind, query=query, history=number_of_ticks
            ),
        )

    def _tbt_refusal(self, session: ClientPort, req_id: int, reason: str) -> None:
        session.send_error(
            req_id,
            ErrorCode.TICK_BY_TICK_FAILED,
            error_text(ErrorCode.TICK_BY_TICK_FAILED, detail=reason),
        )

    async def _tick_by_tick(
        self,
        session: ClientPort,
        req_id: int,
        symbol: str,
        *,
        kind: int,
        query: _TickQuery,
        history: int,
    ) -> None:
        clock, market, faults = self.world.clock, self.world.market, self.world.faults
        next_second = math.floor(clock.now().timestamp())
        if history:
            ticks = await _run(self._backward(symbol, next_second, history, query, use_rth=False))
            session.send(query.message(req_id, ticks, done=True))
        # the book now (BidAsk, MidPoint) is sent at once; trades come as they print
        book = _Book()
        current = query.ticks(market.last_prints(symbol, clock.now())[-1:], book)
        if kind >= 3 and not faults.is_silent(symbol):
            self._send_live(session, req_id, kind, current)
        interval = max(UPDATE_INTERVAL, MIN_WALL_INTERVAL * self.world.config.time_scale)
        while True:
            await clock.sleep(interval)
            done = math.floor(clock.now().timestamp())
            if done <= next_second:
                continue
            if faults.is_silent(symbol):
                next_second = done
                continue
            fresh: list[object] = []
            for second in range(max(next_second, done - MAX_TICKS_PER_UPDATE), done):
                fresh.extend(query.ticks(market.prints(symbol, second), book))
            next_second = done
            self._send_live(session, req_id, kind, fresh[-MAX_TICKS_PER_UPDATE:])

    @staticmethod
    def _send_live(session: ClientPort, req_id: int, kind: int, ticks: list[object]) -> None:
        for tick in ticks:
            if isinstance(tick, msg.LastTick):
                session.send(msg.tick_by_tick_last(req_id, kind, tick))
            elif isinstance(tick, msg.QuoteTick):
                session.send(msg.tick_by_tick_bid_ask(req_id, tick))
            elif isinstance(tick, tuple):
                session.send(msg.tick_by_tick_midpoint(req_id, tick[0], tick[1]))

    def cancel_tick_by_tick_data(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelTickByTickData (98): stops a tick-by-tick stream (unknown ids are ignored)."""
        req_id = reader.integer()
        session.stop_stream(("tbt", req_id))

    # ---------------------------------------------------------------- historical ticks

    def req_historical_ticks(self, session: ClientPort, reader: FieldReader) -> None:
        """reqHistoricalTicks (96): up to 1000 ticks from a start or before an end."""
        req_id = reader.integer()
        spec = read_contract(reader)
        reader.skip(1)  # includeExpired
        start_text = reader.text().strip()
        end_text = reader.text().strip()
        count = reader.integer(default=0)
        what = reader.text().strip().upper()
        use_rth = reader.flag()
        ignore_size = reader.flag()
        reader.optional_text()  # miscOptions
        resolved = self._resolve(session, req_id, spec)
        if resolved is None:
            return
        reason = self._historical_ticks_problem(start_text, end_text, count, what)
        if reason is None and not self.world.faults.has_live_data(resolved.security.symbol):
            reason = no_permission_text(resolved)
        now = self.world.clock.now()
        try:
            anchor = parse_end_datetime(start_text or end_text, now)
        except ValueError as exc:
            reason = reason or str(exc)
            anchor = now
        if reason is not None:
            session.send_error(
                req_id,
                ErrorCode.HISTORICAL_TICKS_FAILED,
                error_text(ErrorCode.HISTORICAL_TICKS_FAILED, detail=reason),
            )
            return
        symbol = resolved.security.symbol
        query = _TickQuery(what, ignore_size)
        if start_text:
            steps = self._forward(
                symbol, math.floor(anchor.timestamp()), count, query, use_rth=use_rth
            )
        else:
            end = math.floor(min(anchor, now).timestamp())
            steps = self._backward(symbol, end, count, query, use_rth=use_rth)
        session.start_stream(("hticks", req_id), self._answer_ticks(session, req_id, query, steps))

    @staticmethod
    def _historical_ticks_problem(start: str, end: str, count: int, what: str) -> str | None:
        if bool(start) == bool(end):
            return "exactly one of startDateTime and endDateTime must be set"
        if not 1 <= count <= MAX_HISTORICAL_TICKS:
            return f"numberOfTicks must be 1 to {MAX_HISTORICAL_TICKS}"
        if what not in _WHAT_TO_SHOW:
            return f"whatToShow must be one of {', '.join(_WHAT_TO_SHOW)}, not {what!r}"
        return None

    async def _answer_ticks(
        self,
        session: ClientPort,
        req_id: int,
        query: _TickQuery,
        steps: Iterator[list[object] | None],
    ) -> None:
        await session.flushed()
        ticks = await _run(steps)
        session.send(query.message(req_id, ticks, done=True))

    # ---------------------------------------------------------------- histogram

    def req_histogram_data(self, session: ClientPort, reader: FieldReader) -> None:
        """reqHistogramData (88): the volume traded at each price over a period up to now."""
        req_id = reader.integer()
        spec = read_contract(reader)
        reader.skip(1)  # includeExpired
        use_rth = reader.flag()
        period = reader.text()
        resolved = self._resolve(session, req_id, spec)
        if resolved is None:
            return
        now = self.world.clock.now()
        start: datetime | None = None
        reason = None
        if not self.world.faults.has_live_data(resolved.security.symbol):
            reason = no_permission_text(resolved)
        else:
            start = self._period_start(period, now, use_rth=use_rth)
            if start is None:
                reason = (
                    f"invalid period {period!r}: N days (up to 365), N weeks (52) or N months (12)"
                )
        if reason is not None or start is None:
            session.send_error(
                req_id,
                ErrorCode.HISTOGRAM_FAILED,
                error_text(ErrorCode.HISTOGRAM_FAILED, detail=reason or ""),
            )
            return
        security = resolved.security
        session.start_stream(
            ("histo", req_id),
            self._answer_histogram(
                session, req_id, security.symbol, (start, now), security.min_tick, use_rth=use_rth
            ),
        )

    def _period_start(self, period: str, now: datetime, *, use_rth: bool) -> datetime | None:
        match = _PERIOD_RE.match(period)
        if match is None:
            return None
        amount, unit = int(match.group(1)), match.group(2).lower()
        if not 1 <= amount <= _MAX_PERIOD[unit]:
            return None
        if unit == "week":
            return now - timedelta(weeks=amount)
        if unit == "month":
            local = now.astimezone(EXCHANGE_TZ)
            month = local.year * 12 + local.month - 1 - amount
            year, month = divmod(month, 12)
            return local.replace(year=year, month=month + 1, day=min(local.day, 28)).astimezone(UTC)
        calendar = self.world.market.calendar
        day = calendar.exchange_date(now)
        start = now
        found = 0
        while found < amount and day.year >= FIRST_YEAR:
            session = calendar.session(day)
            if session is not None and session.start(use_rth=use_rth) < now:
                start = session.start(use_rth=use_rth)
                found += 1
            day -= timedelta(days=1)
        return start

    async def _answer_histogram(
        self,
        session: ClientPort,
        req_id: int,
        symbol: str,
        window: tuple[datetime, datetime],
        tick: float,
        *,
        use_rth: bool,
    ) -> None:
        await session.flushed()
        steps = self.world.market.bar_steps(
            symbol, start=window[0], end=window[1], bar_size=_HISTOGRAM_BAR, use_rth=use_rth
        )
        volume_at: dict[int, int] = {}
        loop = asyncio.get_running_loop()
        slice_ends = loop.time() + SLICE_SECONDS
        for bar in steps:
            if bar is not None and bar.volume > 0:
                _spread(volume_at, bar, tick)
            if loop.time() >= slice_ends:
                await asyncio.sleep(PAUSE_SECONDS)
                slice_ends = loop.time() + SLICE_SECONDS
        session.send(msg.histogram_data(req_id, _buckets(volume_at, tick)))

    def cancel_histogram_data(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelHistogramData (89): stops an answer in progress (unknown ids are ignored)."""
        req_id = reader.integer()
        session.stop_stream(("histo", req_id))


async def _run(steps: Iterator[list[object] | None]) -> list[object]:
    """Take ``steps`` to their last (a result), pausing every :data:`SLICE_SECONDS`."""
    loop = asyncio.get_running_loop()
    slice_ends = loop.time() + SLICE_SECONDS
    result: list[object] = []
    for step in steps:
        if step is not None:
            result = step
        if loop.time() >= slice_ends:
            await asyncio.sleep(PAUSE_SECONDS)
            slice_ends = loop.time() + SLICE_SECONDS
    return result


def _spread(volume_at: dict[int, int], bar: SimBar, tick: float) -> None:
    """Add ``bar``'s volume over its prices from low to high, weighted 1 / (1 + ticks from its VWAP).

    Cumulative rounding keeps the total exact.
    """
    lo, hi = round(bar.low / tick), round(bar.high / tick)
    centre = bar.wap / tick
    volume = bar.volume
    weights = [1.0 / (1.0 + abs(level - centre)) for level in range(lo, hi + 1)]
    total = sum(weights)
    acc = 0.0
    given = 0
    for i, weight in enumerate(weights):
        acc += weight
        share = volume if i == len(weights) - 1 else round(volume * acc / total)
        if share > given:
            volume_at[lo + i] = volume_at.get(lo + i, 0) + share - given
            given = share


def _buckets(volume_at: dict[int, int], tick: float) -> list[tuple[float, int]]:
    """(price, volume) points, merged into at most :data:`_MAX_HISTOGRAM_POINTS` equal buckets."""
    if not volume_at:
        return []
    lo, hi = min(volume_at), max(volume_at)
    width = max(1, math.ceil((hi - lo + 1) / _MAX_HISTOGRAM_POINTS))
    merged: dict[int, int] = {}
    for level, volume in volume_at.items():
        bucket = lo + (level - lo) // width * width
        merged[bucket] = merged.get(bucket, 0) + volume
    return [(round(level * tick, 8), merged[level]) for level in sorted(merged)]
