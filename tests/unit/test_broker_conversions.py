"""Conversions between ib_async's plain data objects and ibbot models."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from ib_async import (
    BarData,
    CommissionReport,
    Contract,
    ContractDetails,
    Execution,
    RealTimeBar,
    Stock,
    Ticker,
    Trade,
    TradeLogEntry,
)
from ib_async import Fill as IBFill
from ib_async import Order as IBOrder
from ib_async import OrderStatus as IBOrderStatus
from ib_async.util import UNSET_DOUBLE

from ibbot.broker.conversions import (
    bar_start,
    contract_for,
    contract_info,
    fill_from_ib,
    ib_order,
    map_order_status,
    order_result,
    price_bar,
    realtime_price_bar,
    stock_contract,
    tick_from_ticker,
)
from ibbot.models import BarSize, ContractInfo, Order, OrderSide, OrderStatus, OrderType

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _details() -> ContractDetails:
    contract = Contract(
        conId=265598,
        symbol="AAPL",
        secType="STK",
        exchange="SMART",
        primaryExchange="NASDAQ",
        currency="USD",
    )
    return ContractDetails(
        contract=contract,
        longName="APPLE INC",
        industry="Technology",
        category="Computers",
        subcategory="Computers",
        minTick=0.01,
        timeZoneId="US/Eastern",
        tradingHours="20260302:0400-20260302:2000",
        liquidHours="20260302:0930-20260302:1600",
    )


def test_contract_info_from_details_and_back() -> None:
    """ContractDetails become ContractInfo, and ContractInfo a conId-pinned IB contract."""
    info = contract_info(_details())
    assert info == ContractInfo(
        symbol="AAPL",
        con_id=265598,
        long_name="APPLE INC",
        industry="Technology",
        category="Computers",
        subcategory="Computers",
        exchange="SMART",
        currency="USD",
        primary_exchange="NASDAQ",
        sec_type="STK",
        min_tick=0.01,
        time_zone="US/Eastern",
        trading_hours="20260302:0400-20260302:2000",
        liquid_hours="20260302:0930-20260302:1600",
    )
    contract = contract_for(info)
    assert (contract.conId, contract.symbol, contract.secType) == (265598, "AAPL", "STK")
    assert (contract.exchange, contract.primaryExchange, contract.currency) == (
        "SMART",
        "NASDAQ",
        "USD",
    )


def test_contract_info_needs_a_contract() -> None:
    """Details without a contract are refused with a clear error."""
    with pytest.raises(ValueError, match="without a contract"):
        contract_info(ContractDetails())


def test_stock_contract_defaults_to_smart_usd() -> None:
    """A bare symbol becomes a SMART-routed USD stock."""
    contract = stock_contract("MSFT")
    assert (contract.symbol, contract.secType, contract.exchange, contract.currency) == (
        "MSFT",
        "STK",
        "SMART",
        "USD",
    )


def test_bar_start_for_dates_and_datetimes() -> None:
    """Daily bars start at midnight UTC of the date; naive times are in the given zone."""
    assert bar_start(date(2026, 3, 2)) == datetime(2026, 3, 2, tzinfo=UTC)
    eastern = timezone(timedelta(hours=-5))
    assert bar_start(datetime(2026, 3, 2, 9, 30), time_zone=eastern) == datetime(
        2026, 3, 2, 14, 30, tzinfo=UTC
    )
    aware = datetime(2026, 3, 2, 9, 30, tzinfo=eastern)
    assert bar_start(aware) == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_price_bar_from_historical_bar() -> None:
    """A historical bar keeps OHLCV, wap and count, with a UTC start."""
    bar = BarData(
        date=datetime(2026, 3, 2, 14, 30, tzinfo=UTC),
        open=10.0,
        high=11.0,
        low=9.5,
        close=10.5,
        volume=1200,
        average=10.2,
        barCount=31,
    )
    out = price_bar(bar, "AAPL", BarSize.MIN_1)
    assert out.timestamp == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert (out.open, out.high, out.low, out.close, out.volume) == (10.0, 11.0, 9.5, 10.5, 1200.0)
    assert (out.wap, out.bar_count, out.bar_size) == (10.2, 31, BarSize.MIN_1)


def test_price_bar_no_value_markers() -> None:
    """IB's -1 for volume, average and count (MIDPOINT bars) become 0 / None."""
    bar = BarData(
        date=date(2026, 3, 2), open=1, high=2, low=1, close=2, volume=-1, average=-1, barCount=-1
    )
    out = price_bar(bar, "AAPL", BarSize.DAY_1)
    assert out.timestamp == datetime(2026, 3, 2, tzinfo=UTC)
    assert (out.volume, out.wap, out.bar_count) == (0.0, None, None)


