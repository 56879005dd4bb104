"""The matching engine: IB's commissions, live and bar matching, rejections, exact bookkeeping."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from ibbot.exchange import (
    AccountChanged,
    CommissionReport,
    Exchange,
    ExchangeEvent,
    Execution,
    OrderAccepted,
    OrderRejected,
    OrderRequest,
    OrderStatusChanged,
    PositionChanged,
    Quote,
    SimBar,
    ib_fixed_commission,
)
from ibbot.models import OrderSide, OrderType, TimeInForce
from ibbot.sim.market import MarketSimulator
from ibbot.sim.universe import DEFAULT_UNIVERSE

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
E = TypeVar("E")
MKT, LMT, STP, STP_LMT = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT


def quote(
    last: float,
    *,
    bid: float | None = None,
    ask: float | None = None,
    volume: int = 10_000,
    sizes: tuple[int, int] = (500, 400),
    at: datetime = T0,
) -> Quote:
    return Quote(
        time=at,
        bid=bid if bid is not None else round(last - 0.01, 2),
        ask=ask if ask is not None else round(last + 0.01, 2),
        last=last,
        bid_size=sizes[0],
        ask_size=sizes[1],
        last_size=100,
        volume=volume,
        open=last,
        high=last,
        low=last,
        close=last,
    )


def bar(
    o: float, h: float, lo: float, c: float, *, volume: int = 100_000, at: datetime | None = None
) -> SimBar:
    return SimBar(at or T0 + timedelta(days=1), o, h, lo, c, volume, (h + lo) / 2, 100)


def req(
    order_id: int,
    action: OrderSide,
    quantity: float,
    order_type: OrderType = MKT,
    *,
    limit: float | None = None,
    stop: float | None = None,
    tif: TimeInForce = TimeInForce.DAY,
    symbol: str = "AAPL",
    client_id: int = 1,
    outside_rth: bool = False,
) -> OrderRequest:
    return OrderRequest(
        client_id=client_id,
        order_id=order_id,
        symbol=symbol,
        action=action,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit,
        stop_price=stop,
        tif=tif,
        order_ref=f"sma_cross:d-{order_id}",
        account="DU1234567",
        outside_rth=outside_rth,
    )


def of(events: list[ExchangeEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def rejection_code(events: list[ExchangeEvent]) -> int:
    (rejected,) = of(events, OrderRejected)
    return rejected.code


def fills(events: list[ExchangeEvent]) -> list[tuple[float, float]]:
    return [(e.quantity, e.price) for e in of(events, Execution)]


def status(events: list[ExchangeEvent]) -> str:
    states = [e.state.status for e in events if isinstance(e, OrderAccepted | OrderStatusChanged)]
    return states[-1]


@pytest.fixture
def ex() -> Exchange:
    return Exchange(slippage_bps=0.0, symbols=DEFAULT_UNIVERSE)


# ------------------------------------------------------------------------------- commissions


@pytest.mark.parametrize(
    ("quantity", "price", "expected"),
    [
        (100, 50.0, 1.00),  # 0.50 by the share, raised to the USD 1.00 minimum
        (1_000, 50.0, 5.00),  # 0.005 per share
        (300, 0.5, 1.50),  # 1.50 by the share, under 1% of 150
        (100, 0.5, 0.50),  # the 1% cap (of 50) beats the minimum
        (10_000, 0.2, 20.00),  # 50 by the share capped at 1% of 2000
        (0, 50.0, 0.0),
    ],
)
def test_ib_fixed_commission(quantity: float, price: float, expected: float) -> None:
    """USD 0.005 per share, at least USD 1.00, at most 1% of the trade value."""
    assert ib_fixed_commission(quantity, price) == pytest.approx(expected)


# ------------------------------------------------------------------------------- live matching


def test_market_orders_fill_at_the_touch_with_slippage() -> None:
    """Buys pay the ask plus slippage, sells get the bid minus it, rounded to 0.0001."""
    ex = Exchange(slippage_bps=10.0)
    events = ex.submit(req(1, BUY, 100), T0, quote(100.0, ask=100.2), market_open=True)
    assert [type(e) for e in events] == [
        OrderAccepted,
        Execution,
        CommissionReport,
        OrderStatusChanged,
        PositionChanged,
        AccountChanged,
    ]
    assert fills(events) == [(100, 100.3002)]  # 100.2 * 1.001
    assert status(events) == "Filled"
    events = ex.submit(req(2, SELL, 100), T0, quote(100.0, bid=99.95), market_open=True)
    assert fills(events) == [(100, 99.85)]


def test_limit_orders_fill_at_the_touch_when_marketable_else_at_the_limit(ex: Exchange) -> None:
    """A marketable limit gets the touch; a resting one waits for the touch and fills at its limit."""
    events = ex.submit(req(1, BUY, 100, LMT, limit=101.0), T0, quote(100.0), market_open=True)
    assert fills(events) == [(100, 100.01)]
    events = ex.submit(req(2, BUY, 100, LMT, limit=99.5), T0, quote(100.0), market_open=True)
    assert fills(events) == []
    assert status(events) == "Submitted"
    assert fills(ex.on_quote("AAPL", quote(99.6), T0, market_open=True)) == []
    events = ex.on_quote("AAPL", quote(99.4, ask=99.45), T0, market_open=True)
    assert fills(events) == [(100, 99.5)]
    assert status(events) == "Filled"
    events = ex.submit(req(3, SELL, 50, LMT, limit=100.0), T0, quote(99.4), market_open=True)
    assert fills(events) == []
    assert fills(ex.on_quote("AAPL", quote(100.2, bid=100.1), T0, market_open=True)) == [
        (50, 100.0)
    ]


def test_stop_orders_wait_for_the_trigger_then_trade_at_market(ex: Exchange) -> None:
    """A buy stop is PreSubmitted until the last trade reaches it, then fills at the ask."""
    events = ex.submit(req(1, BUY, 10, STP, stop=101.0), T0, quote(100.0), market_open=True)
    state = of(events, OrderAccepted)[0].state
    assert (state.status, state.why_held) == ("PreSubmitted", "trigger")
    assert ex.on_quote("AAPL", quote(100.9), T0, market_open=True) == []
    events = ex.on_quote("AAPL", quote(101.0, ask=101.03), T0, market_open=True)
    assert of(events, OrderStatusChanged)[0].reason == "stop triggered"
    assert fills(events) == [(10, 101.03)]
    ex.submit(req(2, SELL, 10, STP, stop=99.0), T0, quote(100.0), market_open=True)
    assert fills(ex.on_quote("AAPL", quote(98.7, bid=98.69), T0, market_open=True)) == [(10, 98.69)]


def test_stop_limit_becomes_a_limit_order_when_triggered(ex: Exchange) -> None:
    """A triggered stop-limit fills only within its limit, and rests otherwise."""
    ex.submit(req(1, BUY, 10, STP_LMT, stop=101.0, limit=101.2), T0, quote(100.0), market_open=True)
    events = ex.on_quote("AAPL", quote(101.5, ask=101.55), T0, market_open=True)
    assert fills(events) == []
    assert status(events) == "Submitted"
    assert fills(ex.on_quote("AAPL", quote(101.1, ask=101.15), T0, market_open=True)) == [
        (10, 101.2)
    ]
    ex.submit(req(2, SELL, 10, STP_LMT, stop=99.0, limit=98.8), T0, quote(100.0), market_open=True)
    assert fills(ex.on_quote("AAPL", quote(98.95, bid=98.9), T0, market_open=True)) == [(10, 98.9)]


def test_orders_outside_trading_hours_wait(ex: Exchange) -> None:
    """Outside RTH an order is PreSubmitted; it fills at the open, or in extended hours if allowed."""
    events = ex.submit(req(1, BUY, 10), T0, quote(100.0), market_open=False, extended_open=True)
    state = of(events, OrderAccepted)[0].state
    assert (state.status, state.why_held) == ("PreSubmitted", "trading hours")
    assert fills(events) == []
    events = ex.on_quote("AAPL", quote(100.5), T0, market_open=True)
    assert fills(events) == [(10, 100.51)]
    events = ex.submit(
        req(2, BUY, 10, outside_rth=True), T0, quote(100.0), market_open=False, extended_open=True
    )
    assert fills(events) == [(10, 100.01)]


def test_partial_fills_are_capped_by_volume_and_pay_the_minimum_once() -> None:
    """Each update fills a share of the traded volume; the USD 1 minimum is charged on the first fill."""
    ex = Exchange(slippage_bps=0.0, max_fill_fraction_of_volume=0.1)
    ex.on_quote("AAPL", quote(100.0, volume=10_000), T0, market_open=True)
    events = ex.submit(
        req(1, BUY, 300), T0, quote(100.0, volume=10_000, sizes=(500, 1_000)), market_open=True
    )
    assert fills(events) == [(100, 100.01)]  # first look: 10% of the 1,000 shares offered
    assert status(events) == "Submitted"
    assert of(events, CommissionReport)[0].commission == pytest.approx(1.0)
    events = ex.on_quote("AAPL", quote(100.0, volume=11_500), T0, market_open=True)
    assert fills(events) == [(150, 100.01)]  # 10% of the 1,500 traded since
    assert of(events, CommissionReport)[0].commission == pytest.approx(0.25)  # 1.25 total
    events = ex.on_quote("AAPL", quote(100.0, volume=13_000), T0, market_open=True)
    assert fills(events) == [(50, 100.01)]
    assert status(events) == "Filled"
    assert of(events, Execution)[0].cum_qty == 300
    assert of(events, CommissionReport)[0].commission == pytest.approx(0.25)  # 1.50 for 300 shares


# ------------------------------------------------------------------------------- bar matching


def test_market_order_fills_at_the_next_bar_open() -> None:
    """An order submitted before a bar fills at its open (with slippage), stamped with its start."""
    ex = Exchange(slippage_bps=5.0)
    ex.submit(req(1, BUY, 100), T0, None, market_open=True)
    assert ex.on_bar("AAPL", bar(100, 101, 99, 100.5, at=T0 - timedelta(minutes=1))) == []
    events = ex.on_bar("AAPL", bar(100, 101, 99, 100.5))
    assert fills(events) == [(100, 100.05)]
    assert of(events, Execution)[0].time == T0 + timedelta(days=1)


@pytest.mark.parametrize(
    ("action", "limit", "ohlc", "expected"),
    [
        (BUY, 100.0, (99.0, 99.5, 98.0, 99.2), 99.0),  # gapped below the limit: the open is better
        (BUY, 100.0, (101.0, 101.5, 99.8, 100.9), 100.0),  # the range reached the limit
        (BUY, 100.0, (101.0, 101.5, 100.2, 100.9), None),  # never reached
        (SELL, 100.0, (101.0, 101.5, 100.5, 101.2), 101.0),  # gapped above a sell limit
        (SELL, 100.0, (99.0, 100.3, 98.5, 99.1), 100.0),
        (SELL, 100.0, (99.0, 99.9, 98.5, 99.1), None),
    ],
)
def test_limit_orders_on_bars(
    ex: Exchange,
    action: OrderSide,
    limit: float,
    ohlc: tuple[float, float, float, float],
    expected: float | None,
) -> None:
    """A gap through the limit fills at the open; a range that reaches it fills at the limit."""
    ex.submit(req(1, action, 10, LMT, limit=limit), T0, None, market_open=True)
    got = fills(ex.on_bar("AAPL", bar(*ohlc)))
    assert got == ([] if expected is None else [(10, expected)])


@pytest.mark.parametrize(
    ("action", "stop", "ohlc", "expected"),
    [
        (BUY, 100.0, (101.0, 102.0, 100.5, 101.5), 101.0),  # gapped through: the worse open
        (BUY, 100.0, (99.0, 100.4, 98.5, 100.2), 100.0),
        (BUY, 100.0, (99.0, 99.9, 98.5, 99.2), None),
        (SELL, 100.0, (98.0, 99.0, 97.0, 98.5), 98.0),
        (SELL, 100.0, (101.0, 101.5, 99.5, 100.2), 100.0),
    ],
)
def test_stop_orders_on_bars(
    ex: Exchange,
    action: OrderSide,
    stop: float,
    ohlc: tuple[float, float, float, float],
    expected: float | None,
) -> None:
    """A stop fills at the open when gapped through, at the stop when the range reaches it."""
    ex.submit(req(1, action, 10, STP, stop=stop), T0, None, market_open=True)
    events = ex.on_bar("AAPL", bar(*ohlc))
    assert fills(events) == ([] if expected is None else [(10, expected)])
    if expected is not None:
        assert of(events, OrderStatusChanged)[0].reason == "stop triggered"


def test_stop_limit_on_bars(ex: Exchange) -> None:
    """Triggered in a bar, a stop-limit fills within its limit, else rests as a limit order."""
    ex.submit(req(1, BUY, 10, STP_LMT, stop=100.0, limit=100.5), T0, None, market_open=True)
    assert fills(ex.on_bar("AAPL", bar(99.0, 100.8, 98.9, 100.6))) == [(10, 100.0)]
    ex.submit(req(2, BUY, 10, STP_LMT, stop=100.0, limit=99.5), T0, None, market_open=True)
    assert fills(ex.on_bar("AAPL", bar(99.0, 100.8, 99.6, 100.6))) == []  # triggered, limit unmet
    assert ex.open_orders()[0].status == "Submitted"
    assert fills(ex.on_bar("AAPL", bar(100.0, 100.2, 99.4, 99.6))) == [(10, 99.5)]
    ex.submit(req(3, SELL, 10, STP_LMT, stop=99.0, limit=98.0), T0, None, market_open=True)
    assert fills(ex.on_bar("AAPL", bar(97.5, 98.2, 97.0, 97.6))) == [(10, 98.0)]


def test_no_fill_on_a_bar_without_volume(ex: Exchange) -> None:
    """A zero-volume bar fills nothing; the next bar with volume does."""
    ex.submit(req(1, BUY, 10), T0, None, market_open=True)
    assert ex.on_bar("AAPL", bar(100, 100, 100, 100, volume=0)) == []
    assert fills(ex.on_bar("AAPL", bar(100.2, 101, 100, 100.5))) == [(10, 100.2)]


def test_partial_fills_on_bars() -> None:
    """At most the set fraction of each bar's volume fills, shared in submission order."""
    ex = Exchange(slippage_bps=0.0, max_fill_fraction_of_volume=0.01)
    ex.submit(req(1, BUY, 1_500), T0, None, market_open=True)
    ex.submit(req(2, BUY, 100), T0, None, market_open=True)
    events = ex.on_bar("AAPL", bar(100, 101, 99, 100, volume=100_000))
    assert fills(events) == [(1_000, 100.0)]
    events = ex.on_bar("AAPL", bar(101, 102, 100, 101, volume=100_000))
    assert fills(events) == [(500, 101.0), (100, 101.0)]
    assert [o.status for o in ex.completed_orders()] == ["Filled", "Filled"]
    assert ex.completed_orders()[0].avg_fill_price == pytest.approx((1000 * 100 + 500 * 101) / 1500)


