"""Sizing: weights to whole shares against the current holding, min notional, EXIT, quantity."""

from __future__ import annotations

from typing import Any

import pytest

from ibbot.models import Action, Decision, OrderSide, OrderType, TimeInForce
from ibbot.trading import Exposure, SizingSkip, size_decision
from tests.unit.strategy_events import T0


def decision(action: Action = Action.BUY, **fields: Any) -> Decision:
    base: dict[str, Any] = {
        "target_weight": 0.2,
        "confidence": 0.5,
        "reasoning": "because",
        "strategy_name": "vm",
        "decision_id": "vm-JPM-1",
        "timestamp": T0,
        "price": 210.0,
    }
    base.update(fields)
    return Decision("JPM", action, **base)


def test_weight_times_capital_over_price_rounds_down_to_whole_shares() -> None:
    """0.2 x 100,000 / 210 = 95.2 -> BUY 95, with the arithmetic in the reason."""
    result = size_decision(decision(), allocated_capital=100_000, position_quantity=0)
    assert result.order is not None
    assert (result.order.action, result.order.quantity) == (OrderSide.BUY, 95)
    assert result.target_quantity == 95
    assert result.reason == (
        "target 0.200 x capital 100,000.00 / price 210.00 = 95 shares; holding 0: BUY 95"
    )
    order = result.order
    assert order.order_type is OrderType.MARKET
    assert order.order_ref == "vm:vm-JPM-1"
    assert order.created_at == T0
    assert not result.skipped


def test_exact_multiple_is_not_lost_to_float_rounding() -> None:
    """0.3 x 1,000 / 10 is 30 shares even though the float product is 29.999..."""
    result = size_decision(
        decision(target_weight=0.3, price=10.0), allocated_capital=1_000, position_quantity=0
    )
    assert result.order is not None
    assert result.order.quantity == 30


def test_existing_position_is_topped_up_or_reduced_to_target() -> None:
    """The order is the difference to the target: buy the rest, or sell the excess."""
    top_up = size_decision(decision(), allocated_capital=100_000, position_quantity=60)
    assert top_up.order is not None
    assert (top_up.order.action, top_up.order.quantity) == (OrderSide.BUY, 35)
    reduce = size_decision(decision(), allocated_capital=100_000, position_quantity=120)
    assert reduce.order is not None
    assert (reduce.order.action, reduce.order.quantity) == (OrderSide.SELL, 25)


def test_at_target_gives_no_order() -> None:
    """Holding the target already (fractions below a share included): skipped with a reason."""
    result = size_decision(decision(), allocated_capital=100_000, position_quantity=95.4)
    assert result.skipped
    assert result.skip is SizingSkip.AT_TARGET
    assert result.reason.endswith("holding 95.4: already at target")


def test_orders_under_the_minimum_notional_are_skipped_at_the_boundary() -> None:
    """An order worth less than min_order_notional is skipped; exactly the minimum passes."""
    under = size_decision(
        decision(target_weight=0.01, price=99.0),
        allocated_capital=10_000,
        position_quantity=0,
        min_order_notional=100.0,
    )
    assert under.skip is SizingSkip.BELOW_MIN_NOTIONAL
    assert under.reason.endswith("BUY 1 x 99.00 = 99.00 < min order notional 100.00: skipped")
    at = size_decision(
        decision(target_weight=0.01, price=100.0),
        allocated_capital=10_000,
        position_quantity=0,
        min_order_notional=100.0,
    )
    assert at.order is not None
    assert at.order.quantity == 1


def test_exit_closes_long_and_short_positions_whatever_their_size() -> None:
    """EXIT sells a long, buys back a short, and is never skipped for a small notional."""
    long_exit = size_decision(
        decision(Action.EXIT, target_weight=0.0, price=1.0),
        allocated_capital=100_000,
        position_quantity=3,
        min_order_notional=100.0,
    )
    assert long_exit.order is not None
    assert (long_exit.order.action, long_exit.order.quantity) == (OrderSide.SELL, 3)
    assert long_exit.reason == "EXIT JPM: close 3 shares: SELL 3"
    short_exit = size_decision(
        decision(Action.EXIT, target_weight=0.0, price=None),
        allocated_capital=100_000,
        position_quantity=-40,
    )
    assert short_exit.order is not None
    assert (short_exit.order.action, short_exit.order.quantity) == (OrderSide.BUY, 40)
    assert short_exit.target_quantity == 0


