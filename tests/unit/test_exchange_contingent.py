"""The matching engine's contingent orders: brackets, OCA groups, trailing stops, modify, Adaptive."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from ibbot.exchange import (
    Exchange,
    ExchangeEvent,
    Execution,
    OrderAccepted,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatusChanged,
    Quote,
    SimBar,
)
from ibbot.models import OrderSide, OrderType, TimeInForce

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MKT, LMT, STP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP
TRAIL, TRAIL_LIMIT = OrderType.TRAIL, OrderType.TRAIL_LIMIT
E = TypeVar("E")


def quote(last: float, *, spread: float = 0.0, volume: int = 10_000) -> Quote:
    return Quote(
        time=T0,
        bid=round(last - spread, 4),
        ask=round(last + spread, 4),
        last=last,
        bid_size=500,
        ask_size=500,
        last_size=100,
        volume=volume,
        open=last,
        high=last,
        low=last,
        close=last,
    )


def bar(o: float, h: float, lo: float, c: float, *, day: int = 1) -> SimBar:
    return SimBar(T0 + timedelta(days=day), o, h, lo, c, 100_000, (h + lo) / 2, 100)


def req(
    order_id: int, action: OrderSide, quantity: float, order_type: OrderType = MKT, **terms: Any
) -> OrderRequest:
    limit = terms.pop("limit", None)
    stop = terms.pop("stop", None)
    return OrderRequest(
        client_id=1,
        order_id=order_id,
        symbol="AAPL",
        action=action,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit,
        stop_price=stop,
        tif=terms.pop("tif", TimeInForce.GTC),
        order_ref=f"s:d{order_id}",
        account="DU1234567",
        **terms,
    )


def bracket(
    parent_type: OrderType = MKT,
    *,
    limit: float | None = None,
    take: float = 110.0,
    stop: float = 95.0,
) -> list[OrderRequest]:
    """ib_async's bracketOrder: parent and take-profit untransmitted, the stop-loss transmits."""
    return [
        req(1, BUY, 100, parent_type, limit=limit, transmit=False),
        req(2, SELL, 100, LMT, limit=take, parent_id=1, transmit=False),
        req(3, SELL, 100, STP, stop=stop, parent_id=1),
    ]


