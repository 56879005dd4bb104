"""Historical bars, streaming quotes, snapshots and real-time bars from the simulated market."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from ib_async import Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import (
    TRADING_START,
    RawClient,
    connected,
    running_gateway,
    until,
)

AAPL = Stock("AAPL", "SMART", "USD")


def _qualified(symbol: str, con_id: int) -> Stock:
    """A contract as qualifyContracts leaves it (ib_async's tickers need a conId)."""
    return Stock(symbol, "SMART", "USD", conId=con_id)


@pytest.mark.parametrize(
    ("duration", "bar_size", "intraday", "at_least"),
    [
        ("1800 S", "1 min", True, 30),
        ("2 D", "5 mins", True, 78 + 6),
        ("1 W", "1 hour", True, 30),
        ("1 M", "1 day", False, 18),
    ],
)
async def test_historical_bar_sizes(
    duration: str, bar_size: str, intraday: bool, at_least: int
) -> None:
    """Bars of several sizes come back aligned, with consistent OHLC and volume, up to the end."""
    end = "20260302 15:00:00 UTC"  # 10:00 US/Eastern, half an hour into the session
    async with running_gateway() as gw, connected(gw) as ib:
        bars = await ib.reqHistoricalDataAsync(AAPL, end, duration, bar_size, "TRADES", True)
        assert len(bars) >= at_least
        if intraday:
            assert all(b.date.second == 0 for b in bars)
            assert all(earlier.date < later.date for earlier, later in itertools.pairwise(bars))
            assert bars[-1].date < dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
        else:
            assert bars[-1].date == dt.date(2026, 3, 2)
        for bar in bars:
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.volume > 0
            assert bar.barCount > 0
        dates = [b.date for b in bars]
        assert dates == sorted(dates)


async def test_format_date_one_and_two() -> None:
    """formatDate 1 gives zoned datetimes (dates for daily bars); formatDate 2 gives UTC epoch times."""
    async with running_gateway() as gw, connected(gw) as ib:
        zoned = await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "5 mins", "TRADES", True, 1)
        epoch = await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "5 mins", "MIDPOINT", True, 2)
        daily = await ib.reqHistoricalDataAsync(AAPL, "", "5 D", "1 day", "TRADES", True, 2)
        first = zoned[0].date
        assert isinstance(first, dt.datetime)
        assert str(first.tzinfo) == "US/Eastern"
        assert first.astimezone(dt.UTC).date() == dt.date(2026, 3, 2)
        assert (first.hour, first.minute % 5, first.second) == (9, 0, 0)
        assert epoch[0].date == first.astimezone(dt.UTC)
        assert epoch[0].date.tzinfo == dt.UTC
        assert all(type(b.date) is dt.date for b in daily)
        assert daily[-1].date == dt.date(2026, 3, 2)


async def test_use_rth_and_what_to_show() -> None:
    """useRTH=0 adds pre-market bars; MIDPOINT and BID_ASK are served (BID_ASK without volume)."""
    async with running_gateway() as gw, connected(gw) as ib:
        rth = await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 hour", "TRADES", True)
        extended = await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 hour", "TRADES", False)
        assert len(extended) > len(rth)
        assert extended[0].date.hour == 4
        bid_ask = await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "5 mins", "BID_ASK", True)
        assert all(b.volume == -1 for b in bid_ask)
        assert all(b.low <= b.high for b in bid_ask)


async def test_historical_errors() -> None:
    """A bad end date gets 10314, a bad whatToShow 162, an unknown contract 200."""
    async with running_gateway() as gw, connected(gw) as ib:
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "yesterday", "1 D", "1 min", "TRADES", True)
        assert info.value.code == 10314
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 min", "SPREADS", True)
        assert info.value.code == 162
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(
                Stock("NOPE", "SMART", "USD"), "", "1 D", "1 min", "TRADES", True
            )
        assert info.value.code == 200
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "2 D", "1 secs", "TRADES", True)
        assert info.value.code == 162
        assert info.value.message == "Historical Market Data Service error message:invalid step: 1"


