"""Generic ticks on reqMktData (ib_async): values consistent with the bars, IB's 321 for bad lists."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from ib_async import Stock

from tests.integration.sim_support import advance, connected, stopped_clock_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
KO = Stock("KO", "SMART", "USD", conId=8894)
# Tuesday 3 March 2026, 11:00 US/Eastern.
LATE_MORNING = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)


async def test_rt_volume_and_shortable() -> None:
    """233 sends RTVolume for the last trade (ib_async's rtVolume, rtTime, vwap), the day's volume
    and VWAP as the daily bar has them; 236 sends shortable 3.0 and 1% of the float to borrow."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, clock), connected(gw) as ib:
        ticker = ib.reqMktData(AAPL, "233,236")
        await until(lambda: ticker.shortableShares > 0 and ticker.rtVolume > 0, ticker.updateEvent)
        daily = await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 day", "TRADES", True)
        assert ticker.rtVolume == ticker.volume == daily[-1].volume
        assert ticker.vwap == pytest.approx(daily[-1].average, abs=1e-6)
        assert ticker.rtTime is not None
        assert ticker.rtTime.replace(microsecond=0) == LATE_MORNING - timedelta(seconds=1)
        assert ticker.shortable == 3.0
        assert ticker.shortableShares == round(14_900_000_000 * 0.01)
        before = ticker.rtTime
        await advance(clock, [ib], 1.0)
        assert ticker.rtTime > before  # a new trade, a new RTVolume


async def test_misc_stats_mark_and_last_rth_trade() -> None:
    """165's 13/26/52-week extremes and 90-session average volume are the daily bars'; 221's mark
    is the last trade inside the book; 318 the last regular-hours trade; 293 the day's trade count;
    294 and 295 the last minute's trades and shares; 595 the last 3/5/10 minutes' volume."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        ticker = ib.reqMktData(KO, "165,221,293,294,295,318,595")
        await until(
            lambda: ticker.high52week > 0 and ticker.tradeRate > 0 and ticker.volumeRate10Min > 0,
            ticker.updateEvent,
        )
        year = await ib.reqHistoricalDataAsync(KO, "", "1 Y", "1 day", "TRADES", True)
        today = LATE_MORNING.date()
        before = [b for b in year if b.date < today]
        weeks_52 = [b for b in before if b.date > before[-1].date - timedelta(weeks=52)] + [
            year[-1]
        ]
        weeks_13 = [b for b in before if b.date > before[-1].date - timedelta(weeks=13)] + [
            year[-1]
        ]
        assert ticker.high52week == max(b.high for b in weeks_52)
        assert ticker.low52week == min(b.low for b in weeks_52)
        assert ticker.high13week == max(b.high for b in weeks_13)
        assert ticker.low13week == min(b.low for b in weeks_13)
        assert ticker.avVolume == round(statistics.fmean(b.volume for b in before[-90:]))
        assert ticker.bid <= ticker.markPrice <= ticker.ask
        assert ticker.lastRthTrade == ticker.last
        assert ticker.tradeCount == year[-1].barCount
        minute = await ib.reqHistoricalDataAsync(KO, "", "60 S", "1 secs", "TRADES", True, 2)
        assert ticker.tradeRate == sum(b.barCount for b in minute)
        assert ticker.volumeRate == sum(b.volume for b in minute)
        ten = await ib.reqHistoricalDataAsync(KO, "", "600 S", "1 min", "TRADES", True, 2)
        assert ticker.volumeRate10Min == sum(b.volume for b in ten)
        assert ticker.volumeRate3Min == sum(b.volume for b in ten[-3:])


async def test_ratios_dividends_and_volatility() -> None:
    """258 sends the ReportSnapshot's ratios, 456 the dividends (a quarter of the annual rate
    next), 411 the annualised volatility of the last 30 sessions' closes."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        ticker = ib.reqMktData(KO, "258,456,411")
        await until(
            lambda: (
                ticker.fundamentalRatios is not None
                and ticker.dividends is not None
                and ticker.rtHistVolatility > 0
            ),
            ticker.updateEvent,
        )
        assert ticker.fundamentalRatios is not None
        ratios = vars(ticker.fundamentalRatios)
        price = await ib.reqHistoricalDataAsync(KO, "", "60 S", "1 secs", "TRADES", True)
        assert ratios["NPRICE"] == pytest.approx(price[-1].close, abs=1e-9)
        assert ratios["MKTCAP"] == pytest.approx(4_310_000_000 * ratios["NPRICE"] / 1e6, rel=1e-5)
        assert ratios["TTMDIVSHR"] == pytest.approx(1.94)
        dividends = ticker.dividends
        assert dividends is not None
        assert (dividends.past12Months, dividends.nextAmount) == (1.94, 0.485)
        assert dividends.nextDate is not None
        assert dividends.nextDate > LATE_MORNING.date()
        closes = await ib.reqHistoricalDataAsync(KO, "", "3 M", "1 day", "TRADES", True)
        before = [b.close for b in closes if b.date < LATE_MORNING.date()][-31:]
        returns = [math.log(b / a) for a, b in itertools.pairwise(before)]
        assert ticker.rtHistVolatility == pytest.approx(statistics.stdev(returns) * math.sqrt(252))


async def test_closing_auction_values() -> None:
    """In the last 10 minutes 225 sends the closing cross's volume (the last minute's, as its bar
    shows after the close), an indicative price inside the book and an imbalance."""
    ten_to_close = datetime(2026, 3, 3, 20, 52, tzinfo=UTC)  # 15:52 US/Eastern
    async with stopped_clock_gateway(ten_to_close) as (gw, clock), connected(gw) as ib:
        ticker = ib.reqMktData(AAPL, "225")
        await until(lambda: ticker.auctionVolume > 0, ticker.updateEvent)
        assert ticker.bid <= ticker.auctionPrice <= ticker.ask
        assert abs(ticker.auctionImbalance) <= 0.3 * ticker.auctionVolume
        announced = ticker.auctionVolume
        clock.advance(10 * 60)
        closing = await ib.reqHistoricalDataAsync(AAPL, "", "900 S", "1 min", "TRADES", True, 2)
        assert closing[-1].date == datetime(2026, 3, 3, 20, 59, tzinfo=UTC)
        assert closing[-1].volume == announced


async def test_a_bad_generic_tick_list_gets_ibs_321() -> None:
    """An unknown generic tick refuses the request with 321 listing the legal ones, and nothing
    else is sent; so are generic ticks on a snapshot."""
    async with stopped_clock_gateway(LATE_MORNING) as (gw, _clock), connected(gw) as ib:
        seen: list[tuple[int, str]] = []
        ib.errorEvent += lambda _r, code, text, _c: seen.append((code, text))
        ticker = ib.reqMktData(AAPL, "233,999")
        await ib.reqCurrentTimeAsync()
        ((code, text),) = seen
        assert code == 321
        assert text.startswith(
            "Error validating request.-'bQ' : cause - Incorrect generic tick list of 233,999.  "
            "Legal ones for (STK) are: 100(Option Volume),"
        )
        assert math.isnan(ticker.last)
        ib.reqMktData(KO, "233", snapshot=True)
        await ib.reqCurrentTimeAsync()
        assert seen[-1] == (
            321,
            "Error validating request.-'bK' : cause - "
            "Snapshot market data subscription is not applicable to generic ticks",
        )