def test_day_orders_expire_at_the_close_and_gtc_orders_survive(ex: Exchange) -> None:
    """expire_day_orders ends DAY orders submitted before the close; GTC and later ones stay."""
    ex.submit(req(1, BUY, 10, LMT, limit=90.0), T0, quote(100.0), market_open=True)
    ex.submit(req(2, BUY, 10, LMT, limit=90.0, tif=TimeInForce.GTC), T0, None, market_open=True)
    ex.submit(req(3, BUY, 10, LMT, limit=90.0, outside_rth=True), T0, None, market_open=True)
    close = T0 + timedelta(hours=1)
    ex.submit(req(4, BUY, 10, LMT, limit=90.0), close + timedelta(hours=2), None, market_open=False)
    events = ex.expire_day_orders(close)
    assert [(e.state.request.order_id, e.state.status, e.reason) for e in events] == [
        (1, "Cancelled", "DAY order expired")
    ]
    events = ex.expire_day_orders(close + timedelta(hours=4), extended_hours_close=True)
    assert [e.state.request.order_id for e in events] == [3, 4]
    assert [s.request.order_id for s in ex.open_orders()] == [2]
    assert fills(ex.on_bar("AAPL", bar(95, 96, 89, 92))) == [(10, 90.0)]


# ------------------------------------------------------------------------------- cancels and rejections