def test_exit_with_nothing_held_is_skipped() -> None:
    """EXIT when flat (or holding under a share) gives no order."""
    result = size_decision(
        decision(Action.EXIT, target_weight=0.0), allocated_capital=1, position_quantity=0.5
    )
    assert result.skip is SizingSkip.NOTHING_TO_EXIT
    assert result.reason == "EXIT JPM: nothing to close (holding 0.5)"


def test_explicit_quantity_is_the_target_holding() -> None:
    """Decision.quantity is honoured as the target number of shares, against the holding."""
    result = size_decision(
        decision(quantity=50, target_weight=0.9), allocated_capital=100_000, position_quantity=20
    )
    assert result.order is not None
    assert (result.order.action, result.order.quantity) == (OrderSide.BUY, 30)
    assert result.reason == "target 50 shares (explicit quantity); holding 20: BUY 30"


def test_hold_gives_no_order() -> None:
    """HOLD never trades."""
    result = size_decision(
        decision(Action.HOLD, target_weight=0.0), allocated_capital=1, position_quantity=5
    )
    assert result.skip is SizingSkip.HOLD
    assert result.reason == "HOLD JPM: no order"


@pytest.mark.parametrize("bad_price", [None, 0.0, -1.0, float("nan")])
def test_buy_without_a_usable_price_is_skipped(bad_price: float | None) -> None:
    """A BUY cannot be sized without a positive price."""
    result = size_decision(
        decision(price=bad_price), allocated_capital=100_000, position_quantity=0
    )
    assert result.skip is SizingSkip.NO_PRICE
    assert result.reason == "BUY JPM: no price to size the order with"


def test_given_price_overrides_the_decision_price() -> None:
    """A fresher last price passed by the caller is used instead of the decision's."""
    result = size_decision(decision(), allocated_capital=100_000, position_quantity=0, price=200.0)
    assert result.order is not None
    assert result.order.quantity == 100
    assert result.price == 200.0


def test_a_limit_buy_is_sized_at_its_limit_and_carries_its_terms() -> None:
    """0.2 x 100,000 / limit 200 = 100 shares (not / the last price 210); the order is that LMT."""
    result = size_decision(
        decision(order_type=OrderType.LIMIT, limit_price=200.0, time_in_force=TimeInForce.GTC),
        allocated_capital=100_000,
        position_quantity=0,
        price=210.0,
    )
    order = result.order
    assert order is not None
    assert (order.action, order.quantity, order.order_type) == (OrderSide.BUY, 100, OrderType.LIMIT)
    assert (order.limit_price, order.stop_price, order.time_in_force) == (
        200.0,
        None,
        TimeInForce.GTC,
    )
    assert result.price == 200.0
    assert result.reason == (
        "target 0.200 x capital 100,000.00 / limit 200.00 = 100 shares; holding 0: "
        "BUY 100 LMT limit 200.0 GTC"
    )


def test_a_limit_buy_needs_no_market_price() -> None:
    """Without any last price a limit order is still sized, at its limit."""
    result = size_decision(
        decision(price=None, order_type=OrderType.LIMIT, limit_price=250.0),
        allocated_capital=100_000,
        position_quantity=0,
    )
    assert result.order is not None
    assert result.order.quantity == 80


def test_a_stop_exit_closes_the_holding_with_a_stop_order() -> None:
    """EXIT with a stop: SELL the whole holding as a STP at the stop price."""
    result = size_decision(
        decision(Action.EXIT, target_weight=0.0, order_type=OrderType.STOP, stop_price=190.0),
        allocated_capital=100_000,
        position_quantity=40,
    )
    order = result.order
    assert order is not None
    assert (order.action, order.quantity, order.order_type, order.stop_price) == (
        OrderSide.SELL,
        40,
        OrderType.STOP,
        190.0,
    )
    assert result.reason == "EXIT JPM: close 40 shares: SELL 40 STP stop 190.0 DAY"


def test_a_stop_limit_buy_is_sized_at_its_limit() -> None:
    """STP LMT: triggered at the stop, it pays at most the limit, so the limit sizes it."""
    result = size_decision(
        decision(order_type=OrderType.STOP_LIMIT, stop_price=215.0, limit_price=220.0),
        allocated_capital=100_000,
        position_quantity=0,
    )
    assert result.order is not None
    assert (result.order.quantity, result.price) == (90, 220.0)
    assert result.reason.endswith("BUY 90 STP LMT stop 215.0 limit 220.0 DAY")


