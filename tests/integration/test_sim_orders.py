"""Orders through the simulated gateway: the full lifecycle ib_async sees, fills, books and errors."""

from __future__ import annotations

import datetime as dt

from ib_async import IB, LimitOrder, MarketOrder, Stock, StopLimitOrder, StopOrder, Trade

from tests.integration.sim_support import WEEKEND_START, connected, running_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
JPM = Stock("JPM", "SMART", "USD", conId=1520593)


async def _done(trade: Trade) -> Trade:
    await until(trade.isDone, trade.statusEvent)
    return trade


async def test_market_order_fills_with_commission_position_and_portfolio() -> None:
    """MKT BUY: Submitted -> Filled, one fill at the ask, commission 1.00, position and portfolio."""
    async with running_gateway() as gw, connected(gw) as ib:
        commissions: list[float] = []
        ib.commissionReportEvent += lambda _t, _f, report: commissions.append(report.commission)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 100, orderRef="sma:d1"))
        await _done(trade)
        assert trade.orderStatus.status == "Filled"
        assert [e.status for e in trade.log][:2] == ["PendingSubmit", "Submitted"]
        assert trade.orderStatus.filled == 100
        assert trade.orderStatus.clientId == 1
        (fill,) = trade.fills
        assert fill.execution.side == "BOT"
        assert fill.execution.orderRef == "sma:d1"
        assert fill.execution.permId == trade.order.permId > 0
        await until(lambda: bool(commissions), ib.commissionReportEvent)
        assert commissions == [1.0]
        assert fill.commissionReport.commission == 1.0
        await until(lambda: bool(ib.portfolio()), ib.updatePortfolioEvent)
        (position,) = ib.positions()
        assert (position.contract.conId, position.position) == (265598, 100)
        (item,) = ib.portfolio()
        assert item.position == 100
        assert item.marketValue > 0
        truth = gw.truth()["exchange"]
        assert truth["positions"][0]["quantity"] == 100
        assert truth["executions"][0]["order_ref"] == "sma:d1"


async def test_sell_closes_the_position_with_realized_pnl() -> None:
    """Buying then selling flattens the position; the closing fill reports realized P&L."""
    async with running_gateway() as gw, connected(gw) as ib:
        await _done(ib.placeOrder(JPM, MarketOrder("BUY", 50)))
        sell = await _done(ib.placeOrder(JPM, MarketOrder("SELL", 50)))
        assert sell.orderStatus.status == "Filled"
        await until(lambda: sell.fills[0].commissionReport.execId != "", sell.commissionReportEvent)
        assert sell.fills[0].execution.side == "SLD"
        assert sell.fills[0].commissionReport.realizedPNL != 0
        await until(lambda: not ib.positions(), ib.positionEvent)


async def test_limit_orders_rest_fill_and_cancel() -> None:
    """A marketable LMT fills at once (commission, position, portfolio); a far LMT rests until cancelled."""
    async with running_gateway() as gw, connected(gw) as ib:
        quote = await ib.reqTickersAsync(AAPL)
        ask, bid = quote[0].ask, quote[0].bid
        marketable = await _done(ib.placeOrder(AAPL, LimitOrder("BUY", 10, round(ask + 1, 2))))
        assert marketable.orderStatus.status == "Filled"
        assert marketable.orderStatus.avgFillPrice <= ask + 1
        await _commission_reported(marketable)
        assert [f.commissionReport.commission for f in marketable.fills] == [1.0]
        await _holding(ib, AAPL, 10)
        resting = ib.placeOrder(AAPL, LimitOrder("BUY", 10, round(bid * 0.8, 2)))
        await until(lambda: resting.orderStatus.status == "Submitted", resting.statusEvent)
        errors: list[int] = []
        ib.errorEvent += lambda req_id, code, *_: errors.append(code)
        ib.cancelOrder(resting.order)
        await _done(resting)
        assert resting.orderStatus.status == "Cancelled"
        await until(lambda: 202 in errors, ib.errorEvent)
        assert gw.truth()["exchange"]["open_orders"] == []
        assert not resting.fills
        assert [p.position for p in ib.positions()] == [10]  # the cancelled order bought nothing