async def test_validation_errors_use_321_as_ib_does() -> None:
    """A malformed duration or bar size is refused with 321 (which ib_async treats as a warning)."""
    async with running_gateway() as gw:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=5)
        head = [
            "20",
            "61",
            "265598",
            "AAPL",
            "STK",
            "",
            "0",
            "",
            "",
            "SMART",
            "",
            "USD",
            "",
            "",
            "0",
            "",
        ]
        raw.send([*head, "1 min", "ten days", "1", "TRADES", "1", "0", ""])
        error = await raw.frame_with_id(4)
        while error[2] != "61":
            error = await raw.frame_with_id(4)
        assert error[3] == "321"
        assert "invalid duration" in error[4]
        raw.send([*head[:1], "62", *head[2:], "7 parsecs", "1 D", "1", "TRADES", "1", "0", ""])
        error = await raw.frame_with_id(4)
        assert error[2:4] == ["62", "321"]
        assert "bar size" in error[4]
        raw.send([*head[:1], "63", *head[2:], "1 min", "1 D", "1", "TRADES", "1", "1", ""])
        raw.send(["25", "1", "64"])  # cancelHistoricalData for an id that never streamed
        error = await raw.frame_with_id(4)
        assert error[2:4] == ["64", "366"]
        await raw.close()


async def test_keep_up_to_date_updates_the_last_bar() -> None:
    """keepUpToDate bars grow through historicalDataUpdate messages until cancelled."""
    async with running_gateway(time_scale=120.0) as gw, connected(gw) as ib:
        bars = await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "1 min", "TRADES", True, 2, True)
        initial_last = bars[-1].date
        updates: list[bool] = []
        bars.updateEvent += lambda _bars, has_new: updates.append(has_new)
        await until(lambda: any(updates), bars.updateEvent)
        assert bars[-1].date > initial_last
        assert bars[-1].volume > 0
        session = gw.hub.session_for(1)
        assert session is not None
        assert session.has_stream(("hist", bars.reqId))
        ib.cancelHistoricalData(bars)
        await ib.reqCurrentTimeAsync()  # a round trip: the cancel has been processed
        assert not session.has_stream(("hist", bars.reqId))


async def test_cancelling_a_history_answer_in_progress_stops_it() -> None:
    """cancelHistoricalData while a large answer is computed ends it: no bars, no error 366."""
    async with running_gateway(pacing=False) as gw:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=3)
        await raw.frame_with_id(9)
        contract = ["265598", "AAPL", "STK", "", "0", "", "", "SMART", "", "USD", "", ""]
        head = ["20", "70", *contract, "0", ""]
        raw.send([*head, "1 hour", "1 Y", "0", "TRADES", "1", "0", ""])
        raw.send(["25", "1", "70"])
        raw.send([*head[:1], "71", *head[2:], "1 hour", "1 D", "1", "TRADES", "1", "0", ""])
        seen = [await raw.next_frame()]
        while seen[-1][:2] != ["17", "71"]:
            seen.append(await raw.next_frame())
        assert not [f for f in seen if f[0] == "17" and f[1] == "70"]
        assert not [f for f in seen if f[0] == "4" and f[2] == "70"]
        session = gw.hub.session_for(3)
        assert session is not None
        assert not session.has_stream(("hist", 70))
        await raw.close()