@pytest.mark.parametrize(
    ("terms", "problem"),
    [
        ({"order_type": OrderType.LIMIT}, "LMT order needs a positive limit_price, got None"),
        (
            {"order_type": OrderType.STOP_LIMIT, "limit_price": 200.0},
            "STP LMT order needs a positive stop_price, got None",
        ),
        ({"order_type": OrderType.STOP, "stop_price": 0.0}, "STP order needs a positive stop"),
        ({"limit_price": 200.0}, "MKT order takes no limit_price, got 200.0"),
    ],
)
def test_order_terms_that_do_not_fit_are_refused_with_the_reason(
    terms: dict[str, Any], problem: str
) -> None:
    """A LMT without a limit price (and the like) gives no order, and says why."""
    for action in (Action.BUY, Action.EXIT):
        result = size_decision(
            decision(action, **terms), allocated_capital=100_000, position_quantity=10
        )
        assert result.order is None
        assert result.skip is SizingSkip.INVALID_ORDER
        assert result.reason.startswith(f"{action.name} JPM: {problem}")
        assert result.reason.endswith(": refused")


def test_a_market_gtc_order_says_so() -> None:
    """Only a market DAY order leaves its terms out of the reason."""
    result = size_decision(
        decision(time_in_force=TimeInForce.GTC), allocated_capital=100_000, position_quantity=0
    )
    assert result.order is not None
    assert result.order.time_in_force is TimeInForce.GTC
    assert result.reason.endswith("BUY 95 MKT GTC")


def test_a_sale_is_sized_from_what_working_orders_may_leave() -> None:
    """Working sales are counted as done and working purchases as not done: an EXIT sells only
    what is left, never below 0; a short is covered from its high end."""
    working = Exposure(buying=5.0, selling=30.0, orders=("vm:a", "vm:b"))
    rest = size_decision(
        decision(Action.EXIT, target_weight=0.0),
        allocated_capital=100_000,
        position_quantity=40,
        working=working,
    )
    assert rest.order is not None
    assert (rest.order.action, rest.order.quantity) == (OrderSide.SELL, 10)
    assert rest.reason == (
        "EXIT JPM: close 10 (holding 40, working vm:a, vm:b may still buy 5 or sell 30): SELL 10"
    )
    gone = size_decision(
        decision(Action.EXIT, target_weight=0.0),
        allocated_capital=100_000,
        position_quantity=30,
        working=working,
    )
    assert gone.skip is SizingSkip.NOTHING_TO_EXIT
    short = size_decision(
        decision(Action.EXIT, target_weight=0.0),
        allocated_capital=100_000,
        position_quantity=-20,
        working=Exposure(buying=15.0, orders=("vm:c",)),
    )
    assert short.order is not None
    assert (short.order.action, short.order.quantity) == (OrderSide.BUY, 5)


def test_a_target_is_reached_from_the_side_it_is_approached() -> None:
    """Up to a target from the holding plus working purchases, down to it from the holding minus
    working sales; a target in between is already on its way."""
    working = Exposure(buying=20.0, selling=10.0, orders=("vm:a",))

    def size(quantity: int) -> tuple[OrderSide, int] | None:
        result = size_decision(
            decision(quantity=quantity),
            allocated_capital=100_000,
            position_quantity=50,
            working=working,
        )
        return None if result.order is None else (result.order.action, result.order.quantity)

    assert size(95) == (OrderSide.BUY, 25)  # 95 - (50 + 20)
    assert size(20) == (OrderSide.SELL, 20)  # (50 - 10) - 20
    assert size(60) is None  # between 40 and 70
    assert size(70) is None
    assert size(40) is None


def test_nothing_working_sizes_exactly_as_the_book_alone() -> None:
    """With no working order, sizing (and its sentence) is what it is against the holding alone."""
    for action, held in ((Action.BUY, 60.0), (Action.BUY, 120.0), (Action.EXIT, 7.0)):
        alone = size_decision(decision(action), allocated_capital=100_000, position_quantity=held)
        idle = size_decision(
            decision(action),
            allocated_capital=100_000,
            position_quantity=held,
            working=Exposure.of([("vm:done", OrderSide.SELL, 0.0)]),
        )
        assert idle == alone
