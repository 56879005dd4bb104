"""Tick-by-tick data, historical ticks and histograms, checked against quotes and bars (ib_async)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from ib_async import (
    HistoricalTickBidAsk,
    HistoricalTickLast,
    Stock,
    TickByTickAllLast,
    TickByTickBidAsk,
    TickByTickMidPoint,
)
from ib_async.wrapper import RequestError

from tests.integration.sim_support import (
    TRADING_START,
    advance,
    connected,
    stopped_clock_gateway,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ib_async import BarData

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
JNJ = Stock("JNJ", "SMART", "USD", conId=8719)
KO = Stock("KO", "SMART", "USD", conId=8894)
# Monday 2 March 2026, 11:00 US/Eastern.
LATE_MORNING = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


def _errors(ib: Any) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, _contract: seen.append((req_id, code, text))
    return seen


def _collect(ticker: Any) -> list[Any]:
    """Every tick-by-tick tick of ``ticker`` from now on (ib_async keeps only a packet's worth)."""
    seen: list[Any] = []
    ticker.updateEvent += lambda t: seen.extend(t.tickByTicks)
    return seen


def _minutes(bars: Sequence[BarData], first: datetime, last: datetime) -> list[BarData]:
    """The bars wholly inside [first, last] (times as ib_async gives them: zoned)."""
    return [b for b in bars if b.date >= first and b.date + timedelta(minutes=1) <= last]


async def test_tick_by_tick_trades_are_the_tape_and_the_last_trade() -> None:
    """AllLast and Last stream the same trades, in order, that reqHistoricalTicks reports for
    those seconds, and the last of them is the last price and size reqMktData shows."""
    async with (
        stopped_clock_gateway(TRADING_START) as (gw, clock),
        connected(gw, 1) as ib,
        connected(gw, 2) as quotes,
    ):
        first = clock.now()
        all_last = _collect(ib.reqTickByTickData(AAPL, "AllLast"))
        last_only = _collect(ib.reqTickByTickData(KO, "Last"))
        market = quotes.reqMktData(AAPL)
        await advance(clock, [ib, quotes], 5.0)
        trades = [t for t in all_last if isinstance(t, TickByTickAllLast)]
        assert len(trades) > 20
        assert {t.tickType for t in trades} == {2}
        assert {t.tickType for t in last_only if isinstance(t, TickByTickAllLast)} == {1}
        history = await ib.reqHistoricalTicksAsync(AAPL, first, "", 1000, "TRADES", False)
        assert all(isinstance(t, HistoricalTickLast) for t in history)
        assert [(t.price, t.size, t.exchange, t.specialConditions) for t in history] == [
            (t.price, t.size, t.exchange, t.specialConditions) for t in trades
        ]
        assert history[-1].time == clock.now().replace(microsecond=0) - timedelta(seconds=1)
        assert (market.last, market.lastSize) == (trades[-1].price, trades[-1].size)
        assert market.lastTimestamp == history[-1].time


async def test_tick_by_tick_books_and_midpoints_follow_the_quote() -> None:
    """BidAsk starts with the book and then sends the book after every trade, as the BID_ASK
    historical ticks have it; MidPoint sends each new midpoint; both end where reqMktData's quote
    is."""
    async with (
        stopped_clock_gateway(TRADING_START) as (gw, clock),
        connected(gw, 1) as ib,
        connected(gw, 2) as quotes,
    ):
        first = clock.now()
        ticks = _collect(ib.reqTickByTickData(AAPL, "BidAsk"))
        ib.reqTickByTickData(AAPL, "MidPoint")
        market = quotes.reqMktData(AAPL)
        await advance(clock, [ib, quotes], 4.0)
        books = [t for t in ticks if isinstance(t, TickByTickBidAsk)]
        mids = [t.midPoint for t in ticks if isinstance(t, TickByTickMidPoint)]
        assert len(books) > 20
        assert all(b.bidPrice < b.askPrice for b in books)
        assert all(a != b for a, b in itertools.pairwise(mids))
        last = books[-1]
        assert (last.bidPrice, last.askPrice, last.bidSize, last.askSize) == (
            market.bid,
            market.ask,
            market.bidSize,
            market.askSize,
        )
        assert mids[-1] == pytest.approx((market.bid + market.ask) / 2, abs=1e-9)
        history = await ib.reqHistoricalTicksAsync(AAPL, first, "", 1000, "BID_ASK", False)
        assert all(isinstance(t, HistoricalTickBidAsk) for t in history)
        assert [(t.priceBid, t.priceAsk, t.sizeBid, t.sizeAsk) for t in history] == [
            (b.bidPrice, b.askPrice, b.bidSize, b.askSize) for b in books[1:]
        ]
        midpoints = await ib.reqHistoricalTicksAsync(AAPL, first, "", 1000, "MIDPOINT", False)
        assert [t.price for t in midpoints][-1] == mids[-1]
        assert {t.price for t in midpoints} <= {
            round((b.bidPrice + b.askPrice) / 2, 3) for b in books
        } | {mids[0]}


async def test_tick_by_tick_limit_and_refusals() -> None:
    """At most max_tick_by_tick subscriptions per account, across its clients (10190, IB's text);
    a tick type IB does not know is refused with 10189; a cancel frees a place."""
    async with (
        stopped_clock_gateway(TRADING_START, max_tick_by_tick=3) as (gw, _clock),
        connected(gw, 1) as ib,
        connected(gw, 2) as other,
    ):
        seen_ib, seen_other = _errors(ib), _errors(other)
        ib.reqTickByTickData(AAPL, "AllLast")
        ib.reqTickByTickData(KO, "BidAsk")
        other.reqTickByTickData(JNJ, "MidPoint")
        other.reqTickByTickData(AAPL, "Last")
        ib.reqTickByTickData(JNJ, "Trades")
        await other.reqCurrentTimeAsync()
        await ib.reqCurrentTimeAsync()
        assert [(code, text) for _, code, text in seen_other] == [
            (10190, "Max number of tick-by-tick requests has been reached.")
        ]
        assert [(code, text) for _, code, text in seen_ib] == [
            (10189, "Failed to request tick-by-tick data.Invalid tick type 'Trades'")
        ]
        ib.cancelTickByTickData(KO, "BidAsk")
        await ib.reqCurrentTimeAsync()
        other.reqTickByTickData(KO, "Last")
        await other.reqCurrentTimeAsync()
        assert len(seen_other) == 1


async def test_historical_trades_aggregate_to_the_bars() -> None:
    """TRADES ticks from a start are the trades of every 1-minute bar they span: open, high, low,
    close, volume and trade count, in regular hours (thin JNJ) and pre-market (AAPL)."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        for contract, start, use_rth in (
            (JNJ, datetime(2026, 3, 2, 15, 30, tzinfo=UTC), True),
            (AAPL, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), False),
        ):
            ticks = await ib.reqHistoricalTicksAsync(contract, start, "", 1000, "TRADES", use_rth)
            assert len(ticks) >= 1000
            assert ticks[0].time >= start
            bars = await ib.reqHistoricalDataAsync(
                contract, "", "1 D", "1 min", "TRADES", use_rth, 2
            )
            inside = _minutes(bars, ticks[0].time, ticks[-1].time)
            assert len(inside) >= 3
            for bar in inside:
                mine = [t for t in ticks if bar.date <= t.time < bar.date + timedelta(minutes=1)]
                prices = [t.price for t in mine]
                assert (prices[0], max(prices), min(prices), prices[-1]) == (
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                )
                assert sum(t.size for t in mine) == bar.volume
                assert len(mine) == bar.barCount


async def test_historical_books_make_the_bid_ask_and_midpoint_bars() -> None:
    """BID_ASK ticks' highest ask and lowest bid are each BID_ASK bar's high and low and their
    midpoints open, close and reach the MIDPOINT bar's extremes; the last MIDPOINT tick by a bar's
    end is its close."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
        books = await ib.reqHistoricalTicksAsync(JNJ, start, "", 1000, "BID_ASK", True)
        mids = await ib.reqHistoricalTicksAsync(JNJ, start, "", 1000, "MIDPOINT", True)
        bid_ask = await ib.reqHistoricalDataAsync(JNJ, "", "1 D", "1 min", "BID_ASK", True, 2)
        midpoint = await ib.reqHistoricalDataAsync(JNJ, "", "1 D", "1 min", "MIDPOINT", True, 2)
        inside = _minutes(bid_ask, books[0].time, min(books[-1].time, mids[-1].time))
        assert len(inside) >= 3
        by_time = {bar.date: bar for bar in midpoint}
        for bar in inside:
            end = bar.date + timedelta(minutes=1)
            mine = [t for t in books if bar.date <= t.time < end]
            assert (max(t.priceAsk for t in mine), min(t.priceBid for t in mine)) == (
                bar.high,
                bar.low,
            )
            values = [round((t.priceBid + t.priceAsk) / 2, 3) for t in mine]
            mid_bar = by_time[bar.date]
            assert (values[0], max(values), min(values), values[-1]) == (
                mid_bar.open,
                mid_bar.high,
                mid_bar.low,
                mid_bar.close,
            )
            assert [t.price for t in mids if t.time < end][-1] == mid_bar.close


async def test_historical_ticks_before_an_end_stay_in_one_session() -> None:
    """Ticks before an end are the last ones of that session, whole seconds (so at least the
    number asked for), never from the session before."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        end = datetime(2026, 3, 2, 14, 32, tzinfo=UTC)  # two minutes after the open
        ticks = await ib.reqHistoricalTicksAsync(JNJ, "", end, 1000, "TRADES", True)
        assert 0 < len(ticks) < 1000  # the session began two minutes earlier
        assert ticks[0].time == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
        assert ticks[-1].time < end
        last_ten = await ib.reqHistoricalTicksAsync(AAPL, "", end, 10, "TRADES", True)
        assert len(last_ten) >= 10
        assert last_ten[0].time == last_ten[-1].time == end - timedelta(seconds=1)


async def test_historical_ticks_refusals() -> None:
    """Both or neither of start and end, more than 1000 ticks or an unknown whatToShow get 10187
    with the reason; an unknown contract 200."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
        for args, reason in (
            ((start, start, 10, "TRADES"), "exactly one of startDateTime and endDateTime"),
            (("", "", 10, "TRADES"), "exactly one of startDateTime and endDateTime"),
            ((start, "", 1001, "TRADES"), "numberOfTicks must be 1 to 1000"),
            ((start, "", 10, "SPREADS"), "whatToShow must be one of TRADES, BID_ASK, MIDPOINT"),
        ):
            with pytest.raises(RequestError) as info:
                await ib.reqHistoricalTicksAsync(AAPL, *args, True)
            assert info.value.code == 10187
            assert info.value.message.startswith(f"Failed to request historical ticks:{reason}")
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalTicksAsync(
                Stock("NOPE", "SMART", "USD"), start, "", 10, "TRADES", True
            )
        assert info.value.code == 200


@pytest.mark.parametrize("use_rth", [True, False])
async def test_histogram_adds_up_to_the_volume_of_the_period(use_rth: bool) -> None:
    """The histogram's sizes add up to the volume of the daily bars of the same sessions (the
    last one so far), at prices inside their range, in ascending order."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        histogram = await ib.reqHistogramDataAsync(AAPL, use_rth, "3 days")
        daily = await ib.reqHistoricalDataAsync(AAPL, "", "3 D", "1 day", "TRADES", use_rth)
        assert len(daily) == 3
        assert sum(point.count for point in histogram) == sum(bar.volume for bar in daily)
        prices = [point.price for point in histogram]
        assert prices == sorted(prices)
        assert min(bar.low for bar in daily) <= prices[0]
        assert prices[-1] <= max(bar.high for bar in daily)
        assert len(histogram) > 100


async def test_histogram_refuses_a_bad_period() -> None:
    """A period that is not N days, weeks or months up to a year gets 10188 with the reason."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        for period in ("3 fortnights", "400 days", "0 weeks"):
            with pytest.raises(RequestError) as info:
                await ib.reqHistogramDataAsync(AAPL, True, period)
            assert info.value.code == 10188
            assert info.value.message.startswith("Failed to request histogram data:invalid period")