def test_cancel(ex: Exchange) -> None:
    """A working order cancels; an unknown id gets 10147; a finished order gets 161."""
    ex.submit(req(1, BUY, 10, LMT, limit=90.0), T0, quote(100.0), market_open=True)
    events = ex.cancel(1, 1, T0)
    assert status(events) == "Cancelled"
    assert ex.open_orders() == []
    unknown = ex.cancel(1, 99, T0)[0]
    assert isinstance(unknown, OrderRejected)
    assert (unknown.code, unknown.message) == (
        10147,
        "OrderId 99 that needs to be cancelled is not found.",
    )
    again = ex.cancel(1, 1, T0)[0]
    assert isinstance(again, OrderRejected)
    assert again.code == 161
    assert again.message.startswith(
        "Cancel attempted when order is not in a cancellable state. Order permId ="
    )
    assert rejection_code(ex.cancel(2, 1, T0)) == 10147  # order ids are per client


@pytest.mark.parametrize(
    ("request_", "code", "text"),
    [
        (req(1, BUY, 10, symbol="ZZZZ"), 200, "No security definition has been found"),
        (req(1, BUY, 0), 434, "The order size cannot be zero."),
        (req(1, BUY, -5), 201, "Order rejected - reason:the order quantity"),
        (req(1, BUY, float("nan")), 201, "Order rejected - reason:the order quantity"),
        (req(1, BUY, 2.5), 201, "fractional"),
        (req(1, BUY, 10, LMT), 201, "the limit price must be a positive number"),
        (req(1, SELL, 10, STP, stop=-1.0), 201, "the stop price must be a positive number"),
        (req(1, BUY, 10, STP_LMT, stop=100.0), 201, "the limit price"),
    ],
)
def test_invalid_orders_are_rejected_with_ib_codes(
    ex: Exchange, request_: OrderRequest, code: int, text: str
) -> None:
    """Unknown contracts, bad quantities and missing prices are refused with IB's codes."""
    events = ex.submit(request_, T0, quote(100.0), market_open=True)
    assert len(events) == 1
    rejected = events[0]
    assert isinstance(rejected, OrderRejected)
    assert rejected.code == code
    assert text in rejected.message
    assert ex.open_orders() == []
    assert ex.snapshot()["rejections"][0]["code"] == code


