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

from ibbot.exchange.orders import LIMIT_TYPES, WHY_HELD_HOURS, WHY_HELD_TRIGGER
from ibbot.models import OrderSide, OrderType

if TYPE_CHECKING:
    from ibbot.exchange.market import Quote, SimBar
    from ibbot.exchange.orders import OrderRequest, WorkingOrder

__all__ = [
    "UNLIMITED",
    "Capacity",
    "Match",
    "bar_capacity",
    "match_bar",
    "match_quote",
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
    if order.why_held == WHY_HELD_HOURS:
        changed = (order.status, order.why_held) != before
        return Match("waiting for trading hours" if changed else "")
    if before[1] == WHY_HELD_HOURS:
        order.resting = False  # at the open a held order meets the market anew (opening cross)
    request = order.request
    buy = request.action is OrderSide.BUY
    if order.is_stop and not order.triggered:
        stop = request.stop_price
        assert stop is not None
        if (buy and quote.last >= stop) or (not buy and quote.last <= stop):
            order.triggered = True
            order.resting = False
            order.hold_or_release(eligible=True)
    reason = ""
    if (order.status, order.why_held) != before:
        reason = "stop triggered" if order.triggered else "working"
    if order.why_held == WHY_HELD_TRIGGER:
        return Match(reason)
    touch = quote.ask if buy else quote.bid
    if touch <= 0:
        touch = quote.last
    limit = request.limit_price if request.order_type in LIMIT_TYPES else None
    if limit is None:
        price = _slipped(touch, buy, slippage)
    elif (buy and touch <= limit) or (not buy and touch >= limit):
        price = limit if order.resting else touch
    else:
        order.resting = True
        return Match(reason)
    order.resting = True
    return Match(reason, price)


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
    return Match(reason, price)


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
    """Trigger a stop in ``bar`` if its range reaches it; return the fill price, if any."""
    request = order.request
    stop = request.stop_price
    assert stop is not None
    start = bar.open
    if not order.triggered:
        if (buy and bar.open >= stop) or (not buy and bar.open <= stop):
            start = bar.open  # gapped through the stop: it triggers at the open
        elif (buy and bar.high >= stop) or (not buy and bar.low <= stop):
            start = stop
        else:
            return None
        order.triggered = True
        order.hold_or_release(eligible=True)
    if request.order_type is OrderType.STOP:
        return _slipped(start, buy, slippage)
    return _limit_fill(buy, request.limit_price, start, bar)


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
