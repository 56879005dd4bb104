"""Commissions: IB's fixed US-stock schedule (the engine's default) and how an order is charged.

A schedule gives the commission of one whole order. The engine charges per order: each execution pays
the order's commission-to-date minus what its earlier executions paid, so a per-order minimum is paid
once however many fills the order takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ibbot.exchange.orders import WorkingOrder

__all__ = ["CommissionSchedule", "charge_commission", "ib_fixed_commission"]

CommissionSchedule = Callable[[float, float], float]
"""The commission of one order of ``quantity`` shares at an average ``price``."""

# IB's fixed pricing for US stocks (interactivebrokers.com, "Commissions: Stocks, ETFs and Warrants",
# Fixed): USD 0.005 per share, at least USD 1.00 per order, at most 1% of the trade value.
_PER_SHARE = 0.005
_MIN_PER_ORDER = 1.0
_MAX_RATE = 0.01


def ib_fixed_commission(quantity: float, price: float) -> float:
    """IB's fixed commission for one US stock order of ``quantity`` shares at ``price``."""
    shares = abs(quantity)
    if shares == 0:
        return 0.0
    return min(max(_PER_SHARE * shares, _MIN_PER_ORDER), _MAX_RATE * shares * abs(price))


def charge_commission(order: WorkingOrder, schedule: CommissionSchedule) -> float:
    """What the order's latest execution pays: its commission to date minus what it paid before."""
    to_date = schedule(order.filled, order.avg_price)
    commission = max(0.0, to_date - order.commission_paid)
    order.commission_paid += commission
    return commission