def test_insufficient_buying_power_is_rejected_with_201() -> None:
    """An order needing more initial margin (25%) than the equity is refused with IB's 201 text."""
    ex = Exchange(starting_cash=10_000.0, slippage_bps=0.0)
    ok = ex.submit(req(1, BUY, 350), T0, quote(100.0, ask=100.0), market_open=True)
    assert fills(ok) == [(350, 100.0)]  # 35,000 of stock needs 8,750 of margin
    events = ex.submit(req(2, BUY, 100), T0, quote(100.0, ask=100.0), market_open=True)
    rejected = events[0]
    assert isinstance(rejected, OrderRejected)
    assert rejected.code == 201
    assert rejected.message == (
        "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
        "POSITION YOUR EQUITY WITH LOAN VALUE [9998.25 USD] MUST EXCEED THE INITIAL MARGIN "
        "[11250.00 USD]"
    )
    closing = ex.submit(req(3, SELL, 350), T0, quote(100.0, bid=100.0), market_open=True)
    assert fills(closing) == [(350, 100.0)]  # reducing exposure is always allowed
    short = ex.submit(req(4, SELL, 500), T0, quote(100.0, bid=100.0), market_open=True)
    assert of(short, OrderRejected)[0].code == 201  # a short needs margin too


def test_reject_next_is_fault_injection(ex: Exchange) -> None:
    """reject_next refuses the next N submissions with the given code, then trading resumes."""
    ex.reject_next(2, code=202, message="Order Canceled - reason:test")
    for order_id in (1, 2):
        rejected = ex.submit(req(order_id, BUY, 1), T0, quote(100.0), market_open=True)[0]
        assert isinstance(rejected, OrderRejected)
        assert (rejected.code, rejected.message) == (202, "Order Canceled - reason:test")
    assert ex.snapshot()["pending_rejections"] == 0
    assert fills(ex.submit(req(3, BUY, 1), T0, quote(100.0), market_open=True)) == [(1, 100.01)]
    ex.reject_next()
    assert rejection_code(ex.submit(req(4, BUY, 1), T0, quote(100.0), market_open=True)) == 201
    with pytest.raises(ValueError, match="negative"):
        ex.reject_next(-1)


