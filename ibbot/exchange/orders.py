"""The order model: what a client asks for, what the engine reports, and a working order's state.

A :class:`WorkingOrder` is the engine's mutable record of one order; matching (``matching``) moves
it through IB's statuses, the engine books its fills. New order types add their state here and their
trigger and price rules in ``matching``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ibbot.models import OrderSide, OrderType, TimeInForce

__all__ = [
    "LIMIT_TYPES",
    "OPEN_STATUSES",
    "STOP_TYPES",
    "WHY_HELD_HOURS",
    "WHY_HELD_TRIGGER",
    "IbOrderStatus",
    "OrderRequest",
    "OrderState",
    "WorkingOrder",
]


class IbOrderStatus(StrEnum):
    """The order statuses IB reports (``orderStatus.status``), as IB spells them."""

    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    INACTIVE = "Inactive"


OPEN_STATUSES = frozenset({IbOrderStatus.PRE_SUBMITTED, IbOrderStatus.SUBMITTED})
LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})

# IB's whyHeld values for an order that is accepted but not working yet.
WHY_HELD_TRIGGER = "trigger"
WHY_HELD_HOURS = "trading hours"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One ``placeOrder``: what a client asked for, keyed by ``(client_id, order_id)``."""

    client_id: int
    order_id: int
    symbol: str
    action: OrderSide
    quantity: float
    order_type: OrderType
    limit_price: float | None
    stop_price: float | None
    tif: TimeInForce
    order_ref: str
    account: str
    outside_rth: bool = False


@dataclass(frozen=True, slots=True)
class OrderState:
    """A snapshot of one order as the gateway reports it. ``status`` is IB's string."""

    request: OrderRequest
    perm_id: int
    status: str
    filled: float
    remaining: float
    avg_fill_price: float
    last_fill_price: float
    why_held: str = ""


@dataclass(slots=True)
class WorkingOrder:
    """The engine's record of one order, from acceptance to its last fill or cancel."""

    request: OrderRequest
    perm_id: int
    submitted_at: datetime
    status: IbOrderStatus
    why_held: str = ""
    filled: float = 0.0
    cost: float = 0.0  # sum of price * quantity over fills
    last_fill_price: float = 0.0
    commission_paid: float = 0.0
    triggered: bool = False
    resting: bool = False  # has met the market once without filling completely

    @property
    def remaining(self) -> float:
        """Shares still to fill."""
        return self.request.quantity - self.filled

    @property
    def avg_price(self) -> float:
        """Average fill price so far (0 before the first fill)."""
        return self.cost / self.filled if self.filled else 0.0

    @property
    def is_stop(self) -> bool:
        """True for the order types that wait for a trigger."""
        return self.request.order_type in STOP_TYPES

    @property
    def is_open(self) -> bool:
        """True while the order works or waits (IB: PreSubmitted or Submitted)."""
        return self.status in OPEN_STATUSES

    def eligible(self, market_open: bool, extended_open: bool) -> bool:
        """True when the order may trade now: regular hours, or extended hours with outside_rth."""
        return market_open or (self.request.outside_rth and extended_open)

    def hold_or_release(self, eligible: bool) -> None:
        """Set IB's status and whyHeld: held for trading hours, for its trigger, or working."""
        if not eligible:
            self.status, self.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_HOURS
        elif self.is_stop and not self.triggered:
            self.status, self.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_TRIGGER
        else:
            self.status, self.why_held = IbOrderStatus.SUBMITTED, ""

    def snapshot(self) -> OrderState:
        """The order as IB reports it now."""
        return OrderState(
            request=self.request,
            perm_id=self.perm_id,
            status=self.status.value,
            filled=self.filled,
            remaining=self.remaining,
            avg_fill_price=self.avg_price,
            last_fill_price=self.last_fill_price,
            why_held=self.why_held,
        )
