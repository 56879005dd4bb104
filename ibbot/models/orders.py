"""Orders, their results, fills and positions.

An order is always traceable to the decision that caused it: ``Order.order_ref`` (sent to IB as
``orderRef``) is ``"<strategy>:<decision id>"`` and comes back on every execution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ibbot.clock import ensure_utc, utc_now
from ibbot.models.frozen import builder

__all__ = [
    "Action",
    "Fill",
    "Order",
    "OrderResult",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "TimeInForce",
    "order_price_problem",
    "parse_order_ref",
    "trailing_problem",
    "valuation_price",
]

ORDER_REF_SEPARATOR = ":"


class Action(StrEnum):
    """What a strategy decided to do with a symbol."""

    HOLD = "hold"
    BUY = "buy"
    EXIT = "exit"

    @classmethod
    def _missing_(cls, value: object) -> Action | None:
        return {"hold": cls.HOLD, "buy": cls.BUY, "exit": cls.EXIT}.get(str(value).lower())


class OrderSide(StrEnum):
    """Direction of an order, as IB spells it."""

    BUY = "BUY"
    SELL = "SELL"

    @classmethod
    def _missing_(cls, value: object) -> OrderSide | None:
        return {"BUY": cls.BUY, "SELL": cls.SELL}.get(str(value).upper())

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for sells: the sign of the position change."""
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    """Order types we send; values are IB's codes."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"
    # A stop that follows the market by an amount or a percentage (IB's auxPrice or
    # trailingPercent); TRAIL LIMIT becomes a limit order lmtPriceOffset beyond its stop.
    TRAIL = "TRAIL"
    TRAIL_LIMIT = "TRAIL LIMIT"

    @classmethod
    def _missing_(cls, value: object) -> OrderType | None:
        aliases = {
            "MARKET": cls.MARKET,
            "LIMIT": cls.LIMIT,
            "STOP": cls.STOP,
            "STOP_LIMIT": cls.STOP_LIMIT,
            "TRAILING": cls.TRAIL,
            "TRAIL_LIMIT": cls.TRAIL_LIMIT,
        }
        return aliases.get(str(value).upper().replace(" ", "_"))


_LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_TRAIL_TYPES = frozenset({OrderType.TRAIL, OrderType.TRAIL_LIMIT})


def order_price_problem(
    order_type: OrderType, limit_price: float | None, stop_price: float | None
) -> str | None:
    """Why these prices do not fit ``order_type`` (None when they do), in one phrase.

    IB needs a limit price (``lmtPrice``) for LMT and STP LMT and a stop price (``auxPrice``) for
    STP and STP LMT, each a positive number; a price the type does not use is refused too, since it
    would be silently ignored (a MKT order "with a limit" is still a market order).
    """
    if order_type is OrderType.MARKET and limit_price is None and stop_price is None:
        return None  # the common case, checked once per decision and once per order
    if order_type in _TRAIL_TYPES:
        return (
            f"{order_type} orders follow a position: give the decision a Protection with a "
            "trailing stop instead"
        )
    needs_limit = order_type in _LIMIT_TYPES
    needs_stop = order_type in _STOP_TYPES
    for needed, value, name in (
        (needs_limit, limit_price, "limit"),
        (needs_stop, stop_price, "stop"),
    ):
        if needed and (value is None or not math.isfinite(value) or value <= 0):
            return f"{order_type} order needs a positive {name}_price, got {value}"
        if not needed and value is not None:
            return f"{order_type} order takes no {name}_price, got {value}"
    return None


def trailing_problem(
    order_type: OrderType, trailing_amount: float | None, trailing_percent: float | None
) -> str | None:
    """Why these trailing terms do not fit ``order_type`` (None when they do).

    A TRAIL order trails by exactly one of an amount (IB's ``auxPrice``) or a percentage (IB's
    ``trailingPercent``, in percent: 2.0 is 2%); other orders take neither.
    """
    if trailing_amount is None and trailing_percent is None and order_type is not OrderType.TRAIL:
        return None  # the common case: no trailing terms on an order that takes none
    given = [v for v in (trailing_amount, trailing_percent) if v is not None]
    if order_type is not OrderType.TRAIL:
        return f"{order_type} order takes no trailing terms" if given else None
    if len(given) != 1:
        return "TRAIL order needs either a trailing amount or a trailing percent"
    if trailing_amount is not None and not (math.isfinite(trailing_amount) and trailing_amount > 0):
        return f"TRAIL order needs a positive trailing amount, got {trailing_amount}"
    if trailing_percent is not None and not (
        math.isfinite(trailing_percent) and 0 < trailing_percent < 100
    ):
        return f"TRAIL order needs a trailing percent above 0 and below 100, got {trailing_percent}"
    return None


def valuation_price(
    order_type: OrderType,
    limit_price: float | None,
    stop_price: float | None,
    market_price: float | None,
) -> float | None:
    """The price an order is sized and risk-checked at.

    A limit order (LMT, STP LMT) at its limit: the most it pays or the least it takes. A stop
    order at its stop, where it becomes a market order. A market order at ``market_price``.
    """
    if order_type is OrderType.MARKET:
        return market_price
    if order_type in _LIMIT_TYPES:
        return limit_price
    return stop_price


class TimeInForce(StrEnum):
    """How long an order works."""

    DAY = "DAY"
    GTC = "GTC"

    @classmethod
    def _missing_(cls, value: object) -> TimeInForce | None:
        return {"DAY": cls.DAY, "GTC": cls.GTC}.get(str(value).upper())


class OrderStatus(StrEnum):
    """Our own order lifecycle; IB's statuses map onto it (see ``ibbot.broker``)."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    BLOCKED = "blocked"

    @property
    def is_terminal(self) -> bool:
        """True once the order can no longer change (filled, cancelled, rejected, blocked)."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.BLOCKED}
)


def parse_order_ref(order_ref: str) -> tuple[str, str]:
    """Split an ``orderRef`` into ``(strategy_name, decision_id)``; unknown shapes give ``(ref, "")``."""
    strategy, sep, decision_id = order_ref.partition(ORDER_REF_SEPARATOR)
    return (strategy, decision_id) if sep else (order_ref, "")


@dataclass(frozen=True, slots=True)
class Order:
    """An instruction to trade ``quantity`` shares of ``symbol`` on behalf of a strategy."""

    strategy_name: str
    symbol: str
    action: OrderSide
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    decision_id: str = ""
    created_at: datetime = field(default_factory=utc_now)
    trailing_amount: float | None = None  # TRAIL: IB's auxPrice
    trailing_percent: float | None = None  # TRAIL: IB's trailingPercent (2.0 is 2%)

    def __post_init__(self) -> None:
        # each field normalised only when it is not already normal (the common case, and the
        # replay's: a set per field costs more than the check)
        if self.created_at.tzinfo is not UTC:
            object.__setattr__(self, "created_at", ensure_utc(self.created_at, field="created_at"))
        if type(self.action) is not OrderSide:
            object.__setattr__(self, "action", OrderSide(self.action))
        if type(self.order_type) is not OrderType:
            object.__setattr__(self, "order_type", OrderType(self.order_type))
        if type(self.time_in_force) is not TimeInForce:
            object.__setattr__(self, "time_in_force", TimeInForce(self.time_in_force))
        if self.quantity <= 0:
            raise ValueError(f"order quantity must be positive, got {self.quantity}")
        if not self.symbol:
            raise ValueError("order symbol must not be empty")
        if ORDER_REF_SEPARATOR in self.strategy_name:
            raise ValueError(
                f"strategy name must not contain {ORDER_REF_SEPARATOR!r}: {self.strategy_name!r}"
            )
        if self.order_type is OrderType.TRAIL:
            if self.limit_price is not None or self.stop_price is not None:
                raise ValueError("TRAIL order takes no limit_price or stop_price")
            problem = trailing_problem(self.order_type, self.trailing_amount, self.trailing_percent)
        else:
            problem = order_price_problem(
                self.order_type, self.limit_price, self.stop_price
            ) or trailing_problem(self.order_type, self.trailing_amount, self.trailing_percent)
        if problem is not None:
            raise ValueError(problem)

    @property
    def order_ref(self) -> str:
        """The ``orderRef`` sent to IB: ``"<strategy>:<decision id>"``."""
        return f"{self.strategy_name}{ORDER_REF_SEPARATOR}{self.decision_id}"

    @property
    def signed_quantity(self) -> int:
        """Quantity with the sign of the position change."""
        return self.quantity * self.action.sign


@dataclass(frozen=True, slots=True)
class OrderResult:
    """The state of an order as last reported by the broker; never optimistic.

    ``fill_price`` is the average fill price and ``fill_quantity`` the cumulative filled quantity.
    ``order_id`` is per client session; ``perm_id`` is unique per account and survives reconnects.
    ``error_code`` is IB's code of the error that ended or held the order (201: rejected...), if any.
    """

    order_id: int
    status: OrderStatus
    fill_price: float | None = None
    fill_quantity: float | None = None
    message: str | None = None
    perm_id: int = 0
    remaining: float | None = None
    commission: float | None = None
    symbol: str = ""
    strategy_name: str = ""
    decision_id: str = ""
    timestamp: datetime = field(default_factory=utc_now)
    error_code: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        object.__setattr__(self, "status", OrderStatus(self.status))


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``commission`` is None until IB's commission report for it has arrived."""

    exec_id: str
    order_id: int
    perm_id: int
    symbol: str
    side: OrderSide
    quantity: float
    price: float
    timestamp: datetime
    commission: float | None = None
    strategy_name: str = ""
    decision_id: str = ""
    account: str = ""
    realized_pnl: float | None = None

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is not UTC:
            object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        if type(self.side) is not OrderSide:
            object.__setattr__(self, "side", OrderSide(self.side))

    @property
    def signed_quantity(self) -> float:
        """Quantity with the sign of the position change."""
        return self.quantity * self.side.sign

    @property
    def notional(self) -> float:
        """Absolute traded value, ``quantity * price``."""
        return abs(self.quantity * self.price)


