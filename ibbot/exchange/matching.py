"""Matching rules: when a working order trades against a quote or a bar, and at what price.

Each step looks at one order and one market update, moves the order through IB's statuses (held for
hours, waiting for its trigger, working) and says where it fills, if it does; the engine decides how
much (the update's capacity) and books the fill. A new order type adds its trigger and price rule to
:func:`match_quote` and :func:`match_bar`. The rules are listed in :mod:`ibbot.exchange.engine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.exchange.orders import (
    LIMIT_TYPES,
    TRAIL_TYPES,
    WHY_HELD_CHILD,
    WHY_HELD_HOURS,
    WHY_HELD_TRIGGER,
)
from ibbot.models import OrderSide, OrderType
from ibbot.models.frozen import builder

if TYPE_CHECKING:
    from ibbot.exchange.market import Quote, SimBar
    from ibbot.exchange.orders import OrderRequest, WorkingOrder

__all__ = [
    "UNLIMITED",
    "Capacity",
    "Match",
    "bar_capacity",
    "bar_path",
    "match_bar",
    "match_quote",
    "path_position",
    "quote_capacity",
    "reference_price",
]

_PRICE_DECIMALS = 4  # US equities execute in hundredths of a cent at most


@dataclass(slots=True)
class Capacity:
    """Shares still fillable in one market update (None = unlimited)."""

    left: float | None

    def take(self, wanted: float) -> float:
        """Claim up to ``wanted`` whole shares of what is left; return how many were granted."""
        if self.left is None:
            return wanted
        got = min(wanted, float(math.floor(self.left)))
        self.left -= got
        return got


UNLIMITED = Capacity(None)  # never mutated: take() only counts down a finite capacity


@dataclass(frozen=True, slots=True)
class Match:
    """What one market update did to an order: a status change to report, a price to fill at."""

    reason: str = ""  # why the status or whyHeld changed; "" when neither did
    price: float | None = None  # where the order fills now; None when it does not


# one per order and market update: without the frozen constructor's per-field cost
_match = builder(Match)


def quote_capacity(
    fraction: float | None, previous_volume: int | None, quote: Quote
) -> dict[OrderSide, Capacity]:
    """What one quote update can fill per side: a share of the volume traded since the last one.

    Without a previous quote of the symbol, the share is of the displayed size at the touch.
    """
    if fraction is None:
        return {OrderSide.BUY: Capacity(None), OrderSide.SELL: Capacity(None)}
    traded = quote.volume - (quote.volume if previous_volume is None else previous_volume)
    if traded > 0:
        return {side: Capacity(fraction * traded) for side in OrderSide}
    return {
        OrderSide.BUY: Capacity(fraction * quote.ask_size),
        OrderSide.SELL: Capacity(fraction * quote.bid_size),
    }


def bar_capacity(fraction: float | None, bar: SimBar) -> Capacity:
    """What one bar can fill, shared by the symbol's orders: a share of its volume."""
    if fraction is not None and bar.volume > 0:
        return Capacity(fraction * bar.volume)
    return UNLIMITED


def match_quote(
    order: WorkingOrder, quote: Quote, slippage: float, hours: tuple[bool, bool]
) -> Match:
    """Live matching of ``order`` against a new top of book; ``hours`` = (regular, extended) open."""
    before = (order.status, order.why_held)
    order.hold_or_release(order.eligible(*hours))
    if order.why_held in (WHY_HELD_HOURS, WHY_HELD_CHILD):
        changed = (order.status, order.why_held) != before
        return _match("waiting for trading hours" if changed else "")
    if before[1] == WHY_HELD_HOURS:
        order.resting = False  # at the open a held order meets the market anew (opening cross)
    buy = order.request.action is OrderSide.BUY
    if order.is_stop and not order.triggered:
        if order.is_trailing:
            order.trail(quote.last)
        stop = order.stop_level
        assert stop is not None
        if (buy and quote.last >= stop) or (not buy and quote.last <= stop):
            order.trigger()
    reason = ""
    if (order.status, order.why_held) != before:
        reason = "stop triggered" if order.triggered else "working"
    if order.why_held == WHY_HELD_TRIGGER:
        return _match(reason)
    touch = quote.ask if buy else quote.bid
    if touch <= 0:
        touch = quote.last
    limit = order.limit_level
    if limit is None:
        price = _slipped(touch, buy, slippage)
    elif (buy and touch <= limit) or (not buy and touch >= limit):
        price = limit if order.resting else touch
    else:
        order.resting = True
        return _match(reason)
    order.resting = True
    return _match(reason, price)