def test_placing_a_working_order_id_again_modifies_it(ex: Exchange) -> None:
    """IB semantics: the same id modifies a working order; a finished one gets 103."""
    accepted = ex.submit(req(1, BUY, 10, LMT, limit=95.0), T0, quote(100.0), market_open=True)
    perm = of(accepted, OrderAccepted)[0].state.perm_id
    events = ex.submit(req(1, BUY, 20, LMT, limit=100.5), T0, quote(100.0), market_open=True)
    assert of(events, OrderAccepted)[0].state.perm_id == perm
    assert fills(events) == [(20, 100.01)]
    again = ex.submit(req(1, BUY, 20, LMT, limit=100.5), T0, quote(100.0), market_open=True)[0]
    assert isinstance(again, OrderRejected)
    assert (again.code, again.message) == (103, "Duplicate order id")
    ex.submit(req(2, BUY, 10, LMT, limit=95.0), T0, quote(100.0), market_open=True)
    changed_side = req(2, SELL, 10, LMT, limit=95.0)
    assert rejection_code(ex.submit(changed_side, T0, None, market_open=True)) == 103
    zero = req(2, BUY, 0, LMT, limit=95.0)
    assert rejection_code(ex.submit(zero, T0, None, market_open=True)) == 434


def test_modifying_below_the_filled_quantity_is_refused() -> None:
    """A partially filled order cannot be cut below what already filled."""
    ex = Exchange(slippage_bps=0.0, max_fill_fraction_of_volume=0.01)
    ex.submit(req(1, BUY, 3_000), T0, None, market_open=True)
    ex.on_bar("AAPL", bar(100, 100, 100, 100, volume=100_000))
    rejected = ex.submit(req(1, BUY, 500), T0, None, market_open=True)[0]
    assert isinstance(rejected, OrderRejected)
    assert "below the quantity already filled" in rejected.message
    events = ex.submit(req(1, BUY, 1_000), T0, None, market_open=True)
    assert status(events) == "Filled"


# ------------------------------------------------------------------------------- bookkeeping