async def test_streaming_ticks_update_the_ticker() -> None:
    """reqMktData streams bid/ask/last/sizes/volume; the ticker keeps moving; cancel stops it."""
    async with running_gateway(time_scale=120.0) as gw, connected(gw) as ib:
        ticker = ib.reqMktData(_qualified("AAPL", 265598))
        await until(
            lambda: ticker.bid > 0 and ticker.ask > 0 and ticker.last > 0, ticker.updateEvent
        )
        assert ticker.bid < ticker.ask
        assert ticker.bidSize > 0
        assert ticker.askSize > 0
        assert ticker.volume > 0
        assert ticker.high >= ticker.low > 0
        assert ticker.close > 0
        assert ticker.marketDataType == 1
        first_time = ticker.lastTimestamp
        await until(lambda: ticker.lastTimestamp != first_time, ticker.updateEvent)
        req_id = ib.wrapper.ticker2ReqId["mktData"][ticker]
        session = gw.hub.session_for(1)
        assert session is not None
        assert session.has_stream(("mkt", req_id))
        ib.cancelMktData(ticker.contract)
        await ib.reqCurrentTimeAsync()  # a round trip: the cancel has been processed
        assert not session.has_stream(("mkt", req_id))


async def test_snapshot_and_delayed_data() -> None:
    """reqTickers (snapshot) ends with tickSnapshotEnd; market data type 3 gives delayed ticks."""
    async with running_gateway() as gw, connected(gw) as ib:
        (ticker,) = await ib.reqTickersAsync(_qualified("MSFT", 272093))
        assert ticker.bid > 0
        assert ticker.last > 0
        assert ticker.volume > 0
        ib.reqMarketDataType(3)
        delayed = ib.reqMktData(_qualified("KO", 8894))
        await until(lambda: delayed.last > 0 and delayed.marketDataType == 3, delayed.updateEvent)
        assert delayed.delayedLastTimestamp is not None


async def test_realtime_bars_every_five_seconds() -> None:
    """reqRealTimeBars delivers consecutive 5-second bars of the simulated clock."""
    async with running_gateway(time_scale=120.0) as gw, connected(gw) as ib:
        bars = ib.reqRealTimeBars(AAPL, 5, "TRADES", True)
        await until(lambda: len(bars) >= 3, bars.updateEvent)
        times = [b.time for b in bars]
        assert all((b - a).total_seconds() == 5 for a, b in itertools.pairwise(times))
        assert times[0] >= TRADING_START
        assert all(b.low <= b.close <= b.high for b in bars)
        ib.cancelRealTimeBars(bars)


async def test_head_timestamp_is_the_first_trading_day() -> None:
    """reqHeadTimeStamp answers each stock's listing day (AAPL 12 Dec 1980), in IB's formats."""
    async with running_gateway() as gw, connected(gw) as ib:
        head = await ib.reqHeadTimeStampAsync(AAPL, "TRADES", True, 2)
        assert head == dt.datetime(1980, 12, 12, 14, 30, tzinfo=dt.UTC)
        meta = Stock("META", "SMART", "USD")
        # formatDate 1 is UTC "yyyymmdd-hh:mm:ss", which ib_async reads as a naive datetime
        assert await ib.reqHeadTimeStampAsync(meta, "TRADES", True, 1) == dt.datetime(
            2012, 5, 18, 13, 30
        )
        assert await ib.reqHeadTimeStampAsync(meta, "TRADES", False, 1) == dt.datetime(
            2012, 5, 18, 8, 0
        )
        # KO listed in 1919: its history starts with the simulated calendar (formatDate 1, as
        # ib_async reads an 8-digit epoch, any instant before March 1973, as yyyymmdd)
        ko = await ib.reqHeadTimeStampAsync(Stock("KO", "SMART", "USD"), "MIDPOINT", True, 1)
        assert ko == dt.datetime(1971, 1, 4, 14, 30)


async def test_no_history_before_the_listing() -> None:
    """Bars start where the head timestamp says; a window wholly before the listing gets 162."""
    async with running_gateway() as gw, connected(gw) as ib:
        meta = Stock("META", "SMART", "USD")
        bars = await ib.reqHistoricalDataAsync(
            meta, "20120601 00:00:00 UTC", "1 M", "1 day", "TRADES", True
        )
        assert bars[0].date == dt.date(2012, 5, 18)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(
                meta, "20120510 00:00:00 UTC", "1 M", "1 day", "TRADES", True
            )
        assert info.value.code == 162
        assert "HMDS query returned no data" in info.value.message