def of(events: list[ExchangeEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def fills(events: list[ExchangeEvent]) -> list[tuple[int, float, float]]:
    return [(e.state.request.order_id, e.quantity, e.price) for e in of(events, Execution)]


def states(ex: Exchange) -> dict[int, OrderState]:
    every = [*ex.completed_orders(), *ex.open_orders()]
    return {s.request.order_id: s for s in every}


def reasons(events: list[ExchangeEvent]) -> list[tuple[int, str]]:
    return [(e.state.request.order_id, e.reason) for e in of(events, OrderStatusChanged)]


def rejection(events: list[ExchangeEvent]) -> str:
    (rejected,) = of(events, OrderRejected)
    return rejected.message


def position(ex: Exchange) -> float:
    return {p.symbol: p.quantity for p in ex.positions()}.get("AAPL", 0.0)


@pytest.fixture
def ex() -> Exchange:
    return Exchange(slippage_bps=0.0)


def place(ex: Exchange, orders: list[OrderRequest], last: float = 100.0) -> list[ExchangeEvent]:
    events: list[ExchangeEvent] = []
    for order in orders:
        events += ex.submit(order, T0, quote(last), market_open=True)
    return events


# ------------------------------------------------------------------------------- brackets


def test_a_bracket_is_held_until_its_last_order_transmits(ex: Exchange) -> None:
    """Untransmitted orders report nothing and work nowhere; the transmitting stop sends all three."""
    first, take, stop = bracket(LMT, limit=90.0)
    assert ex.submit(first, T0, quote(100.0), market_open=True) == []
    assert ex.submit(take, T0, quote(100.0), market_open=True) == []
    assert ex.open_orders() == []
    assert ex.snapshot()["held_orders"] == 2
    events = ex.submit(stop, T0, quote(100.0), market_open=True)
    accepted = [
        (e.state.request.order_id, e.state.status, e.state.why_held)
        for e in of(events, OrderAccepted)
    ]
    assert accepted == [
        (1, "Submitted", ""),
        (2, "PreSubmitted", "child"),
        (3, "PreSubmitted", "child"),
    ]
    assert states(ex)[3].parent_perm_id == states(ex)[1].perm_id


def test_children_work_once_the_parent_fills_and_one_leg_cancels_the_other(ex: Exchange) -> None:
    """The parent's fill activates both children; the take-profit's fill cancels the stop."""
    events = place(ex, bracket())
    assert fills(events) == [(1, 100, 100.0)]
    assert (2, "parent filled") in reasons(events)
    assert (3, "parent filled") in reasons(events)
    assert states(ex)[3].why_held == "trigger"
    events = ex.on_quote("AAPL", quote(110.0), T0, market_open=True)
    assert fills(events) == [(2, 100, 110.0)]
    assert (3, "cancelled by its OCA group") in reasons(events)
    assert states(ex)[3].status == "Cancelled"
    assert position(ex) == 0.0


def test_the_stop_leg_fills_and_cancels_the_take_profit(ex: Exchange) -> None:
    """Price falling through the stop sells at market and cancels the take-profit."""
    place(ex, bracket())
    events = ex.on_quote("AAPL", quote(94.5), T0, market_open=True)
    assert fills(events) == [(3, 100, 94.5)]
    assert states(ex)[2].status == "Cancelled"
    assert position(ex) == 0.0


def test_children_do_not_trade_on_the_update_that_fills_their_parent(ex: Exchange) -> None:
    """A parent filled on a quote already through the stop: the stop acts on the next update."""
    events = place(ex, bracket(stop=101.0))
    assert fills(events) == [(1, 100, 100.0)]
    assert fills(ex.on_quote("AAPL", quote(100.0), T0, market_open=True)) == [(3, 100, 100.0)]


def test_cancelling_the_parent_cancels_its_waiting_children(ex: Exchange) -> None:
    """A parent that never filled takes its children with it."""
    place(ex, bracket(LMT, limit=90.0))
    events = ex.cancel(1, 1, T0)
    assert sorted(reasons(events)) == [
        (1, "cancelled by the client"),
        (2, "parent order cancelled"),
        (3, "parent order cancelled"),
    ]
    assert ex.open_orders() == []


def test_a_day_parent_expiring_cancels_its_children(ex: Exchange) -> None:
    """The close ends a DAY parent and the GTC children waiting for it."""
    orders = bracket(LMT, limit=90.0)
    orders[0] = dataclasses.replace(orders[0], tif=TimeInForce.DAY)
    place(ex, orders)
    ex.expire_day_orders(T0 + timedelta(hours=6))
    assert ex.open_orders() == []


def test_a_partial_take_profit_reduces_the_stop(ex: Exchange) -> None:
    """A bracket's children reduce each other: 40 sold at the target leaves a stop for 60."""
    capped = Exchange(slippage_bps=0.0, max_fill_fraction_of_volume=0.1)
    place(capped, bracket())  # 10% of the 500 offered: 50 of the parent's 100
    capped.on_quote("AAPL", quote(100.0, volume=10_600), T0, market_open=True)
    assert position(capped) == 100.0
    events = capped.on_quote("AAPL", quote(110.0, volume=11_000), T0, market_open=True)
    assert fills(events) == [(2, 40, 110.0)]
    assert (3, "reduced by its OCA group") in reasons(events)
    assert states(capped)[3].remaining == 60
    events = capped.on_quote("AAPL", quote(94.0, volume=20_000), T0, market_open=True)
    assert fills(events) == [(3, 60, 94.0)]
    assert states(capped)[2].status == "Cancelled"
    assert position(capped) == 0.0


def test_an_unknown_parent_is_refused(ex: Exchange) -> None:
    """A child naming no known order is rejected with 201."""
    events = ex.submit(req(5, SELL, 10, STP, stop=90.0, parent_id=4), T0, None, market_open=True)
    assert "parent order 4 is not found" in rejection(events)


def test_a_rejected_parent_takes_its_children_with_it() -> None:
    """A parent refused for margin refuses the whole chain; nothing of it works."""
    ex = Exchange(slippage_bps=0.0, starting_cash=1_000.0)
    events = place(ex, bracket())
    assert [e.order_id for e in of(events, OrderRejected)] == [1, 2, 3]
    assert ex.open_orders() == []


def test_a_child_of_a_filled_parent_works_at_once(ex: Exchange) -> None:
    """A protective order attached after the entry filled is not held for it."""
    ex.submit(req(1, BUY, 100), T0, quote(100.0), market_open=True)
    events = ex.submit(
        req(2, SELL, 100, STP, stop=95.0, parent_id=1), T0, quote(100.0), market_open=True
    )
    assert of(events, OrderAccepted)[0].state.why_held == "trigger"


# ------------------------------------------------------------------------------- OCA groups


def oca(
    oca_type: int,
    *,
    sizes: tuple[int, int] = (100, 100),
    limits: tuple[float, float] = (101.0, 102.0),
) -> list[OrderRequest]:
    return [
        req(1, SELL, sizes[0], LMT, limit=limits[0], oca_group="g", oca_type=oca_type),
        req(2, SELL, sizes[1], LMT, limit=limits[1], oca_group="g", oca_type=oca_type),
    ]


def test_oca_type_1_cancels_the_others_on_any_fill() -> None:
    """Type 1: a partial fill of one order cancels the rest of the group."""
    ex = Exchange(slippage_bps=0.0, max_fill_fraction_of_volume=0.1)
    ex.on_quote("AAPL", quote(100.0), T0, market_open=True)
    place(ex, oca(1))
    events = ex.on_quote("AAPL", quote(101.0, volume=10_300), T0, market_open=True)
    assert fills(events) == [(1, 30, 101.0)]
    assert (2, "cancelled by its OCA group") in reasons(events)
    assert [s.request.order_id for s in ex.open_orders()] == [1]


def test_oca_type_2_reduces_the_others_proportionately() -> None:
    """Type 2: 40 of 100 filled uses 40% of the group, so a 50-share sibling may fill 30."""
    ex = Exchange(slippage_bps=0.0, max_fill_fraction_of_volume=0.1)
    ex.on_quote("AAPL", quote(100.0), T0, market_open=True)
    place(ex, oca(2, sizes=(100, 50)))
    events = ex.on_quote("AAPL", quote(101.0, volume=10_400), T0, market_open=True)
    assert fills(events) == [(1, 40, 101.0)]
    assert states(ex)[2].request.quantity == 30
    assert states(ex)[1].remaining == 60


@pytest.mark.parametrize(("oca_type", "sold"), [(2, 100.0), (3, 200.0)])
def test_only_type_3_can_overfill_on_one_update(ex: Exchange, oca_type: int, sold: float) -> None:
    """Both orders marketable on one update: with block (2) one fills and the other is cancelled;
    without block (3) both fill before the group reacts, as IB warns."""
    place(ex, oca(oca_type), last=99.0)
    events = ex.on_quote("AAPL", quote(103.0), T0, market_open=True)
    assert sum(q for _, q, _ in fills(events)) == sold
    assert position(ex) == -sold
    assert ex.open_orders() == []


def test_an_order_joining_a_used_group_is_cancelled(ex: Exchange) -> None:
    """Type 1 after a fill: a late member of the group never works."""
    place(ex, oca(1)[:1], last=101.0)
    events = ex.submit(oca(1)[1], T0, quote(100.0), market_open=True)
    assert (2, "cancelled by its OCA group") in reasons(events)


# ------------------------------------------------------------------------------- trailing stops


def test_a_trailing_stop_follows_the_high_and_triggers_on_the_way_down(ex: Exchange) -> None:
    """Sell TRAIL 2.0: 100 -> stop 98, 105 -> 103, a dip to 104 keeps it, 103 triggers it."""
    ex.submit(req(1, BUY, 10), T0, quote(100.0), market_open=True)
    events = ex.submit(
        req(2, SELL, 10, TRAIL, trailing_amount=2.0), T0, quote(100.0), market_open=True
    )
    assert of(events, OrderAccepted)[0].state.why_held == "trigger"
    assert states(ex)[2].trail_stop_price == 98.0
    ex.on_quote("AAPL", quote(105.0), T0, market_open=True)
    assert states(ex)[2].trail_stop_price == 103.0
    assert fills(ex.on_quote("AAPL", quote(104.0), T0, market_open=True)) == []
    assert states(ex)[2].trail_stop_price == 103.0
    assert fills(ex.on_quote("AAPL", quote(103.0), T0, market_open=True)) == [(2, 10, 103.0)]


def test_a_percent_trail_with_an_initial_stop_price(ex: Exchange) -> None:
    """trailStopPrice sets the first stop; a buy TRAIL of 5% then only moves it down."""
    ex.submit(
        req(1, BUY, 10, TRAIL, trailing_percent=5.0, trail_stop_price=104.0),
        T0,
        quote(100.0),
        market_open=True,
    )
    assert states(ex)[1].trail_stop_price == 104.0
    ex.on_quote("AAPL", quote(90.0), T0, market_open=True)
    assert states(ex)[1].trail_stop_price == 94.5
    assert fills(ex.on_quote("AAPL", quote(94.5), T0, market_open=True)) == [(1, 10, 94.5)]


def test_a_trail_limit_becomes_a_limit_offset_from_its_stop(ex: Exchange) -> None:
    """TRAIL LIMIT: triggered at 98, it sells only at 97.5 or better (offset 0.5)."""
    ex.submit(req(1, BUY, 10), T0, quote(100.0), market_open=True)
    ex.submit(
        req(2, SELL, 10, TRAIL_LIMIT, trailing_amount=2.0, limit_offset=0.5),
        T0,
        quote(100.0),
        market_open=True,
    )
    events = ex.on_quote("AAPL", quote(97.0), T0, market_open=True)
    assert reasons(events) == [(2, "stop triggered")]
    assert fills(events) == []
    assert fills(ex.on_quote("AAPL", quote(97.6), T0, market_open=True)) == [(2, 10, 97.5)]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((100.0, 106.0, 99.0, 103.5), [(1, 10, 104.0)]),  # up: low, then the high sets 104
        ((100.0, 106.0, 97.0, 105.0), [(1, 10, 98.0)]),  # up: the low reaches 98 first
        ((105.0, 108.0, 100.0, 101.0), [(1, 10, 106.0)]),  # down: high sets 106, then the low
        ((100.0, 101.0, 99.5, 100.5), []),  # never 2 below its high
    ],
)
def test_trailing_stops_on_bars_follow_the_bar_path(
    ex: Exchange, path: tuple[float, float, float, float], expected: list[tuple[int, float, float]]
) -> None:
    """A bar walks open, low, high, close (up bar) or open, high, low, close (down bar)."""
    ex.submit(req(1, SELL, 10, TRAIL, trailing_amount=2.0), T0, None, market_open=False)
    assert fills(ex.on_bar("AAPL", bar(*path))) == expected