async def test_stop_orders_trigger() -> None:
    """A BUY STP below the market fills; a STP LMT rests PreSubmitted until touched, then closes it."""
    async with running_gateway() as gw, connected(gw) as ib:
        (ticker,) = await ib.reqTickersAsync(AAPL)
        triggered = await _done(ib.placeOrder(AAPL, StopOrder("BUY", 5, round(ticker.last - 1, 2))))
        assert triggered.orderStatus.status == "Filled"
        await _commission_reported(triggered)
        assert [f.commissionReport.commission for f in triggered.fills] == [1.0]
        await _holding(ib, AAPL, 5)
        stop = round(ticker.last * 0.9, 2)
        waiting = ib.placeOrder(AAPL, StopLimitOrder("SELL", 5, stop, stop))
        await until(lambda: waiting.orderStatus.status == "PreSubmitted", waiting.statusEvent)
        assert waiting.orderStatus.whyHeld == "trigger"
        result = gw.fill_order(1, waiting.order.orderId)
        assert result["executions"][0]["price"] == stop
        await _done(waiting)
        assert waiting.orderStatus.status == "Filled"
        assert waiting.orderStatus.avgFillPrice == stop
        await _commission_reported(waiting)
        (closing,) = waiting.fills
        assert closing.commissionReport.commission == 1.0
        assert closing.commissionReport.realizedPNL != 0
        await until(lambda: not ib.positions(), ib.positionEvent)
        await until(lambda: not ib.portfolio(), ib.updatePortfolioEvent)
        (book,) = gw.truth()["exchange"]["positions"]
        assert (book["symbol"], book["quantity"]) == ("AAPL", 0)


async def _commission_reported(trade: Trade) -> None:
    """Wait for the commission report of every fill of ``trade``."""
    await until(
        lambda: bool(trade.fills) and all(f.commissionReport.execId for f in trade.fills),
        trade.commissionReportEvent,
    )


async def _holding(ib: IB, contract: Stock, quantity: float) -> None:
    """Wait until both the position and the portfolio show ``quantity`` of ``contract``."""
    await until(
        lambda: (
            [(p.contract.conId, p.position) for p in ib.positions()] == [(contract.conId, quantity)]
        ),
        ib.positionEvent,
    )
    await until(
        lambda: (
            [(i.contract.conId, i.position) for i in ib.portfolio()] == [(contract.conId, quantity)]
        ),
        ib.updatePortfolioEvent,
    )
    (item,) = ib.portfolio()
    assert item.marketValue > 0


async def test_rejections_carry_ib_codes() -> None:
    """Injected rejection (201), insufficient buying power (201), fractional size, unknown contract
    (200), a child of an unknown parent (201)."""
    async with running_gateway() as gw, connected(gw) as ib:
        errors: list[tuple[int, int, str]] = []
        ib.errorEvent += lambda req_id, code, text, _c: errors.append((req_id, code, text))
        gw.reject_next_orders(1)
        rejected = await _done(ib.placeOrder(AAPL, MarketOrder("BUY", 1)))
        assert rejected.orderStatus.status == "Cancelled"
        assert errors[-1][:2] == (rejected.order.orderId, 201)
        too_big = await _done(ib.placeOrder(AAPL, MarketOrder("BUY", 100_000)))
        assert errors[-1][1] == 201
        assert "EQUITY WITH LOAN" in errors[-1][2]
        assert too_big.orderStatus.status == "Cancelled"
        fractional = await _done(ib.placeOrder(AAPL, MarketOrder("BUY", 1.5)))
        assert errors[-1][:2] == (fractional.order.orderId, 201)
        unknown = await _done(ib.placeOrder(Stock("NOPE", "SMART", "USD"), MarketOrder("BUY", 1)))
        assert errors[-1][:2] == (unknown.order.orderId, 200)
        orphan = LimitOrder("BUY", 1, 1.0)
        orphan.parentId = 1
        refused = await _done(ib.placeOrder(AAPL, orphan))
        assert errors[-1][1:] == (201, "Order rejected - reason:parent order 1 is not found")
        assert refused.orderStatus.status == "Cancelled"
        assert len(gw.truth()["exchange"]["rejections"]) == 4