def test_long_position_arithmetic(ex: Exchange) -> None:
    """Average cost includes commissions; a partial sale realizes (price - avg cost) * qty - fee."""
    ex.submit(req(1, BUY, 100), T0, quote(10.0, ask=10.0), market_open=True)  # 1,000 + 1.00
    ex.submit(req(2, BUY, 100), T0, quote(12.0, ask=12.0), market_open=True)  # 1,200 + 1.00
    (position,) = ex.positions()
    assert position.quantity == 200
    assert position.avg_cost == pytest.approx((1000 + 1 + 1200 + 1) / 200)  # 11.01
    events = ex.submit(req(3, SELL, 50), T0, quote(13.0, bid=13.0), market_open=True)
    report = of(events, CommissionReport)[0]
    assert report.commission == pytest.approx(1.0)
    assert report.realized_pnl == pytest.approx((13.0 - 11.01) * 50 - 1.0)  # 98.50
    assert ex.cash == pytest.approx(1_000_000 - 1001 - 1201 + 650 - 1)
    values = ex.account_values({"AAPL": 14.0})
    assert values["GrossPositionValue"] == pytest.approx(150 * 14.0)
    assert values["NetLiquidation"] == pytest.approx(ex.cash + 150 * 14.0)
    assert values["UnrealizedPnL"] == pytest.approx((14.0 - 11.01) * 150)
    assert values["RealizedPnL"] == pytest.approx(98.5)
    assert values["NetLiquidation"] - 1_000_000 == pytest.approx(
        values["RealizedPnL"] + values["UnrealizedPnL"]
    )


def test_short_position_and_cover(ex: Exchange) -> None:
    """A short's average cost is its proceeds net of commission; covering realizes the difference."""
    ex.submit(req(1, SELL, 100), T0, quote(20.0, bid=20.0), market_open=True)
    (position,) = ex.positions()
    assert position.quantity == -100
    assert position.avg_cost == pytest.approx(19.99)
    assert ex.cash == pytest.approx(1_000_000 + 2000 - 1)
    values = ex.account_values({"AAPL": 21.0})
    assert values["StockMarketValue"] == pytest.approx(-2100)
    assert values["UnrealizedPnL"] == pytest.approx((21.0 - 19.99) * -100)
    events = ex.submit(req(2, BUY, 100), T0, quote(18.0, ask=18.0), market_open=True)
    assert of(events, CommissionReport)[0].realized_pnl == pytest.approx((19.99 - 18.0) * 100 - 1)
    (position,) = ex.positions()
    assert (position.quantity, position.avg_cost) == (0, 0.0)
    assert ex.cash == pytest.approx(1_000_000 + 198)


def test_flip_through_zero_splits_the_commission(ex: Exchange) -> None:
    """Selling 150 against a 100 long closes it and opens a 50 short, the fee split pro rata."""
    ex.submit(req(1, BUY, 100), T0, quote(10.0, ask=10.0), market_open=True)
    events = ex.submit(req(2, SELL, 300), T0, quote(11.0, bid=11.0), market_open=True)
    fee = of(events, CommissionReport)[0]
    assert fee.commission == pytest.approx(1.5)
    assert fee.realized_pnl == pytest.approx((11.0 - 10.01) * 100 - 0.5)
    (position,) = ex.positions()
    assert position.quantity == -200
    assert position.avg_cost == pytest.approx((11.0 * 200 - 1.0) / 200)
    assert ex.cash == pytest.approx(1_000_000 - 1001 + 3300 - 1.5)
    values = ex.account_values({"AAPL": 11.0})
    assert values["NetLiquidation"] - 1_000_000 == pytest.approx(
        values["RealizedPnL"] + values["UnrealizedPnL"]
    )


def test_account_values_and_portfolio(ex: Exchange) -> None:
    """IB's tags: margin at 25% of gross, buying power four times available funds."""
    ex.submit(req(1, BUY, 1_000), T0, quote(100.0, ask=100.0), market_open=True)
    ex.submit(req(2, SELL, 500, symbol="MSFT"), T0, quote(400.0, bid=400.0), market_open=True)
    values = ex.account_values({"AAPL": 110.0, "MSFT": 390.0})
    assert set(values) >= {
        "NetLiquidation",
        "TotalCashValue",
        "BuyingPower",
        "GrossPositionValue",
        "AvailableFunds",
        "ExcessLiquidity",
        "EquityWithLoanValue",
        "InitMarginReq",
        "MaintMarginReq",
        "RealizedPnL",
        "UnrealizedPnL",
    }
    gross = 1_000 * 110 + 500 * 390
    cash = 1_000_000 - 100_000 - 5 + 200_000 - 2.5
    assert values["TotalCashValue"] == pytest.approx(cash)
    assert values["GrossPositionValue"] == pytest.approx(gross)
    assert values["NetLiquidation"] == pytest.approx(cash + 110_000 - 195_000)
    assert values["EquityWithLoanValue"] == values["NetLiquidation"]
    assert values["InitMarginReq"] == pytest.approx(0.25 * gross)
    assert values["MaintMarginReq"] == pytest.approx(0.25 * gross)
    assert values["AvailableFunds"] == pytest.approx(values["NetLiquidation"] - 0.25 * gross)
    assert values["ExcessLiquidity"] == pytest.approx(values["NetLiquidation"] - 0.25 * gross)
    assert values["BuyingPower"] == pytest.approx(4 * values["AvailableFunds"])
    items = {item.symbol: item for item in ex.portfolio({"AAPL": 110.0, "MSFT": 390.0})}
    assert items["AAPL"].market_value == pytest.approx(110_000)
    assert items["AAPL"].unrealized_pnl == pytest.approx((110 - 100.005) * 1000)
    assert items["MSFT"].position == -500
    assert items["MSFT"].unrealized_pnl == pytest.approx((390 - 399.995) * -500)
    assert ex.portfolio({})[0].market_price == 100.0  # the last price seen