def test_trailing_orders_need_one_trailing_term(ex: Exchange) -> None:
    """Neither or both of amount and percent, or a TRAIL LIMIT without offset, are refused."""
    for terms in (
        {},
        {"trailing_amount": 1.0, "trailing_percent": 1.0},
        {"trailing_percent": 100.0},
    ):
        assert "trailing" in rejection(
            ex.submit(req(1, SELL, 1, TRAIL, **terms), T0, None, market_open=True)
        )
    events = ex.submit(
        req(2, SELL, 1, TRAIL_LIMIT, trailing_amount=1.0), T0, None, market_open=True
    )
    assert "limit price offset" in rejection(events)


# ------------------------------------------------------------------------------- bars


@pytest.mark.parametrize(
    ("path", "leg", "price"),
    [
        ((100.0, 111.0, 94.0, 108.0), 3, 95.0),  # up bar: the low (the stop) comes first
        ((100.0, 111.0, 94.0, 96.0), 2, 110.0),  # down bar: the high (the target) comes first
    ],
)
def test_a_bracket_on_bars(
    ex: Exchange, path: tuple[float, float, float, float], leg: int, price: float
) -> None:
    """The parent fills at the next bar's open; the children work from the bar after, and a bar
    reaching both legs fills the one its path reaches first; the other is cancelled."""
    for order in bracket():
        ex.submit(order, T0, None, market_open=False)
    assert fills(ex.on_bar("AAPL", bar(100.0, 120.0, 80.0, 100.0))) == [(1, 100, 100.0)]
    events = ex.on_bar("AAPL", bar(*path, day=2))
    assert fills(events) == [(leg, 100, price)]
    assert ex.open_orders() == []
    assert position(ex) == 0.0


