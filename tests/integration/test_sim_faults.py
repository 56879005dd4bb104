"""Fault injection from tests: drops, restarts, notices, withheld End messages, delays, offline fills."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock

from tests.integration.sim_support import connected, running_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
MSFT = Stock("MSFT", "SMART", "USD", conId=272093)
KO = Stock("KO", "SMART", "USD", conId=8894)


async def test_drop_connections_and_reconnect_replays_executions() -> None:
    """After a drop the client sees the disconnect; reconnecting replays executions and positions."""
    async with running_gateway() as gw:
        ib = IB()
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 10, orderRef="keep:1"))
        await until(trade.isDone, trade.statusEvent)
        exec_id = trade.fills[0].execution.execId
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        assert gw.drop_connections() == 1
        async with asyncio.timeout(5):
            await dropped.wait()
        assert not ib.isConnected()
        await gw.wait_for_clients(lambda ids: 1 not in ids)
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
        assert [f.execution.execId for f in ib.fills()] == [exec_id]
        assert ib.fills()[0].execution.orderRef == "keep:1"
        assert ib.fills()[0].commissionReport.commission == 1.0
        assert [p.position for p in ib.positions()] == [10]
        ib.disconnect()


async def test_fill_while_disconnected_is_reconciled_on_reconnect() -> None:
    """A resting order filled while its client is away shows up as an execution after reconnect."""
    async with running_gateway() as gw:
        async with connected(gw, client_id=3) as ib:
            trade = ib.placeOrder(AAPL, LimitOrder("BUY", 7, 100.0, orderRef="away:1"))
            await until(lambda: trade.orderStatus.status == "Submitted", trade.statusEvent)
            order_id = trade.order.orderId
        await gw.wait_for_clients(lambda ids: 3 not in ids)
        result = gw.fill_order(3, order_id)
        assert result["client_connected"] is False
        assert result["executions"][0]["price"] == 100.0
        async with connected(gw, client_id=3) as again:
            (fill,) = again.fills()
            assert (fill.execution.orderId, fill.execution.shares) == (order_id, 7)
            assert fill.execution.orderRef == "away:1"
            assert [p.position for p in again.positions()] == [7]
            assert again.openTrades() == []
            completed = await again.reqCompletedOrdersAsync(apiOnly=True)
            assert [t.orderStatus.status for t in completed] == ["Filled"]
        with pytest.raises(ValueError, match="no open order"):
            gw.fill_order(3, order_id)


async def test_restart_refuses_connections_then_reopens() -> None:
    """restart(N): sockets dropped, connections refused for N seconds, then accepted again."""
    async with running_gateway() as gw, connected(gw) as ib:
        port = gw.port
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        assert await gw.restart(0.3) == 1
        async with asyncio.timeout(5):
            await dropped.wait()
        assert gw.refusing_connections
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            await gw.wait_until_accepting()
        again = IB()
        await again.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
        assert gw.port == port
        assert again.isConnected()
        again.disconnect()


@pytest.mark.parametrize("code", [1100, 1101, 1102, 2103, 2104, 2105, 2106, 2157, 2158])
async def test_system_notices_reach_every_client(code: int) -> None:
    """send_notice broadcasts 1100/1101/1102 and the farm notices with reqId -1."""
    async with running_gateway() as gw, connected(gw, 1) as first, connected(gw, 2) as second:
        seen: list[tuple[int, int]] = []
        for ib in (first, second):
            ib.errorEvent += lambda req_id, c, *_: seen.append((req_id, c))
        assert gw.send_notice(code) == 2
        await until(lambda: len(seen) == 2, second.errorEvent)
        await until(lambda: len(seen) == 2, first.errorEvent)
        assert seen == [(-1, code), (-1, code)]
        with pytest.raises(ValueError, match="not a system notice"):
            gw.send_notice(200)


async def test_1101_stops_every_market_data_stream() -> None:
    """1101 ("data lost") ends the ticks, real-time bars and keepUpToDate bars; IB forgets them."""
    async with running_gateway(time_scale=120.0) as gw, connected(gw) as ib:
        ib.RaiseRequestErrors = False
        ticker = ib.reqMktData(AAPL)
        realtime = ib.reqRealTimeBars(AAPL, 5, "TRADES", True)
        history = await ib.reqHistoricalDataAsync(
            AAPL, "", "1800 S", "1 min", "TRADES", True, 2, True
        )
        await until(lambda: ticker.last > 0, ticker.updateEvent)
        session = gw.hub.session_for(1)
        assert session is not None
        assert len(session.stream_keys()) == 3
        notices: list[int] = []
        ib.errorEvent += lambda req_id, code, *_: notices.append(code) if req_id == -1 else None
        assert gw.send_notice(1101) == 1
        assert session.stream_keys() == []
        await until(lambda: 1101 in notices, ib.errorEvent)
        refused: list[tuple[int, int]] = []
        ib.errorEvent += lambda req_id, code, *_: refused.append((req_id, code))
        ib.cancelMktData(ticker.contract)
        ib.cancelHistoricalData(history)
        ib.cancelRealTimeBars(realtime)  # unknown real-time bar ids are ignored, as TWS does
        # 300: no such ticker id; 366: no such historical query. The gateway had forgotten both.
        await until(lambda: len(refused) >= 2, ib.errorEvent)
        assert sorted(code for _, code in refused) == [300, 366]
        again = ib.reqMktData(AAPL)
        req_id = ib.wrapper.ticker2ReqId["mktData"][again]
        await until(lambda: session.has_stream(("mkt", req_id)), again.updateEvent)


async def test_withheld_end_messages_make_the_connect_sync_time_out() -> None:
    """Withholding positionEnd/execDetailsEnd makes ib_async's startup sync report those timeouts."""
    async with running_gateway() as gw:
        gw.withhold_end_messages("positionEnd", "execDetailsEnd")
        ib = IB()
        with pytest.raises(ConnectionError) as info:
            await ib.connectAsync(
                "127.0.0.1", gw.port, clientId=1, timeout=0.5, raiseSyncErrors=True
            )
        assert sorted(info.value.args[0]) == [
            "executions request timed out",
            "positions request timed out",
        ]
        with pytest.raises(ValueError, match="unknown End message"):
            gw.withhold_end_messages("noSuchEnd")
        gw.clear_faults()
        async with connected(gw) as fine:
            assert fine.isConnected()