# ------------------------------------------------------------------------------- ids and queries


def test_ids_are_deterministic_and_ib_shaped() -> None:
    """Perm ids count up from a per-account seed; exec ids look like IB's; order_ref is kept."""
    a, b, other = Exchange(), Exchange(), Exchange(account="DU7654321")
    perms = []
    for ex in (a, b, other):
        events = ex.submit(req(1, BUY, 10), T0, quote(100.0), market_open=True)
        events += ex.submit(req(2, BUY, 10, client_id=2), T0, quote(100.0), market_open=True)
        perms.append([e.state.perm_id for e in of(events, OrderAccepted)])
        execution = of(events, Execution)[0]
        assert re.fullmatch(r"[0-9a-f]{8}\.[0-9a-f]{8}\.01\.01", execution.exec_id)
        assert execution.state.request.order_ref == "sma_cross:d-1"
    assert perms[0] == perms[1]
    assert perms[0][1] == perms[0][0] + 1
    assert perms[0] != perms[2]
    assert [e.exec_id for e in a.executions()] == [e.exec_id for e in b.executions()]


def test_queries_and_snapshot(ex: Exchange) -> None:
    """Executions filter by client and time; reports are found by exec id; the snapshot is JSON."""
    ex.submit(req(1, BUY, 10), T0, quote(100.0), market_open=True)
    ex.submit(
        req(1, BUY, 10, client_id=2), T0 + timedelta(minutes=5), quote(101.0), market_open=True
    )
    ex.submit(req(2, SELL, 5, LMT, limit=200.0), T0, quote(100.0), market_open=True)
    assert len(ex.executions()) == 2
    assert [e.state.request.client_id for e in ex.executions(client_id=2)] == [2]
    assert len(ex.executions(since=T0 + timedelta(minutes=1))) == 1
    exec_id = ex.executions()[0].exec_id
    report = ex.commission_report(exec_id)
    assert report is not None
    assert report.commission == pytest.approx(1.0)
    assert ex.commission_report("nope") is None
    assert [s.request.order_id for s in ex.open_orders(client_id=1)] == [2]
    assert ex.open_orders(client_id=2) == []
    assert [s.status for s in ex.completed_orders()] == ["Filled", "Filled"]
    snap = json.loads(json.dumps(ex.snapshot()))
    assert snap["account"] == "DU1234567"
    assert snap["positions"][0]["quantity"] == 20
    assert snap["executions"][0]["order_ref"] == "sma_cross:d-1"
    assert snap["open_orders"][0]["status"] == "Submitted"
    assert ex.account == "DU1234567"


def test_bad_configuration_is_refused() -> None:
    """Negative cash or slippage and a fill fraction outside (0, 1] raise ValueError."""
    with pytest.raises(ValueError, match="starting cash"):
        Exchange(starting_cash=-1)
    with pytest.raises(ValueError, match="slippage"):
        Exchange(slippage_bps=-1)
    with pytest.raises(ValueError, match="max_fill_fraction"):
        Exchange(max_fill_fraction_of_volume=1.5)


def test_trading_against_the_simulated_market() -> None:
    """Quotes from MarketSimulator drive live fills: a buy stop above the market triggers later."""
    market = MarketSimulator(DEFAULT_UNIVERSE, seed=3)
    ex = Exchange(symbols=DEFAULT_UNIVERSE)
    start = datetime(2026, 3, 10, 13, 30, 5, tzinfo=UTC)
    first = market.quote("TSLA", start)
    stop = round(first.last + 0.5, 2)
    ex.submit(req(1, BUY, 10, STP, stop=stop, symbol="TSLA"), start, first, market_open=True)
    filled = []
    for k in range(1, 23_000, 15):
        t = start + timedelta(seconds=k)
        q = market.quote("TSLA", t)
        filled += of(ex.on_quote("TSLA", q, t, market_open=market.is_open(t)), Execution)
        if filled:
            break
    assert filled
    assert filled[0].price >= stop
    assert ex.positions()[0].quantity == 10


