"""WorkingOrders: an order works until every share it filled is booked, whatever order its status
and fills come in; what the working orders may still buy or sell."""

from __future__ import annotations

from datetime import UTC, datetime

from ibbot.models import Fill, Order, OrderResult, OrderSide, OrderStatus
from ibbot.trading import NOTHING_WORKING, Exposure, WorkingOrders

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def order(side: OrderSide = OrderSide.SELL, quantity: int = 10, ident: str = "d1") -> Order:
    """An order of strategy s in AAPL."""
    return Order("s", "AAPL", side, quantity, decision_id=ident, created_at=NOW)


def status(
    state: OrderStatus,
    filled: float | None,
    *,
    remaining: float | None = 0.0,
    ident: str = "d1",
    strategy: str = "s",
) -> OrderResult:
    """A status report of order ``ident``."""
    return OrderResult(
        1,
        state,
        fill_quantity=filled,
        remaining=remaining,
        symbol="AAPL",
        strategy_name=strategy,
        decision_id=ident,
        timestamp=NOW,
    )


def fill(quantity: float, side: OrderSide = OrderSide.SELL, ident: str = "d1") -> Fill:
    """An execution of order ``ident``."""
    return Fill("e", 1, 1, "AAPL", side, quantity, 100.0, NOW, strategy_name="s", decision_id=ident)


def test_a_filled_order_works_until_its_fill_is_booked() -> None:
    """Terminal status first: the order still sells its 10 until the fill is booked."""
    working = WorkingOrders()
    working.sent(order())
    assert working.exposure("s", "AAPL") == Exposure(0.0, 10.0, ("s:d1",))
    working.status(status(OrderStatus.FILLED, 10.0))
    assert working.exposure("s", "AAPL").selling == 10.0
    working.booked(fill(10.0))
    assert working.exposure("s", "AAPL") is NOTHING_WORKING
    assert working.refs() == set()


def test_fills_before_the_status_and_partial_fills_then_cancelled() -> None:
    """Partial fills booked first shrink the rest; a cancel fixes the final quantity; the order
    leaves once what it filled is booked."""
    working = WorkingOrders()
    working.sent(order())
    working.booked(fill(3.0))
    assert working.exposure("s", "AAPL").selling == 7.0
    working.status(status(OrderStatus.PARTIALLY_FILLED, 5.0, remaining=5.0))
    assert working.exposure("s", "AAPL").selling == 7.0  # 2 filled, not booked, 5 may fill
    working.status(status(OrderStatus.CANCELLED, 5.0))
    assert working.exposure("s", "AAPL").selling == 2.0
    working.booked(fill(2.0))
    assert working.refs() == set()


def test_an_order_ending_unfilled_leaves_at_once() -> None:
    """Rejected, cancelled or blocked with nothing filled: nothing more can move the holding."""
    working = WorkingOrders()
    for ident, end in (("a", OrderStatus.REJECTED), ("b", OrderStatus.CANCELLED)):
        working.sent(order(ident=ident))
        working.status(status(end, 0.0, ident=ident))
    working.sent(order(ident="c"))
    working.status(status(OrderStatus.BLOCKED, None, ident="c"))
    assert working.refs() == set()


def test_a_filled_status_without_quantities_means_all_of_it() -> None:
    """IB's Filled is complete: without a quantity (a completed order after a reconnect), all."""
    working = WorkingOrders()
    working.sent(order(OrderSide.BUY, 8))
    working.status(status(OrderStatus.FILLED, None))
    assert working.exposure("s", "AAPL").buying == 8.0
    working.booked(fill(8.0, OrderSide.BUY))
    assert working.refs() == set()


def test_an_order_of_an_earlier_run_joins_with_its_rest_in_both_directions() -> None:
    """Seen first through a non-terminal status, an order counts what IB has still to fill both
    ways until a fill shows its side; a stale report after its end does not bring it back."""
    working = WorkingOrders()
    earlier = status(OrderStatus.PARTIALLY_FILLED, 4.0, remaining=6.0, ident="old")
    working.status(earlier)
    assert working.exposure("s", "AAPL") == Exposure(6.0, 6.0, ("s:old",))
    working.booked(fill(1.0, OrderSide.BUY, ident="old"))
    assert working.exposure("s", "AAPL") == Exposure(5.0, 0.0, ("s:old",))
    working.status(status(OrderStatus.FILLED, 10.0, ident="old"))
    working.booked(fill(5.0, OrderSide.BUY, ident="old"))
    assert working.refs() == set()
    working.status(earlier)
    assert working.refs() == set()
    working.status(status(OrderStatus.FILLED, 10.0, ident="done-before"))
    assert working.refs() == set()


def test_an_order_listed_open_again_works_again() -> None:
    """IB refused a cancel that ib_async reported as done: the executor lists the order as open,
    and it works again with its rest."""
    working = WorkingOrders()
    working.sent(order())
    working.status(status(OrderStatus.CANCELLED, 0.0))
    assert working.refs() == set()
    working.still_open(status(OrderStatus.SUBMITTED, 0.0, remaining=10.0))
    assert working.exposure("s", "AAPL") == Exposure(10.0, 10.0, ("s:d1",))
    working.still_open(status(OrderStatus.SUBMITTED, 0.0, remaining=10.0))
    assert working.exposure("s", "AAPL").selling == 10.0


def test_abandoned_foreign_and_other_holdings_are_apart() -> None:
    """A submission that failed leaves; orders ibbot did not place are ignored; exposure is per
    strategy and symbol."""
    working = WorkingOrders()
    working.sent(order(ident="gone"))
    working.abandon("s:gone")
    working.status(status(OrderStatus.SUBMITTED, 0.0, remaining=5.0, ident="", strategy=""))
    working.sent(Order("t", "AAPL", OrderSide.BUY, 4, decision_id="d9"))
    working.sent(Order("s", "MSFT", OrderSide.BUY, 4, decision_id="d8"))
    assert working.exposure("s", "AAPL") is NOTHING_WORKING
    assert working.exposure("t", "AAPL").buying == 4.0
    assert working.symbols() == {"AAPL", "MSFT"}
    assert working.refs() == {"t:d9", "s:d8"}
