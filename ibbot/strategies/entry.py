"""How a strategy enters a position: at the market, or with a limit that waits below the market.

A passive limit buys only if the price comes down to it (the next session, for a DAY order), so an
entry costs at most the limit, at the risk of not being filled. Limit prices sit on the exchange's
price grid: under Reg NMS Rule 612, US stocks priced at $1.00 or more are quoted in whole cents
and those below $1.00 in hundredths of a cent; IB refuses other prices (error 110).
"""

from __future__ import annotations

import math
from enum import StrEnum

from ibbot.models import OrderSide

__all__ = ["EntryOrder", "passive_limit", "tick_size"]

_BPS = 10_000.0
_CENT = 0.01
_SUB_PENNY = 0.0001
# Float slack when dividing by the tick: 9.99 / 0.01 is 998.9999999999999.
_GRID_SLACK = 1e-9


class EntryOrder(StrEnum):
    """The order a strategy buys with."""

    MARKET = "market"
    LIMIT = "limit"


def tick_size(price: float) -> float:
    """The minimum price increment of a US stock quoted at ``price`` (Reg NMS Rule 612)."""
    return _CENT if price >= 1.0 else _SUB_PENNY


def passive_limit(price: float, side: OrderSide, offset_bps: float) -> float:
    """A limit ``offset_bps`` basis points from ``price`` on the waiting side, on the price grid.

    A buy limit lies below ``price`` and is rounded down, a sell limit above and rounded up, so
    the rounding never makes the order more aggressive than asked.
    """
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"a limit needs a positive reference price, got {price}")
    if not 0 <= offset_bps < _BPS:
        raise ValueError(f"the offset must lie within 0..10,000 bps, got {offset_bps}")
    raw = price * (1.0 - side.sign * offset_bps / _BPS)
    tick = tick_size(raw)
    decimals = 2 if tick == _CENT else 4
    steps = raw / tick
    if side is OrderSide.BUY:
        grid = max(1, math.floor(steps + _GRID_SLACK))  # one tick is the lowest price there is
    else:
        grid = math.ceil(steps - _GRID_SLACK)
    return round(grid * tick, decimals)
