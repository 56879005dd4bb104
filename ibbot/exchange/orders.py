"""The order model: what a client asks for, what the engine reports, and a working order's state.

A :class:`WorkingOrder` is the engine's mutable record of one order; matching (``matching``) moves
it through IB's statuses, the engine books its fills. New order types add their state here and their
trigger and price rules in ``matching``; how orders depend on each other (parents, OCA groups) lives
in ``contingency``.

A trailing stop's state is its current stop (``trail_stop``), moved by every trade in its favour:
a sell's stop is the highest trade since it started working minus the trailing amount (or
percentage of that trade), a buy's the lowest plus it. A TRAIL LIMIT's limit is set when it
triggers, ``lmtPriceOffset`` beyond the stop (below for a sell, above for a buy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ibbot.models import OrderSide, OrderType, TimeInForce
from ibbot.models.frozen import builder

__all__ = [
    "ADAPTIVE",
    "ADAPTIVE_PRIORITIES",
    "ADAPTIVE_PRIORITY",
    "DEFAULT_OCA_TYPE",
    "LIMIT_TYPES",
    "OCA_TYPES",
    "OPEN_STATUSES",
    "STOP_TYPES",
    "TRAIL_TYPES",
    "WHY_HELD_CHILD",
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


_PRICE_DECIMALS = 4  # US equities execute in hundredths of a cent at most

OPEN_STATUSES = frozenset({IbOrderStatus.PRE_SUBMITTED, IbOrderStatus.SUBMITTED})
LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
TRAIL_TYPES = frozenset({OrderType.TRAIL, OrderType.TRAIL_LIMIT})

# IB's whyHeld values for an order that is accepted but not working yet.
WHY_HELD_TRIGGER = "trigger"
WHY_HELD_HOURS = "trading hours"
WHY_HELD_CHILD = "child"  # an attached order waiting for its parent to fill

# IB's ocaType: 1 cancels the other orders of the group on a fill (with block), 2 reduces them
# proportionately (with block), 3 reduces them with no block (two orders may fill at once: an
# overfill is possible). An order that names a group without a type gets IB's default, 3.
DEFAULT_OCA_TYPE = 3
OCA_TYPES = frozenset({1, 2, 3})

# IB's Adaptive algo: a market or limit order worked by IB's router at a priority.
ADAPTIVE = "Adaptive"
ADAPTIVE_PRIORITY = "adaptivePriority"
ADAPTIVE_PRIORITIES = frozenset({"Urgent", "Normal", "Patient"})


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
    parent_id: int = 0  # the order this one is attached to (IB's parentId), 0 for none
    transmit: bool = True  # False: held back until an order of its chain transmits
    oca_group: str = ""
    oca_type: int = 0  # 0: IB's default (DEFAULT_OCA_TYPE) when oca_group is set
    trailing_amount: float | None = None  # TRAIL / TRAIL LIMIT: IB's auxPrice
    trailing_percent: float | None = None  # ... or IB's trailingPercent
    trail_stop_price: float | None = None  # the initial stop (default: from the market)
    limit_offset: float | None = None  # TRAIL LIMIT: IB's lmtPriceOffset
    algo_strategy: str = ""
    algo_params: tuple[tuple[str, str], ...] = ()

    @property
    def effective_oca_type(self) -> int:
        """The OCA type IB applies (its default when the order names a group but no type)."""
        return self.oca_type if self.oca_type in OCA_TYPES else DEFAULT_OCA_TYPE


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
    trail_stop_price: float | None = None  # a trailing order's current stop
    parent_perm_id: int = 0


_order_state = builder(OrderState)
# IB's status strings by status: a lookup, not the enum's ``value`` descriptor, per snapshot
_STATUS_TEXT = {status: status.value for status in IbOrderStatus}


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
    waiting_for_parent: bool = False  # an attached order before its parent filled
    parent_perm_id: int = 0
    trail_stop: float | None = None  # a trailing order's current stop (None until it works)
    trail_limit: float | None = None  # a TRAIL LIMIT's limit, set when it triggers
    oca_base: float = 0.0  # the quantity OCA reductions are proportional to

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
        """True for the order types that wait for a trigger (stops and trailing stops)."""
        kind = self.request.order_type
        return kind in STOP_TYPES or kind in TRAIL_TYPES

    @property
    def is_trailing(self) -> bool:
        """True for TRAIL and TRAIL LIMIT orders."""
        return self.request.order_type in TRAIL_TYPES

    @property
    def stop_level(self) -> float | None:
        """The price that triggers the order: its stop, or a trailing order's current stop."""
        return self.trail_stop if self.is_trailing else self.request.stop_price

    @property
    def limit_level(self) -> float | None:
        """The limit it trades at once working (None: at market)."""
        kind = self.request.order_type
        if kind is OrderType.TRAIL_LIMIT:
            return self.trail_limit
        return self.request.limit_price if kind in LIMIT_TYPES else None

    def trail_candidate(self, price: float) -> float:
        """The stop a trade at ``price`` would set: the trailing amount (or percent) away."""
        request = self.request
        amount = request.trailing_amount
        if request.trailing_percent is not None:
            amount = price * request.trailing_percent / 100.0
        assert amount is not None
        sell = request.action is OrderSide.SELL
        return round(price - amount if sell else price + amount, _PRICE_DECIMALS)

    def trail(self, price: float) -> None:
        """Move a trailing stop by a trade at ``price`` (only ever in the order's favour)."""
        candidate = self.trail_candidate(price)
        sell = self.request.action is OrderSide.SELL
        if self.trail_stop is None:
            start = self.request.trail_stop_price
            self.trail_stop = candidate if start is None else start
        if (sell and candidate > self.trail_stop) or (not sell and candidate < self.trail_stop):
            self.trail_stop = candidate

    def trigger(self) -> None:
        """The stop was reached: a TRAIL LIMIT fixes its limit, and the order works."""
        self.triggered = True
        self.resting = False
        request = self.request
        if request.order_type is OrderType.TRAIL_LIMIT and self.trail_stop is not None:
            offset = request.limit_offset or 0.0
            sell = request.action is OrderSide.SELL
            self.trail_limit = round(
                self.trail_stop - offset if sell else self.trail_stop + offset, _PRICE_DECIMALS
            )
        self.hold_or_release(eligible=True)

    @property
    def is_open(self) -> bool:
        """True while the order works or waits (IB: PreSubmitted or Submitted)."""
        return self.status in OPEN_STATUSES

    def eligible(self, market_open: bool, extended_open: bool) -> bool:
        """True when the order may trade now: regular hours, or extended hours with outside_rth."""
        return market_open or (self.request.outside_rth and extended_open)

    def hold_or_release(self, eligible: bool) -> None:
        """Set IB's status and whyHeld: held for its parent, trading hours, its trigger, or working."""
        if self.waiting_for_parent:
            self.status, self.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_CHILD
        elif not eligible:
            self.status, self.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_HOURS
        elif self.is_stop and not self.triggered:
            self.status, self.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_TRIGGER
        else:
            self.status, self.why_held = IbOrderStatus.SUBMITTED, ""

    def snapshot(self) -> OrderState:
        """The order as IB reports it now."""
        filled = self.filled
        # OrderState(...) without the frozen constructor's per-field cost: several per fill
        return _order_state(
            self.request,
            self.perm_id,
            _STATUS_TEXT[self.status],
            filled,
            self.request.quantity - filled,
            self.cost / filled if filled else 0.0,
            self.last_fill_price,
            self.why_held,
            self.trail_stop,
            self.parent_perm_id,
        )