def test_realtime_bar() -> None:
    """A 5-second real-time bar is a 5-secs PriceBar starting at the bar's time."""
    bar = RealTimeBar(
        time=datetime(2026, 3, 2, 14, 30, 5, tzinfo=UTC),
        open_=10.0,
        high=10.2,
        low=9.9,
        close=10.1,
        volume=300,
        wap=10.05,
        count=4,
    )
    out = realtime_price_bar(bar, "AAPL")
    assert out.bar_size is BarSize.SEC_5
    assert out.timestamp == datetime(2026, 3, 2, 14, 30, 5, tzinfo=UTC)
    assert (out.open, out.close, out.volume, out.wap, out.bar_count) == (
        10.0,
        10.1,
        300.0,
        10.05,
        4,
    )


def test_tick_from_ticker_maps_quotes_and_drops_markers() -> None:
    """Bid/ask/last come through; NaN and IB's -1 "no price" become None."""
    ticker = Ticker(contract=Stock("AAPL", "SMART", "USD"))
    ticker.time = datetime(2026, 3, 2, 14, 31, tzinfo=UTC)
    ticker.bid, ticker.bidSize = 100.0, 300.0
    ticker.ask, ticker.askSize = -1.0, 0.0
    ticker.last, ticker.lastSize = 100.05, 100.0
    ticker.volume = 12345.0
    tick = tick_from_ticker(ticker, "AAPL", now=NOW)
    assert tick is not None
    assert tick.timestamp == ticker.time
    assert (tick.bid, tick.bid_size) == (100.0, 300.0)
    assert (tick.ask, tick.ask_size) == (None, None)
    assert (tick.last, tick.last_size, tick.volume) == (100.05, 100.0, 12345.0)


def test_tick_from_empty_ticker_is_none_and_time_defaults_to_now() -> None:
    """An empty ticker gives no tick; a ticker without a time is stamped ``now``."""
    ticker = Ticker(contract=Stock("AAPL", "SMART", "USD"))
    assert tick_from_ticker(ticker, "AAPL", now=NOW) is None
    ticker.last = 5.0
    ticker.lastSize = math.nan
    tick = tick_from_ticker(ticker, "AAPL", now=NOW)
    assert tick is not None
    assert tick.timestamp == NOW
    assert tick.last_size is None


@pytest.mark.parametrize(
    ("ib_status", "filled", "remaining", "code", "expected"),
    [
        ("PendingSubmit", 0, 100, None, OrderStatus.PENDING),
        ("ApiPending", 0, 100, None, OrderStatus.PENDING),
        ("PreSubmitted", 0, 100, None, OrderStatus.SUBMITTED),
        ("Submitted", 0, 100, None, OrderStatus.SUBMITTED),
        ("Submitted", 40, 60, None, OrderStatus.PARTIALLY_FILLED),
        ("PendingCancel", 0, 100, None, OrderStatus.SUBMITTED),
        ("ValidationError", 0, 100, 399, OrderStatus.SUBMITTED),
        ("Filled", 100, 0, None, OrderStatus.FILLED),
        ("Cancelled", 0, 100, None, OrderStatus.CANCELLED),
        ("ApiCancelled", 0, 100, None, OrderStatus.CANCELLED),
        ("Cancelled", 0, 100, 202, OrderStatus.CANCELLED),
        ("Cancelled", 0, 100, 201, OrderStatus.REJECTED),
        ("Cancelled", 0, 100, 399, OrderStatus.CANCELLED),
        ("Cancelled", 0, 100, 161, OrderStatus.SUBMITTED),
        ("Cancelled", 30, 70, 10148, OrderStatus.PARTIALLY_FILLED),
        ("Inactive", 0, 100, None, OrderStatus.REJECTED),
        ("SomethingNew", 0, 100, None, OrderStatus.PENDING),
    ],
)
def test_map_order_status(
    ib_status: str, filled: float, remaining: float, code: int | None, expected: OrderStatus
) -> None:
    """IB's order states map onto ibbot's, never more optimistically than IB reports."""
    assert (
        map_order_status(ib_status, filled=filled, remaining=remaining, error_code=code) is expected
    )