# ------------------------------------------------------------------------------- modify


def test_modifying_a_stop_leg_keeps_it_in_its_bracket(ex: Exchange) -> None:
    """Re-sending the stop's id with a higher stop moves it; the OCA link stays."""
    place(ex, bracket())
    events = ex.submit(
        req(3, SELL, 100, STP, stop=99.0, parent_id=1), T0, quote(100.0), market_open=True
    )
    assert of(events, OrderAccepted)[0].state.request.stop_price == 99.0
    events = ex.on_quote("AAPL", quote(98.9), T0, market_open=True)
    assert fills(events) == [(3, 100, 98.9)]
    assert states(ex)[2].status == "Cancelled"


def test_modifying_a_trail_restarts_it(ex: Exchange) -> None:
    """A new trailing amount restarts the trail from the market."""
    ex.submit(req(1, SELL, 10, TRAIL, trailing_amount=2.0), T0, quote(100.0), market_open=True)
    ex.submit(req(1, SELL, 10, TRAIL, trailing_amount=1.0), T0, quote(101.0), market_open=True)
    assert states(ex)[1].trail_stop_price == 100.0


def test_an_untransmitted_modification_waits(ex: Exchange) -> None:
    """A change sent with transmit False does not apply until the order is sent again."""
    ex.submit(req(1, BUY, 10, LMT, limit=90.0), T0, quote(100.0), market_open=True)
    assert (
        ex.submit(req(1, BUY, 10, LMT, limit=95.0, transmit=False), T0, None, market_open=True)
        == []
    )
    assert states(ex)[1].request.limit_price == 90.0
    ex.submit(req(1, BUY, 10, LMT, limit=96.0), T0, None, market_open=True)
    assert states(ex)[1].request.limit_price == 96.0