def test_bars_without_orders_update_the_marks(ex: Exchange) -> None:
    """A bar for a symbol with no orders fills nothing but moves the mark used for valuation."""
    ex.submit(req(1, BUY, 10), T0, quote(100.0, ask=100.0), market_open=True)
    assert ex.on_bar("AAPL", bar(104, 106, 103, 105)) == []
    assert ex.portfolio({})[0].market_price == 105
    assert ex.account_values({})["UnrealizedPnL"] == pytest.approx((105 - 100.1) * 10)


def test_a_working_order_waits_when_the_market_closes(ex: Exchange) -> None:
    """A resting order seen by a quote after the close goes back to PreSubmitted until the open."""
    ex.submit(req(1, BUY, 10, LMT, limit=99.0), T0, quote(100.0), market_open=True)
    events = ex.on_quote("AAPL", quote(98.0), T0, market_open=False)
    assert [(e.state.status, e.state.why_held) for e in of(events, OrderStatusChanged)] == [
        ("PreSubmitted", "trading hours")
    ]
    assert ex.on_quote("AAPL", quote(98.0), T0, market_open=False) == []
    assert fills(ex.on_quote("AAPL", quote(98.0, ask=98.5), T0, market_open=True)) == [(10, 98.5)]


def test_an_empty_book_side_falls_back_to_the_last_trade(ex: Exchange) -> None:
    """With no ask on the book a market buy fills at the last trade."""
    events = ex.submit(req(1, BUY, 10), T0, quote(100.0, ask=0.0), market_open=True)
    assert fills(events) == [(10, 100.0)]


def test_modifying_a_stop_resets_its_trigger(ex: Exchange) -> None:
    """A new stop price is a new trigger; the order waits for it again."""
    ex.submit(req(1, BUY, 10, STP_LMT, stop=101.0, limit=101.0), T0, quote(100.0), market_open=True)
    ex.on_quote("AAPL", quote(101.5, ask=101.6), T0, market_open=True)  # triggered, limit unmet
    assert ex.open_orders()[0].why_held == ""
    events = ex.submit(
        req(1, BUY, 10, STP_LMT, stop=103.0, limit=103.5), T0, quote(101.5), market_open=True
    )
    assert of(events, OrderAccepted)[0].state.why_held == "trigger"
    assert fills(ex.on_quote("AAPL", quote(103.1, ask=103.2), T0, market_open=True)) == [
        (10, 103.2)
    ]


def test_orders_placed_after_hours_fill_on_the_next_bar(ex: Exchange) -> None:
    """A backtest order placed at the close waits as PreSubmitted and works from the next bar on."""
    close = T0 + timedelta(hours=1)
    accepted = ex.submit(req(1, BUY, 10, LMT, limit=101.0), close, None, market_open=False)
    assert of(accepted, OrderAccepted)[0].state.why_held == "trading hours"
    events = ex.on_bar("AAPL", bar(100.5, 101, 100, 100.8))
    assert [e.state.status for e in of(events, OrderStatusChanged)] == ["Submitted", "Filled"]
    assert fills(events) == [(10, 100.5)]


def test_fills_leave_the_account_out_when_told_to() -> None:
    """account_events=False: a fill's events are the same but for the AccountChanged, and the
    books (asked afterwards) agree."""
    told, plain = Exchange(account_events=False), Exchange()
    for exchange in (told, plain):
        exchange.submit(req(1, BUY, 100), T0, None, market_open=False)
    lean = told.on_bar("AAPL", bar(100, 101, 99, 100.5))
    full = plain.on_bar("AAPL", bar(100, 101, 99, 100.5))
    assert of(full, AccountChanged)
    assert lean == [e for e in full if not isinstance(e, AccountChanged)]
    assert told.account_values({}) == plain.account_values({})


def test_set_mark_is_a_bar_without_volume() -> None:
    """set_mark moves the mark (the account's value) as a zero-volume bar does, and trades nothing."""
    marked, barred = Exchange(), Exchange()
    for exchange in (marked, barred):
        exchange.submit(req(1, BUY, 100), T0, quote(100.0, ask=100.0), market_open=True)
        exchange.submit(req(2, BUY, 10, LMT, limit=90.0), T0, None, market_open=False)
    marked.set_mark("AAPL", 95.0)
    assert barred.on_bar("AAPL", bar(95, 95, 95, 95, volume=0)) == []
    assert marked.account_values({}) == barred.account_values({})
    assert len(marked.open_orders()) == len(barred.open_orders()) == 1
