"""Market data types as IB applies them (ib_async): live first, delayed without a subscription,
frozen while no session trades."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ib_async import Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import (
    TRADING_START,
    connected,
    control,
    stopped_clock_gateway,
    until,
)

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
KO = Stock("KO", "SMART", "USD", conId=8894)
MSFT = Stock("MSFT", "SMART", "USD", conId=272093)
LIVE_TICKS = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14})
DELAYED_TICKS = frozenset(range(66, 77))


def _tick_types(ticker: Any) -> set[int]:
    seen: set[int] = set()
    ticker.updateEvent += lambda t: seen.update(tick.tickType for tick in t.ticks)
    return seen


def _errors(ib: Any) -> list[tuple[int, str]]:
    seen: list[tuple[int, str]] = []
    ib.errorEvent += lambda _req, code, text, _contract: seen.append((code, text))
    return seen


@pytest.mark.parametrize("data_type", [3, 4])
async def test_a_delayed_request_gets_live_data_when_the_symbol_has_it(data_type: int) -> None:
    """reqMarketDataType 3 or 4 is ignored while live data is available: marketDataType 1 and the
    live tick ids, as IB does."""
    async with stopped_clock_gateway(TRADING_START) as (gw, _clock), connected(gw) as ib:
        ib.reqMarketDataType(data_type)
        ticker = ib.reqMktData(AAPL)
        types = _tick_types(ticker)
        await until(lambda: ticker.last > 0 and ticker.volume > 0, ticker.updateEvent)
        assert ticker.marketDataType == 1
        assert {1, 2, 4, 8} <= types <= LIVE_TICKS
        assert ticker.lastTimestamp is not None
        assert ticker.delayedLastTimestamp is None


async def test_without_a_live_subscription_only_delayed_data_is_served() -> None:
    """After /no-subscription a live request gets 354 and nothing else; a delayed one the 10167
    warning, then the market of 15 minutes ago under the delayed tick ids (type 3). Tick data,
    bars and histograms need the live subscription, as at IB."""
    async with stopped_clock_gateway(TRADING_START) as (gw, clock), connected(gw) as ib:
        assert await control(gw, "POST", "/no-subscription", {"symbols": ["KO"]}) == (
            200,
            {"no_subscription": ["KO"]},
        )
        errors = _errors(ib)
        refused = ib.reqMktData(KO)
        await ib.reqCurrentTimeAsync()
        assert errors == [
            (
                354,
                "Requested market data is not subscribed.Delayed market data is available."
                "KO NYSE/TOP/ALL",
            )
        ]
        assert math.isnan(refused.last)
        ib.cancelMktData(KO)
        ib.reqMarketDataType(3)
        ticker = ib.reqMktData(KO)
        types = _tick_types(ticker)
        await until(lambda: ticker.last > 0 and ticker.bid > 0, ticker.updateEvent)
        assert errors[-1] == (
            10167,
            "Requested market data is not subscribed. Displaying delayed market data.",
        )
        assert ticker.marketDataType == 3
        assert {66, 67, 68, 74} <= types <= DELAYED_TICKS
        assert ticker.delayedLastTimestamp is not None

        no_permissions = "No market data permissions for NYSE STK"
        ib.reqTickByTickData(KO, "AllLast")
        await ib.reqCurrentTimeAsync()
        assert errors[-1] == (10189, f"Failed to request tick-by-tick data.{no_permissions}")
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalTicksAsync(KO, "", clock.now(), 10, "TRADES", True)
        assert (info.value.code, info.value.message) == (
            10187,
            f"Failed to request historical ticks:{no_permissions}",
        )
        with pytest.raises(RequestError) as info:
            await ib.reqHistogramDataAsync(KO, True, "1 day")
        assert info.value.code == 10188
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(KO, "", "1 D", "1 min", "TRADES", True)
        assert (
            info.value.message == f"Historical Market Data Service error message:{no_permissions}"
        )
        ib.reqRealTimeBars(KO, 5, "TRADES", True)
        await ib.reqCurrentTimeAsync()
        assert errors[-1] == (420, f"Invalid Real-time Query:{no_permissions}")

        assert await control(gw, "POST", "/no-subscription", {"release": True}) == (
            200,
            {"no_subscription": []},
        )
        delayed_by = clock.now() - timedelta(minutes=15)
        (then,) = (await ib.reqHistoricalTicksAsync(KO, "", delayed_by, 1, "TRADES", True))[-1:]
        assert ticker.last == then.price
        assert ticker.delayedLastTimestamp == then.time


async def test_frozen_data_after_the_close() -> None:
    """A client on frozen data (2) gets live data while a session trades, is told 2 when trading
    ends and keeps the last values; a live client (1) stays on 1; a request after the end is
    answered frozen at once. Delayed-frozen (4) follows the delayed clock, 15 minutes behind."""
    # Tuesday 3 March 2026, 19:59 US/Eastern: the last minute of the post-market session.
    late = datetime(2026, 3, 4, 0, 59, tzinfo=UTC)
    async with (
        stopped_clock_gateway(late) as (gw, clock),
        connected(gw, 1) as frozen,
        connected(gw, 2) as live,
    ):
        frozen.reqMarketDataType(2)
        mine = frozen.reqMktData(AAPL)
        theirs = live.reqMktData(AAPL)
        await until(lambda: mine.last > 0 and theirs.last > 0, mine.updateEvent)
        assert (mine.marketDataType, theirs.marketDataType) == (1, 1)
        clock.advance(90)
        await frozen.reqCurrentTimeAsync()
        await live.reqCurrentTimeAsync()
        assert (mine.marketDataType, theirs.marketDataType) == (2, 1)
        assert mine.last == theirs.last > 0
        assert mine.bid == theirs.bid > 0

        after = frozen.reqMktData(KO)
        await until(lambda: after.last > 0, after.updateEvent)
        assert after.marketDataType == 2

        gw.remove_live_subscription("MSFT")
        frozen.reqMarketDataType(4)
        delayed = frozen.reqMktData(MSFT)
        await until(lambda: delayed.last > 0, delayed.updateEvent)
        assert delayed.marketDataType == 3  # 15 minutes ago the session still traded
        clock.advance(15 * 60)
        await frozen.reqCurrentTimeAsync()
        assert delayed.marketDataType == 4