async def test_orders_outside_trading_hours_wait() -> None:
    """On a weekend a market order is accepted but held PreSubmitted ('trading hours')."""
    async with running_gateway(start=WEEKEND_START) as gw, connected(gw) as ib:
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 1))
        await until(lambda: trade.orderStatus.status == "PreSubmitted", trade.statusEvent)
        assert trade.orderStatus.whyHeld == "trading hours"
        assert not trade.fills


async def test_what_if_previews_margin_and_commission() -> None:
    """whatIfOrder answers margin and commission without placing anything."""
    async with running_gateway() as gw, connected(gw) as ib:
        state = await ib.whatIfOrderAsync(AAPL, MarketOrder("BUY", 100))
        assert float(state.initMarginChange) > 0
        assert state.commission == 1.0
        assert gw.truth()["exchange"]["open_orders"] == []


async def test_modify_open_and_completed_orders_and_executions() -> None:
    """Modifying a resting LMT to marketable fills it; open/completed orders and executions replay."""
    async with running_gateway() as gw, connected(gw) as ib:
        (ticker,) = await ib.reqTickersAsync(AAPL)
        order = LimitOrder("BUY", 20, round(ticker.bid * 0.9, 2), orderRef="mod:1")
        trade = ib.placeOrder(AAPL, order)
        other = ib.placeOrder(JPM, LimitOrder("BUY", 1, 1.0))
        await until(lambda: trade.orderStatus.status == "Submitted", trade.statusEvent)
        open_orders = await ib.reqOpenOrdersAsync()
        assert {t.order.orderId for t in open_orders} == {trade.order.orderId, other.order.orderId}
        order.lmtPrice = round(ticker.ask + 1, 2)
        ib.placeOrder(AAPL, order)
        await _done(trade)
        assert trade.orderStatus.status == "Filled"
        completed = await ib.reqCompletedOrdersAsync(apiOnly=False)
        assert [(t.order.permId, t.orderStatus.status) for t in completed] == [
            (trade.order.permId, "Filled")
        ]
        fills = await ib.reqExecutionsAsync()
        assert [(f.execution.orderRef, f.execution.shares) for f in fills] == [("mod:1", 20)]
        assert [f.commissionReport.commission for f in ib.fills()] == [1.0]
        ib.reqGlobalCancel()
        await _done(other)
        assert other.orderStatus.status == "Cancelled"


async def test_all_open_orders_span_clients() -> None:
    """reqAllOpenOrders lists every client's orders; orderStatus goes only to the placing client."""
    async with running_gateway() as gw, connected(gw, 1) as first, connected(gw, 2) as second:
        trade = first.placeOrder(AAPL, LimitOrder("BUY", 1, 1.0))
        await until(lambda: trade.orderStatus.status == "Submitted", trade.statusEvent)
        everything = await second.reqAllOpenOrdersAsync()
        assert [(t.order.clientId, t.order.orderId) for t in everything] == [
            (1, trade.order.orderId)
        ]
        assert await second.reqOpenOrdersAsync() == []


async def test_day_orders_expire_at_the_close() -> None:
    """A resting DAY order is cancelled when the simulated session closes; a GTC order stays open."""
    start = dt.datetime(2026, 3, 2, 20, 58, 30, tzinfo=dt.UTC)  # 15:58:30 US/Eastern
    async with running_gateway(start=start, time_scale=120.0) as gw, connected(gw) as ib:
        day = ib.placeOrder(AAPL, LimitOrder("BUY", 1, 1.0, tif="DAY"))
        gtc = ib.placeOrder(AAPL, LimitOrder("BUY", 1, 1.0, tif="GTC"))
        await until(lambda: gtc.orderStatus.status == "Submitted", gtc.statusEvent)
        await _done(day)
        assert day.orderStatus.status == "Cancelled"
        assert not gtc.isDone()
        assert [o["order_id"] for o in gw.truth()["exchange"]["open_orders"]] == [gtc.order.orderId]
        assert gw.clock.now() >= dt.datetime(2026, 3, 2, 21, 0, tzinfo=dt.UTC)