def match_bar(order: WorkingOrder, bar: SimBar, slippage: float) -> Match:
    """Backtest matching of ``order`` against one bar (bars only exist while the market trades)."""
    request = order.request
    buy = request.action is OrderSide.BUY
    before = (order.status, order.why_held)
    if order.why_held == WHY_HELD_HOURS:
        order.hold_or_release(eligible=True)
    price: float | None
    if request.order_type is OrderType.MARKET:
        price = _slipped(bar.open, buy, slippage)
    elif request.order_type is OrderType.LIMIT:
        price = _limit_fill(buy, request.limit_price, bar.open, bar)
    else:
        price = _stop_fill(order, bar, buy, slippage)
    reason = ""
    if (order.status, order.why_held) != before:
        reason = "stop triggered" if order.triggered else "working"
    return _match(reason, price)


def bar_path(bar: SimBar) -> tuple[float, float, float, float]:
    """The path assumed inside a bar: open, low, high, close on an up bar; open, high, low, close
    on a down bar (the extreme nearer the open comes first)."""
    if bar.close >= bar.open:
        return bar.open, bar.low, bar.high, bar.close
    return bar.open, bar.high, bar.low, bar.close


def path_position(order: WorkingOrder, bar: SimBar) -> float:
    """How far along :func:`bar_path` the order's price is first reached (0: at the open; inf:
    never). Orders that compete (an OCA group) are matched in this order, soonest first."""
    request = order.request
    buy = request.action is OrderSide.BUY
    if request.order_type is OrderType.MARKET or (
        order.triggered and request.order_type in (OrderType.STOP, OrderType.TRAIL)
    ):
        return 0.0
    if order.is_stop and not order.triggered:
        level, above = order.stop_level, buy
        if level is None and order.is_trailing:
            level = order.request.trail_stop_price or order.trail_candidate(bar.open)
    else:
        level, above = order.limit_level, not buy
    if level is None:
        return 0.0
    travelled = 0.0
    previous = bar.open
    for point in bar_path(bar):
        if (above and point >= level) or (not above and point <= level):
            return travelled + abs(level - previous) if point != previous else travelled
        travelled += abs(point - previous)
        previous = point
    return math.inf


def reference_price(request: OrderRequest, quote: Quote | None, mark: float | None) -> float | None:
    """The price an order is expected to trade at (its limit or stop, else the touch or the mark)."""
    if request.order_type in LIMIT_TYPES:
        return request.limit_price
    if request.order_type is OrderType.STOP:
        return request.stop_price
    if quote is not None:
        touch = quote.ask if request.action is OrderSide.BUY else quote.bid
        return touch if touch > 0 else quote.last
    return mark


def _stop_fill(order: WorkingOrder, bar: SimBar, buy: bool, slippage: float) -> float | None:
    """Trigger a stop in ``bar`` if the bar's path reaches it; return the fill price, if any.

    A trailing stop follows the path (:func:`bar_path`): each point first tests the stop, then
    moves it, so a bar that rises and falls back can trigger the stop its own high raised.
    """
    start = bar.open
    if not order.triggered:
        reached = _walk(order, bar, buy)
        if reached is None:
            return None
        start = reached
        order.trigger()
    if order.request.order_type in (OrderType.STOP, OrderType.TRAIL):
        return _slipped(start, buy, slippage)
    return _limit_fill(buy, order.limit_level, start, bar)


def _walk(order: WorkingOrder, bar: SimBar, buy: bool) -> float | None:
    """Where the bar's path first reaches the order's stop (the open when it gaps through it)."""
    trailing = order.request.order_type in TRAIL_TYPES
    for index, point in enumerate(bar_path(bar)):
        if trailing and index == 0:
            order.trail(point)
        stop = order.stop_level
        assert stop is not None
        if (buy and point >= stop) or (not buy and point <= stop):
            return point if index == 0 else stop
        if trailing:
            order.trail(point)
    return None


def _slipped(price: float, buy: bool, slippage: float) -> float:
    return round(price * (1.0 + slippage if buy else 1.0 - slippage), _PRICE_DECIMALS)


def _limit_fill(buy: bool, limit: float | None, start: float, bar: SimBar) -> float | None:
    """Where a limit order fills in ``bar`` when it becomes active at price ``start``, or None."""
    assert limit is not None
    if (buy and start <= limit) or (not buy and start >= limit):
        return start
    if (buy and bar.low <= limit) or (not buy and bar.high >= limit):
        return limit
    return None