def _trade(status: str, *, filled: float = 0, remaining: float = 0, avg: float = 0.0) -> Trade:
    order = IBOrder(orderId=12, permId=0, action="BUY", totalQuantity=100, orderType="MKT")
    order.orderRef = "value:d-42"
    order_status = IBOrderStatus(
        orderId=12, status=status, filled=filled, remaining=remaining, avgFillPrice=avg, permId=9001
    )
    return Trade(Stock("AAPL", "SMART", "USD"), order, order_status, [], [])


def _ib_fill(exec_id: str, shares: float, price: float, *, report: bool) -> IBFill:
    execution = Execution(
        execId=exec_id,
        time=datetime(2026, 3, 2, 14, 31, tzinfo=UTC),
        acctNumber="DU1234567",
        side="BOT",
        shares=shares,
        price=price,
        permId=9001,
        orderId=12,
        orderRef="value:d-42",
    )
    commission = (
        CommissionReport(execId=exec_id, commission=1.0, currency="USD", realizedPNL=0.0)
        if report
        else CommissionReport()
    )
    return IBFill(Stock("AAPL", "SMART", "USD"), execution, commission, execution.time)


def test_order_result_filled() -> None:
    """A filled trade reports FILLED with IB's average price, quantity, commission and attribution."""
    trade = _trade("Filled", filled=100, remaining=0, avg=101.5)
    trade.fills.extend(
        [_ib_fill("e1", 60, 101.0, report=True), _ib_fill("e2", 40, 102.25, report=True)]
    )
    result = order_result(trade, now=NOW)
    assert result.status is OrderStatus.FILLED
    assert (result.order_id, result.perm_id) == (12, 9001)
    assert (result.fill_price, result.fill_quantity, result.remaining) == (101.5, 100, 0.0)
    assert result.commission == 2.0
    assert (result.symbol, result.strategy_name, result.decision_id) == ("AAPL", "value", "d-42")
    assert result.timestamp == NOW
    assert result.message is None


def test_order_result_partial_fill_from_fills_only() -> None:
    """Without IB's averages the fills give quantity and VWAP; the status says partially filled."""
    trade = _trade("Submitted", filled=0, remaining=0)
    trade.fills.extend(
        [_ib_fill("e1", 30, 100.0, report=False), _ib_fill("e2", 10, 104.0, report=False)]
    )
    result = order_result(trade, now=NOW)
    assert result.status is OrderStatus.PARTIALLY_FILLED
    assert result.fill_quantity == 40
    assert result.fill_price == pytest.approx(101.0)
    assert result.remaining == 60
    assert result.commission is None


def test_order_result_submitted_has_no_fill_price() -> None:
    """A working order reports SUBMITTED and no fill price, never an assumed fill."""
    result = order_result(_trade("Submitted", remaining=100), now=NOW)
    assert result.status is OrderStatus.SUBMITTED
    assert (result.fill_price, result.fill_quantity, result.remaining) == (None, 0, 100)


def test_order_result_rejection_carries_ib_reason() -> None:
    """An order ib_async marked Cancelled after error 201 is REJECTED with IB's message."""
    trade = _trade("Cancelled", remaining=100)
    trade.log.append(TradeLogEntry(NOW, "PendingSubmit", ""))
    trade.log.append(
        TradeLogEntry(
            NOW, "Cancelled", "Error 201, reqId 12: Order rejected - reason: no funds", 201
        )
    )
    result = order_result(trade, now=NOW)
    assert result.status is OrderStatus.REJECTED
    assert result.message is not None
    assert "no funds" in result.message