# Broker quantities arrive as floats (IB sends Decimals); anything smaller than this is flat.
QUANTITY_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Position:
    """Shares held in one symbol, by one strategy (or by the account when ``strategy_name`` is empty).

    ``avg_cost`` is the average price paid for the open quantity (commissions excluded);
    ``realized_pnl`` accumulates closed-lot profit net of every commission paid.
    """

    symbol: str
    quantity: float
    avg_cost: float
    strategy_name: str = ""
    account: str = ""
    realized_pnl: float = 0.0

    @property
    def is_flat(self) -> bool:
        """True when no shares are held."""
        return abs(self.quantity) < QUANTITY_EPSILON

    def apply_fill(
        self, signed_quantity: float, price: float, *, commission: float = 0.0
    ) -> tuple[Position, float]:
        """The position after an execution, and the PnL that execution realized (net of commission).

        Average-cost accounting, the way IB reports ``avgCost``: adding to a position moves the
        average; reducing it realizes ``closed x (price - avg_cost)`` (sign-adjusted for shorts) and
        leaves the average unchanged; crossing through zero closes the old side and opens the rest at
        ``price``. The commission is a cost of this fill, so it is taken from the realized PnL at once.
        """
        old = self.quantity
        new = old + signed_quantity
        realized = -commission
        if abs(old) < QUANTITY_EPSILON or (old > 0) == (signed_quantity > 0):
            avg = (old * self.avg_cost + signed_quantity * price) / new if abs(new) else 0.0
        else:
            closed = min(abs(signed_quantity), abs(old))
            realized += closed * (price - self.avg_cost) * (1.0 if old > 0 else -1.0)
            if abs(new) < QUANTITY_EPSILON:
                new, avg = 0.0, 0.0
            elif (new > 0) == (old > 0):
                avg = self.avg_cost
            else:
                avg = price
        position = _new_position(
            self.symbol,
            new,
            avg,
            self.strategy_name,
            self.account,
            self.realized_pnl + realized,
        )
        return position, realized

    def market_value(self, price: float) -> float:
        """Signed value of the holding at ``price``."""
        return self.quantity * price

    def unrealized_pnl(self, price: float) -> float:
        """Profit of the open quantity if it were closed at ``price``."""
        return self.quantity * (price - self.avg_cost)


_new_position = builder(Position)  # one per fill and holder: without the per-field cost