async def test_delayed_replies() -> None:
    """delay_replies(N ms) holds every reply back at least that long."""
    async with running_gateway() as gw, connected(gw) as ib:
        gw.delay_replies(150)
        started = time.monotonic()
        await ib.reqCurrentTimeAsync()
        assert time.monotonic() - started >= 0.15
        gw.delay_replies(0)
        with pytest.raises(ValueError, match="negative"):
            gw.delay_replies(-1)


async def test_withheld_market_data_is_accepted_announced_frozen_and_silent() -> None:
    """A withheld symbol's subscriptions are accepted but get no ticks, bars or bar updates (a
    running stream goes quiet too) while other symbols flow; releasing it resumes everything."""
    async with running_gateway(time_scale=120.0) as gw, connected(gw) as ib:
        msft_bars = ib.reqRealTimeBars(MSFT, 5, "TRADES", True)
        await until(lambda: len(msft_bars) >= 1, msft_bars.updateEvent)  # running before the fault
        gw.withhold_market_data("msft")
        assert gw.truth()["faults"]["no_data"] == ["MSFT"]
        history = await ib.reqHistoricalDataAsync(
            MSFT, "", "1800 S", "1 min", "TRADES", True, 2, True
        )
        assert len(history) > 0  # history is still served
        updates: list[bool] = []
        history.updateEvent += lambda _bars, has_new: updates.append(has_new)
        silent = ib.reqMktData(MSFT)
        live = ib.reqMktData(AAPL)
        await ib.reqCurrentTimeAsync()  # a round trip: whatever was sent before the fault is in
        bars_before = len(msft_bars)
        aapl_bars = ib.reqRealTimeBars(AAPL, 5, "TRADES", True)
        await until(lambda: len(aapl_bars) >= 3 and live.last > 0, aapl_bars.updateEvent)
        assert len(msft_bars) == bars_before
        assert updates == []
        assert silent.marketDataType == 2  # announced as frozen
        assert math.isnan(silent.last)
        assert math.isnan(silent.bid)
        assert live.marketDataType == 1

        gw.release_market_data()
        await until(lambda: silent.last > 0 and silent.bid > 0, silent.updateEvent)
        assert silent.marketDataType == 1  # announced live again before the first tick
        await until(lambda: len(msft_bars) > bars_before, msft_bars.updateEvent)
        await until(lambda: bool(updates), history.updateEvent)