def test_order_result_inactive_and_held() -> None:
    """Inactive is REJECTED with a message; a held order says why it is held."""
    inactive = order_result(_trade("Inactive", remaining=100), now=NOW)
    assert inactive.status is OrderStatus.REJECTED
    assert inactive.message == "IB reports the order Inactive"
    held = _trade("PreSubmitted", remaining=100)
    held.orderStatus.whyHeld = "locate"
    assert order_result(held, now=NOW).message == "held: locate"


def test_order_result_completed_order_without_quantities() -> None:
    """A completed order fetched after a reconnect (status Filled, no quantities) is fully filled."""
    trade = _trade("Filled")
    result = order_result(trade, now=NOW)
    assert result.status is OrderStatus.FILLED
    assert (result.fill_quantity, result.remaining, result.fill_price) == (100, 0.0, None)
    cancelled = _trade("Cancelled")
    cancelled.order.filledQuantity = 40.0
    partial = order_result(cancelled, now=NOW)
    assert partial.status is OrderStatus.CANCELLED
    assert (partial.fill_quantity, partial.remaining) == (40.0, 60.0)


def test_fill_from_ib_with_and_without_commission() -> None:
    """Executions become Fills attributed via orderRef; commission is None until reported."""
    fill = fill_from_ib(_ib_fill("e1", 60, 101.0, report=True))
    assert (fill.exec_id, fill.order_id, fill.perm_id, fill.symbol) == ("e1", 12, 9001, "AAPL")
    assert (fill.side, fill.quantity, fill.price) == (OrderSide.BUY, 60.0, 101.0)
    assert (fill.commission, fill.realized_pnl) == (1.0, 0.0)
    assert (fill.strategy_name, fill.decision_id, fill.account) == ("value", "d-42", "DU1234567")
    assert fill.timestamp == datetime(2026, 3, 2, 14, 31, tzinfo=UTC)
    bare = fill_from_ib(_ib_fill("e2", 1, 1.0, report=False))
    assert (bare.commission, bare.realized_pnl) == (None, None)


def test_fill_from_ib_sell_side_and_unknown_side() -> None:
    """SLD is a sell; an unknown side is refused rather than guessed."""
    ib_fill = _ib_fill("e3", 5, 50.0, report=False)
    ib_fill.execution.side = "SLD"
    assert fill_from_ib(ib_fill).side is OrderSide.SELL
    ib_fill.execution.side = "???"
    with pytest.raises(ValueError, match="unknown side"):
        fill_from_ib(ib_fill)


def test_ib_order_is_the_order_ib_asyncs_constructor_builds() -> None:
    """The ib_async Order built from a copy of its defaults has every field, in order, with the
    value its constructor gives, and lists of its own."""
    order = Order("value", "AAPL", OrderSide.BUY, 10, decision_id="d-1")
    built = ib_order(order)
    expected = IBOrder(
        action="BUY",
        totalQuantity=10.0,
        orderType="MKT",
        tif="DAY",
        orderRef="value:d-1",
        transmit=True,
    )
    assert list(vars(built).items()) == list(vars(expected).items())
    again = ib_order(order)
    assert again.algoParams is not built.algoParams
    assert again.softDollarTier is not built.softDollarTier


def test_ib_order_market_limit_stop() -> None:
    """Orders carry action, quantity, type, TIF, prices and the orderRef for attribution."""
    market = ib_order(Order("value", "AAPL", OrderSide.BUY, 10, decision_id="d-1"))
    assert (market.action, market.totalQuantity, market.orderType, market.tif) == (
        "BUY",
        10.0,
        "MKT",
        "DAY",
    )
    assert market.orderRef == "value:d-1"
    assert market.lmtPrice == UNSET_DOUBLE
    assert market.auxPrice == UNSET_DOUBLE
    limit = ib_order(Order("v", "AAPL", OrderSide.SELL, 5, OrderType.LIMIT, limit_price=101.0))
    assert (limit.action, limit.orderType, limit.lmtPrice) == ("SELL", "LMT", 101.0)
    stop_limit = ib_order(
        Order("v", "AAPL", "SELL", 5, OrderType.STOP_LIMIT, limit_price=99.0, stop_price=99.5)
    )
    assert (stop_limit.orderType, stop_limit.lmtPrice, stop_limit.auxPrice) == (
        "STP LMT",
        99.0,
        99.5,
    )