def test_the_parent_of_an_order_cannot_change(ex: Exchange) -> None:
    """A modification naming another parent is refused."""
    place(ex, bracket(LMT, limit=90.0))
    events = ex.submit(req(3, SELL, 100, STP, stop=95.0), T0, None, market_open=True)
    assert "parent cannot be changed" in rejection(events)


# ------------------------------------------------------------------------------- Adaptive


def test_adaptive_orders_fill_as_their_base_type(ex: Exchange) -> None:
    """An Adaptive MKT fills like a market order; other algos and types are refused."""
    adaptive = {"algo_strategy": "Adaptive", "algo_params": (("adaptivePriority", "Patient"),)}
    events = ex.submit(req(1, BUY, 10, **adaptive), T0, quote(100.0), market_open=True)
    assert fills(events) == [(1, 10, 100.0)]
    assert "does not support algo Vwap" in rejection(
        ex.submit(req(2, BUY, 1, algo_strategy="Vwap"), T0, None, market_open=True)
    )
    assert "MKT and LMT" in rejection(
        ex.submit(req(3, BUY, 1, STP, stop=101.0, **adaptive), T0, None, market_open=True)
    )
    bad = {"algo_strategy": "Adaptive", "algo_params": (("adaptivePriority", "Fast"),)}
    assert "adaptivePriority" in rejection(
        ex.submit(req(4, BUY, 1, **bad), T0, None, market_open=True)
    )