async def test_a_running_quote_stream_is_told_frozen_goes_quiet_and_resumes() -> None:
    """Withholding a symbol mid-stream: its ticker is told marketDataType 2 and gets no tick while
    another symbol's keep coming; releasing only that symbol announces live data and resends every
    value, while a symbol still withheld stays quiet."""
    async with running_gateway(time_scale=120.0) as gw, connected(gw) as ib:
        msft = ib.reqMktData(MSFT)
        ko = ib.reqMktData(KO)
        live = ib.reqMktData(AAPL)
        await until(lambda: msft.last > 0 and ko.last > 0 and live.last > 0, live.updateEvent)
        gw.withhold_market_data("MSFT", "KO")
        await until(lambda: msft.marketDataType == ko.marketDataType == 2, live.updateEvent)
        heard: dict[str, int] = {"MSFT": 0, "KO": 0}
        msft.updateEvent += lambda _t: heard.__setitem__("MSFT", heard["MSFT"] + 1)
        ko.updateEvent += lambda _t: heard.__setitem__("KO", heard["KO"] + 1)
        aapl_updates = 0

        def count() -> bool:
            nonlocal aapl_updates
            aapl_updates += 1
            return aapl_updates >= 20

        await until(count, live.updateEvent)
        assert heard == {"MSFT": 0, "KO": 0}

        msft.bid = math.nan  # the resumed stream must send every value again, not only changes
        gw.release_market_data("msft")
        assert gw.truth()["faults"]["no_data"] == ["KO"]
        await until(lambda: msft.bid > 0, msft.updateEvent)
        assert msft.marketDataType == 1
        heard["KO"] = 0
        aapl_updates = 0
        await until(count, live.updateEvent)
        assert heard["KO"] == 0
        assert ko.marketDataType == 2


async def test_a_withheld_snapshot_ends_with_no_values() -> None:
    """A snapshot of a withheld symbol ends (tickSnapshotEnd) with no price, announced frozen; a
    client asking for delayed data still gets the live (frozen) feed, and a symbol on delayed data
    only is told delayed-frozen (4)."""
    async with running_gateway() as gw, connected(gw) as ib:
        gw.withhold_market_data("MSFT")
        withheld, served = await ib.reqTickersAsync(MSFT, AAPL)
        assert withheld.marketDataType == 2
        assert math.isnan(withheld.last)
        assert math.isnan(withheld.bid)
        assert served.last > 0
        ib.reqMarketDataType(3)
        withheld.marketDataType = 0  # the same Ticker comes back: forget what it was told
        (still_live,) = await ib.reqTickersAsync(MSFT)
        assert still_live.marketDataType == 2
        gw.remove_live_subscription("MSFT")
        still_live.marketDataType = 0
        (delayed,) = await ib.reqTickersAsync(MSFT)
        assert delayed.marketDataType == 4
        assert math.isnan(delayed.last)


async def test_withholding_an_unknown_symbol_names_it() -> None:
    """Only symbols the gateway lists can be withheld or released, and at least one must be
    named; the error says what is wrong and nothing changes."""
    async with running_gateway(symbols=("AAPL", "MSFT")) as gw:
        with pytest.raises(
            ValueError, match=r"unknown symbol\(s\) ZZZ; this gateway lists AAPL, MSFT"
        ):
            gw.withhold_market_data("MSFT", "zzz")
        assert gw.truth()["faults"]["no_data"] == []
        with pytest.raises(ValueError, match="name the symbols"):
            gw.withhold_market_data()
        with pytest.raises(ValueError, match="blank"):
            gw.withhold_market_data("MSFT", " ")
        with pytest.raises(ValueError, match=r"unknown symbol\(s\) ZZZ"):
            gw.release_market_data("zzz")
        assert gw.truth()["faults"]["no_data"] == []
