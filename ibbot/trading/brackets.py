"""From an entry order and its decision's protection to one IB bracket.

The protective prices are fixed when the bracket is placed, from the price the entry was sized at
(its limit, or the last price for a market entry): a stop-loss ``stop_loss_pct`` below it, a
take-profit ``take_profit_pct`` above it. A trailing stop trails from wherever the entry fills (IB
starts it from the market when the parent fills). Only an order that buys (opens or adds to a long
position) is protected; a sale closes what an earlier bracket protects.

The bracket's worst case is what the risk gate checks: the entry's quantity sold at its tightest
stop (:meth:`~ibbot.models.Protection.worst_exit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.models import Bracket, Order, OrderLeg, OrderSide, OrderType

if TYPE_CHECKING:
    from ibbot.models import Decision, Protection
    from ibbot.trading.positions import PositionBook

__all__ = ["BracketPlan", "plan_bracket", "wanted_stop"]


@dataclass(frozen=True, slots=True)
class BracketPlan:
    """The bracket to place (None: the order goes alone), or why the protection cannot be placed.

    ``worst_case_loss`` is the loss if the entry fills at its sizing price and its tightest stop
    sells it (None without a stop); ``detail`` says it all in one phrase for the sizing sentence.
    """

    bracket: Bracket | None = None
    problem: str | None = None
    worst_case_loss: float | None = None
    detail: str = ""


NO_BRACKET = BracketPlan()


def plan_bracket(order: Order, protection: Protection | None, entry: float | None) -> BracketPlan:
    """The bracket that protects ``order`` as ``protection`` asks, priced from ``entry``."""
    if protection is None or protection.empty or order.action is not OrderSide.BUY:
        return NO_BRACKET
    if entry is None:
        return BracketPlan(problem="no price to set the protective orders from")
    take = protection.take_profit(entry)
    stop = protection.stop_loss(entry)
    start = protection.trailing_start(entry)
    if take is not None and take <= entry:
        return BracketPlan(problem=f"take-profit {take:,.2f} is not above the entry {entry:,.2f}")
    if stop is not None and stop >= entry:
        return BracketPlan(problem=f"stop-loss {stop:,.2f} is not below the entry {entry:,.2f}")
    if start is not None and start <= 0:
        return BracketPlan(problem=f"trailing stop would start at {start:,.2f}, not above 0")
    children: list[tuple[OrderLeg, Order]] = []
    words: list[str] = []
    if take is not None:
        children.append((OrderLeg.TAKE_PROFIT, _child(order, protection, OrderType.LIMIT, take)))
        words.append(f"take-profit LMT {take:,.2f}")
    if start is not None:
        children.append((OrderLeg.TRAILING_STOP, _trailing(order, protection)))
        trail = (
            f"{protection.trailing_pct:.2%}"
            if protection.trailing_pct is not None
            else f"{protection.trailing_amount:,.2f}"
        )
        words.append(f"trailing stop {trail} (from {start:,.2f})")
    if stop is not None:
        children.append((OrderLeg.STOP_LOSS, _child(order, protection, OrderType.STOP, stop)))
        words.append(f"stop-loss STP {stop:,.2f}")
    worst = protection.worst_exit(entry)
    loss = None if worst is None else order.quantity * (entry - worst)
    detail = f"protected by {', '.join(words)} {protection.time_in_force}"
    if loss is not None:
        detail += f"; worst case {loss:,.2f} at {worst:,.2f}"
    return BracketPlan(Bracket(order, tuple(children)), worst_case_loss=loss, detail=detail)


def _child(order: Order, protection: Protection, order_type: OrderType, price: float) -> Order:
    leg = OrderLeg.TAKE_PROFIT if order_type is OrderType.LIMIT else OrderLeg.STOP_LOSS
    return Order(
        order.strategy_name,
        order.symbol,
        OrderSide.SELL,
        order.quantity,
        order_type,
        limit_price=price if order_type is OrderType.LIMIT else None,
        stop_price=price if order_type is OrderType.STOP else None,
        time_in_force=protection.time_in_force,
        decision_id=leg.decision_id(order.decision_id),
        created_at=order.created_at,
    )


def _trailing(order: Order, protection: Protection) -> Order:
    percent = None if protection.trailing_pct is None else round(protection.trailing_pct * 100, 6)
    return Order(
        order.strategy_name,
        order.symbol,
        OrderSide.SELL,
        order.quantity,
        OrderType.TRAIL,
        time_in_force=protection.time_in_force,
        decision_id=OrderLeg.TRAILING_STOP.decision_id(order.decision_id),
        created_at=order.created_at,
        trailing_amount=None if percent is not None else protection.trailing_amount,
        trailing_percent=percent,
    )


def wanted_stop(book: PositionBook, decision: Decision) -> float | None:
    """The stop-loss a decision's protection asks for the position it holds: a price as given, or
    a fraction below the position's average cost (the decision's price before any fill). Live and
    backtest raise a working stop to it when it is higher (a protective stop never moves down)."""
    protection = decision.protection
    if protection is None or protection.stop_loss_pct is None:
        return None if protection is None else protection.stop_loss_price
    held = book.position(decision.strategy_name, decision.symbol)
    entry = held.avg_cost if held is not None and held.avg_cost > 0 else decision.price
    return None if entry is None else protection.stop_loss(entry)
