"""From a decision to an order: how many whole shares move the strategy to what it asked for.

A BUY decision names a *target* holding: ``quantity`` shares when the decision gives one, else
``target_weight x allocated capital / price`` shares rounded down (never more than the allocation).
The order is the difference from what the strategy holds now, so repeating a decision never doubles
a position, and a lower target than the holding sells the excess. EXIT closes the whole position.
Orders worth less than the minimum notional are skipped, except exits: closing must stay possible
however small the remainder.

"Holds now" includes the strategy's working orders (:class:`~ibbot.trading.working.Exposure`), one
direction at a time since each may still end unfilled: a purchase is sized as if every working
purchase fills, a sale (an exit, or a target under the holding) as if every working sale fills and
no purchase does. A burst of decisions while an order works (or while its fills are still on their
way to the book) so never buys twice nor sells shares that are already sold or not yet bought.

The order has the type, prices and time in force the decision asks for (a market DAY order by
default). A limit or stop order is sized at its own price (:func:`~ibbot.models.valuation_price`),
not the last price; a decision whose prices do not fit its type (a LMT without a limit price, say)
is refused before any arithmetic, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ibbot.models import (
    Action,
    Decision,
    Order,
    OrderSide,
    OrderType,
    TimeInForce,
    order_price_problem,
    valuation_price,
)
from ibbot.models.frozen import builder
from ibbot.trading.working import NOTHING_WORKING, Exposure

__all__ = ["SizingResult", "SizingSkip", "size_decision"]

# Whole-share arithmetic on float holdings: 94.99999999 shares is 95.
_ROUNDING_SLACK = 1e-9


class SizingSkip(StrEnum):
    """Why a decision produced no order."""

    HOLD = "hold"
    INVALID_ORDER = "invalid_order"
    NO_PRICE = "no_price"
    AT_TARGET = "at_target"
    NOTHING_TO_EXIT = "nothing_to_exit"
    BELOW_MIN_NOTIONAL = "below_min_notional"


@dataclass(frozen=True, slots=True)
class SizingResult:
    """The order a decision leads to (None when skipped), and the arithmetic in one sentence."""

    order: Order | None
    reason: str
    target_quantity: int | None = None
    price: float | None = None
    skip: SizingSkip | None = None

    @property
    def skipped(self) -> bool:
        """True when no order is to be sent."""
        return self.order is None


def size_decision(
    decision: Decision,
    *,
    allocated_capital: float,
    position_quantity: float,
    price: float | None = None,
    min_order_notional: float = 100.0,
    working: Exposure = NOTHING_WORKING,
) -> SizingResult:
    """Size ``decision`` against the strategy's capital, its current holding and working orders.

    ``price`` overrides ``decision.price`` (e.g. a fresher last price) for a market order; a limit
    or stop order is sized at its limit or stop price. The order carries the decision's strategy,
    id, timestamp and order terms, so it is traceable and a replay builds identical orders.
    """
    symbol = decision.symbol
    action = decision.action
    if action is Action.HOLD:
        return SizingResult(None, f"HOLD {symbol}: no order", skip=SizingSkip.HOLD)
    order_type = decision.order_type
    problem = order_price_problem(order_type, decision.limit_price, decision.stop_price)
    if problem is not None:
        return SizingResult(
            None,
            f"{action.name} {symbol}: {problem}: refused",
            skip=SizingSkip.INVALID_ORDER,
        )
    ref_price = valuation_price(
        order_type,
        decision.limit_price,
        decision.stop_price,
        price if price is not None else decision.price,
    )
    if ref_price is not None and (not math.isfinite(ref_price) or ref_price <= 0):
        ref_price = None
    terms = _terms(decision)
    held = position_quantity
    low, high = working.low(held), working.high(held)
    holding = f"holding {held:g}" if working.idle else f"holding {held:g}, {working.describe()}"
    if action is Action.EXIT:
        # Close what is left once the working orders are done: a long holding from its low end,
        # a short one from its high end.
        left = low if low > 0 else min(high, 0.0)
        quantity = math.floor(abs(left) + _ROUNDING_SLACK)
        if quantity == 0:
            return SizingResult(
                None,
                f"EXIT {symbol}: nothing to close ({holding})",
                target_quantity=0,
                price=ref_price,
                skip=SizingSkip.NOTHING_TO_EXIT,
            )
        side = OrderSide.SELL if left > 0 else OrderSide.BUY
        closing = f"close {held:g} shares" if working.idle else f"close {left:g} ({holding})"
        return _new_result(
            _order(decision, side, quantity),
            f"EXIT {symbol}: {closing}: {side} {quantity}{terms}",
            target_quantity=0,
            price=ref_price,
        )
    if ref_price is None:
        return SizingResult(
            None, f"BUY {symbol}: no price to size the order with", skip=SizingSkip.NO_PRICE
        )
    if decision.quantity is not None:
        target = decision.quantity
        basis = f"target {target} shares (explicit quantity)"
    else:
        weight = decision.target_weight
        target = math.floor(weight * allocated_capital / ref_price + _ROUNDING_SLACK)
        basis = (
            f"target {weight:.3f} x capital {allocated_capital:,.2f} / {_PRICE_WORD[order_type]} "
            f"{ref_price:,.2f} = {target} shares"
        )
    # Up to the target from the high end, down to it from the low end; in between, the working
    # orders already do what the decision asks.
    delta = target - high if target > high else min(target - low, 0.0)
    quantity = math.floor(abs(delta) + _ROUNDING_SLACK)
    if quantity == 0:
        return SizingResult(
            None,
            f"{basis}; {holding}: already at target",
            target_quantity=target,
            price=ref_price,
            skip=SizingSkip.AT_TARGET,
        )
    side = OrderSide.BUY if delta > 0 else OrderSide.SELL
    notional = quantity * ref_price
    if notional < min_order_notional:
        return SizingResult(
            None,
            f"{basis}; {holding}: {side} {quantity} x {ref_price:,.2f} = "
            f"{notional:,.2f} < min order notional {min_order_notional:,.2f}: skipped",
            target_quantity=target,
            price=ref_price,
            skip=SizingSkip.BELOW_MIN_NOTIONAL,
        )
    return _new_result(
        _order(decision, side, quantity),
        f"{basis}; {holding}: {side} {quantity}{terms}",
        target_quantity=target,
        price=ref_price,
    )


# What the reference price of each order type is, in the sizing sentence.
_PRICE_WORD = {
    OrderType.MARKET: "price",
    OrderType.LIMIT: "limit",
    OrderType.STOP: "stop",
    OrderType.STOP_LIMIT: "limit",
}


def _terms(decision: Decision) -> str:
    """`` LMT 101.5 GTC``: the order's terms, or nothing for a market DAY order (the default)."""
    order_type = decision.order_type
    tif = decision.time_in_force
    if order_type is OrderType.MARKET:
        return "" if tif is TimeInForce.DAY else f" {order_type} {tif}"
    prices = "".join(
        f" {name} {value}"
        for name, value in (("stop", decision.stop_price), ("limit", decision.limit_price))
        if value is not None
    )
    return f" {order_type}{prices} {tif}"


def _order(decision: Decision, side: OrderSide, quantity: int) -> Order:
    return _new_order(
        decision.strategy_name,
        decision.symbol,
        side,
        quantity,
        decision.order_type,
        decision.limit_price,
        decision.stop_price,
        decision.time_in_force,
        decision_id=decision.decision_id,
        created_at=decision.timestamp,
    )


# Order(...) and SizingResult(...) without the per-field cost (same checks): one per decision
_new_order = builder(Order)
_new_result = builder(SizingResult)
