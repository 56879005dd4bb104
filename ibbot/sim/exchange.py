"""A pure matching engine and margin account: the broker behind the simulated gateway and the backtester.

No sockets, no asyncio, no clock: every call gets the time and the market data it needs, and returns the
events it caused, in order. The same inputs always give the same events, ids included.

Fill semantics
--------------
**Live matching** (``submit`` with a quote, ``on_quote``), against the top of book:

* A market order fills at the touch (buys at the ask, sells at the bid), worsened by ``slippage_bps``
  and rounded to 0.0001.
* A limit order that is marketable when it arrives (the ask is at or below a buy limit, the bid at or
  above a sell limit) fills at the touch, which is the limit or better. Once resting, it fills at its
  limit price as soon as the touch reaches it.
* A stop order triggers when the last trade reaches the stop (at or above it for buys, at or below for
  sells), then fills as a market order; a stop-limit becomes a limit order at its limit price. Until it
  triggers it is "PreSubmitted" with why_held "trigger".
* Orders only work while the market is open (``market_open``), or in extended hours
  (``extended_open``) when they have ``outside_rth``; otherwise they wait as "PreSubmitted" with why_held
  "trading hours".
* With ``max_fill_fraction_of_volume`` set, one quote update fills at most that fraction of the volume
  traded since the previous quote of the symbol (of the displayed size at the touch for the first
  quote), shared by all orders in the symbol in submission order; the rest stays working (partial fill).

**Backtest matching** (``on_bar``), against OHLCV bars:

* Only orders submitted at or before the bar's start take part; a bar with zero volume fills nothing.
* A market order fills at the bar's open, worsened by ``slippage_bps``.
* A limit order fills at the open when the bar opens through its limit (a gap in its favour), else at
  the limit when the bar's range reaches it (buy: low <= limit; sell: high >= limit).
* A stop order fills at the open when the bar opens through its stop (a gap against it), else at the stop
  when the range reaches it; both worsened by ``slippage_bps``. A stop-limit triggered this way then
  fills like a limit order in the same bar when its limit allows (at the open, at the stop price, or at
  the limit if the range reaches it), and otherwise rests as a limit order.
* With ``max_fill_fraction_of_volume`` set, a bar fills at most that fraction of its volume, shared by the
  symbol's orders in submission order.
* All fills of a bar are stamped with the bar's start time.

**Both:** DAY orders are cancelled by :meth:`Exchange.expire_day_orders` at the session close (at the
end of extended hours for orders with ``outside_rth``); GTC orders work until filled or cancelled.
Commissions follow IB's fixed US-stock schedule by default, charged per order: each execution pays the
order's commission-to-date minus what earlier executions of the order paid, so the per-order minimum is
paid once. Cash, positions, average costs (which include commissions, as IB's do) and realized P&L are
exact, for long and short positions and flips through zero.

**Account:** a Reg T margin account with a 25% initial and maintenance requirement on gross position
value, so buying power is four times available funds (IB's intraday leverage for a pattern day trader).
An order that would raise the initial margin above the equity with loan value is rejected with IB's
error 201. Every price used for marks is the last trade seen (quote or bar close) unless the caller
passes its own marks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ibbot.clock import ensure_utc
from ibbot.models import OrderSide, OrderType, TimeInForce
from ibbot.sim.pricepath import seed_for

if TYPE_CHECKING:
    from ibbot.sim.market import Quote, SimBar

__all__ = [
    "INITIAL_MARGIN_RATE",
    "MAINTENANCE_MARGIN_RATE",
    "AccountChanged",
    "CommissionReport",
    "Exchange",
    "ExchangeEvent",
    "Execution",
    "IbOrderStatus",
    "OrderAccepted",
    "OrderRejected",
    "OrderRequest",
    "OrderState",
    "OrderStatusChanged",
    "PortfolioItem",
    "PositionChanged",
    "ib_fixed_commission",
]

INITIAL_MARGIN_RATE = 0.25
MAINTENANCE_MARGIN_RATE = 0.25
_PRICE_DECIMALS = 4  # US equities execute in hundredths of a cent at most

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


class IbOrderStatus(StrEnum):
    """The order statuses IB reports (``orderStatus.status``), as IB spells them."""

    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    INACTIVE = "Inactive"


_OPEN_STATUSES = frozenset({IbOrderStatus.PRE_SUBMITTED, IbOrderStatus.SUBMITTED})

# IB's error codes and texts for what this engine refuses. Texts are IB's own, from its message-code
# table (200, 161, 434) or as IB sends them and client libraries log them (201, 10147, 103).
NO_SECURITY = 200  # "No security definition has been found for the request"
REJECTED = 201  # "Order rejected - reason:" + IB's reason
DUPLICATE_ORDER_ID = 103  # "Duplicate order id"
NOT_CANCELLABLE = 161  # "Cancel attempted when order is not in a cancellable state. Order permId ="
ZERO_SIZE = 434  # "The order size cannot be zero."
CANCEL_NOT_FOUND = 10147  # "OrderId <id> that needs to be cancelled is not found."
_REJECT_PREFIX = "Order rejected - reason:"

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


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """An order (or a modification of one) was accepted: IB answers with openOrder and orderStatus."""

    state: OrderState
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderStatusChanged:
    """An order's status, fill state or why_held changed; ``reason`` says why in plain words."""

    state: OrderState
    time: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill (IB's execDetails). ``state`` is the order right after it."""

    exec_id: str
    state: OrderState
    time: datetime
    side: OrderSide
    quantity: float
    price: float
    cum_qty: float
    avg_price: float
    exchange: str


@dataclass(frozen=True, slots=True)
class CommissionReport:
    """The commission of one execution and the P&L it realized (IB's commissionReport)."""

    exec_id: str
    commission: float
    currency: str
    realized_pnl: float
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """An order or a cancel was refused with IB's error ``code`` and ``message``."""

    client_id: int
    order_id: int
    code: int
    message: str
    time: datetime


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """The account's position in ``symbol`` after a fill (IB's position / updatePortfolio)."""

    account: str
    symbol: str
    quantity: float
    avg_cost: float
    time: datetime
    realized_pnl: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """Account values keyed by IB's tag names, after a change."""

    values: Mapping[str, float]
    time: datetime


@dataclass(frozen=True, slots=True)
class PortfolioItem:
    """One line of IB's portfolio: a position valued at a mark."""

    account: str
    symbol: str
    position: float
    market_price: float
    market_value: float
    average_cost: float
    unrealized_pnl: float
    realized_pnl: float


ExchangeEvent = (
    OrderAccepted
    | OrderStatusChanged
    | Execution
    | CommissionReport
    | OrderRejected
    | PositionChanged
    | AccountChanged
)


@dataclass(slots=True)
class _Order:
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
        return self.request.quantity - self.filled

    @property
    def avg_price(self) -> float:
        return self.cost / self.filled if self.filled else 0.0

    @property
    def is_stop(self) -> bool:
        return self.request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)

    def snapshot(self) -> OrderState:
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


@dataclass(slots=True)
class _Position:
    updated: datetime
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized: float = 0.0


@dataclass(slots=True)
class _Capacity:
    """Shares still fillable in one market update (None = unlimited)."""

    left: float | None

    def take(self, wanted: float) -> float:
        if self.left is None:
            return wanted
        got = min(wanted, float(math.floor(self.left)))
        self.left -= got
        return got


@dataclass(slots=True)
class _Faults:
    count: int = 0
    code: int = REJECTED
    message: str = ""


@dataclass(slots=True)
class _Ids:
    perm: int
    exec_prefix: str
    exec_base: int
    executions: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)


class Exchange:
    """The simulated broker: orders, matching, commissions, positions and the margin account."""

    def __init__(
        self,
        *,
        account: str = "DU1234567",
        starting_cash: float = 1_000_000.0,
        commission: Callable[[float, float], float] = ib_fixed_commission,
        slippage_bps: float = 1.0,
        max_fill_fraction_of_volume: float | None = None,
        symbols: Iterable[str] | None = None,
        currency: str = "USD",
        venue: str = "SIM",
    ) -> None:
        if starting_cash < 0 or not math.isfinite(starting_cash):
            raise ValueError(
                f"starting cash must be a finite non-negative amount, got {starting_cash}"
            )
        if slippage_bps < 0:
            raise ValueError(f"slippage must not be negative, got {slippage_bps} bps")
        if max_fill_fraction_of_volume is not None and not 0 < max_fill_fraction_of_volume <= 1:
            raise ValueError(
                f"max_fill_fraction_of_volume must be in (0, 1], got {max_fill_fraction_of_volume}"
            )
        self._account = account
        self._cash = float(starting_cash)
        self._commission = commission
        self._slippage = slippage_bps / 10_000.0
        self._fraction = max_fill_fraction_of_volume
        self._symbols = frozenset(symbols) if symbols is not None else None
        self._currency = currency
        self._venue = venue
        seed = seed_for("exchange", account)
        self._ids = _Ids(
            perm=1_000_000_000 + seed % 900_000_000,
            exec_prefix=f"{(seed >> 64) % 0x20000:08x}",
            exec_base=(seed >> 32) % 0xF0000000,
        )
        self._orders: dict[tuple[int, int], _Order] = {}
        self._open: dict[str, list[_Order]] = {}
        self._completed: list[_Order] = []
        self._executions: list[Execution] = []
        self._commissions: dict[str, CommissionReport] = {}
        self._positions: dict[str, _Position] = {}
        self._marks: dict[str, float] = {}
        self._last_volume: dict[str, int] = {}
        self._faults = _Faults()

    @property
    def account(self) -> str:
        """The account code orders and positions belong to."""
        return self._account

    @property
    def cash(self) -> float:
        """Cash balance (negative when buying on margin)."""
        return self._cash

    # ----------------------------------------------------------------------------- orders

    def submit(
        self,
        request: OrderRequest,
        now: datetime,
        quote: Quote | None,
        *,
        market_open: bool,
        extended_open: bool = False,
    ) -> list[ExchangeEvent]:
        """Place (or modify, when the id is already working) an order; match it at once if it can trade.

        ``market_open`` says regular hours are on, ``extended_open`` that extended hours are (orders with
        ``outside_rth`` trade then). Without a ``quote`` nothing fills now: the order waits for
        ``on_quote`` or ``on_bar``.
        """
        now = ensure_utc(now, field="now")
        if self._faults.count > 0:
            self._faults.count -= 1
            return [self._reject(request, self._faults.code, self._faults.message, now)]
        existing = self._orders.get((request.client_id, request.order_id))
        if existing is not None:
            return self._modify(existing, request, now, quote, (market_open, extended_open))
        problem = self._validate(request)
        if problem is not None:
            return [self._reject(request, *problem, now)]
        margin = self._margin_problem(request, quote)
        if margin is not None:
            return [self._reject(request, REJECTED, margin, now)]
        order = _Order(
            request=request,
            perm_id=self._next_perm_id(),
            submitted_at=now,
            status=IbOrderStatus.SUBMITTED,
        )
        self._orders[(request.client_id, request.order_id)] = order
        self._open.setdefault(request.symbol, []).append(order)
        self._hold_or_release(order, _eligible(order, market_open, extended_open))
        events: list[ExchangeEvent] = [OrderAccepted(order.snapshot(), now)]
        if quote is not None:
            self._marks[request.symbol] = quote.last
            capacity = self._quote_capacity(request.symbol, quote)
            events.extend(
                self._work_live(order, quote, now, capacity, (market_open, extended_open))
            )
        return events

    def cancel(self, client_id: int, order_id: int, now: datetime) -> list[ExchangeEvent]:
        """Cancel a working order; unknown ids get 10147, finished orders 161."""
        now = ensure_utc(now, field="now")
        order = self._orders.get((client_id, order_id))
        if order is None:
            message = f"OrderId {order_id} that needs to be cancelled is not found."
            return [OrderRejected(client_id, order_id, CANCEL_NOT_FOUND, message, now)]
        if order.status not in _OPEN_STATUSES:
            message = (
                "Cancel attempted when order is not in a cancellable state. "
                f"Order permId ={order.perm_id}"
            )
            return [OrderRejected(client_id, order_id, NOT_CANCELLABLE, message, now)]
        return [self._finish(order, IbOrderStatus.CANCELLED, now, "cancelled by the client")]

    def expire_day_orders(
        self, now: datetime, *, extended_hours_close: bool = False
    ) -> list[ExchangeEvent]:
        """Cancel the DAY orders submitted before ``now``: call it at the session close.

        At the regular close (the default) this ends DAY orders without ``outside_rth``; at the end of
        extended hours (``extended_hours_close=True``) it ends every DAY order submitted before ``now``.
        """
        now = ensure_utc(now, field="now")
        events: list[ExchangeEvent] = []
        for orders in list(self._open.values()):
            for order in list(orders):
                request = order.request
                if request.tif is not TimeInForce.DAY or order.submitted_at >= now:
                    continue
                if request.outside_rth and not extended_hours_close:
                    continue
                events.append(
                    self._finish(order, IbOrderStatus.CANCELLED, now, "DAY order expired")
                )
        return events

    def reject_next(
        self,
        count: int = 1,
        *,
        code: int = REJECTED,
        message: str = f"{_REJECT_PREFIX}simulated rejection (fault injection)",
    ) -> None:
        """Fault injection: the next ``count`` submissions are rejected with ``code`` and ``message``."""
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        self._faults = _Faults(count=count, code=code, message=message)

    # ----------------------------------------------------------------------------- matching

    def on_quote(
        self,
        symbol: str,
        quote: Quote,
        now: datetime,
        *,
        market_open: bool,
        extended_open: bool = False,
    ) -> list[ExchangeEvent]:
        """Live matching: work the symbol's orders against a new top of book."""
        now = ensure_utc(now, field="now")
        self._marks[symbol] = quote.last
        events: list[ExchangeEvent] = []
        orders = self._open.get(symbol)
        if orders:
            capacity = self._quote_capacity(symbol, quote)
            for order in list(orders):
                events.extend(
                    self._work_live(order, quote, now, capacity, (market_open, extended_open))
                )
        self._last_volume[symbol] = quote.volume
        return events

    def on_bar(self, symbol: str, bar: SimBar) -> list[ExchangeEvent]:
        """Backtest matching: work the symbol's orders against one bar (see the module docstring)."""
        orders = self._open.get(symbol)
        if not orders:
            self._marks[symbol] = bar.close
            return []
        events: list[ExchangeEvent] = []
        if bar.volume != 0:
            capacity = (
                _Capacity(self._fraction * bar.volume)
                if self._fraction is not None and bar.volume > 0
                else _UNLIMITED
            )
            for order in list(orders):
                if order.submitted_at <= bar.time:
                    events.extend(self._work_bar(order, bar, capacity))
        self._marks[symbol] = bar.close
        return events

    # ----------------------------------------------------------------------------- queries

    def open_orders(self, client_id: int | None = None) -> list[OrderState]:
        """Working orders (all clients, or one), oldest first."""
        out = [
            o.snapshot()
            for o in self._orders.values()
            if o.status in _OPEN_STATUSES
            and (client_id is None or o.request.client_id == client_id)
        ]
        return sorted(out, key=lambda s: s.perm_id)

    def completed_orders(self) -> list[OrderState]:
        """Filled and cancelled orders, in the order they finished."""
        return [o.snapshot() for o in self._completed]

    def executions(
        self, *, client_id: int | None = None, since: datetime | None = None
    ) -> list[Execution]:
        """Every execution, optionally of one client's orders and at or after ``since``."""
        if since is not None:
            since = ensure_utc(since, field="since")
        return [
            e
            for e in self._executions
            if (client_id is None or e.state.request.client_id == client_id)
            and (since is None or e.time >= since)
        ]

    def commission_report(self, exec_id: str) -> CommissionReport | None:
        """The commission report of an execution, or None for an unknown id."""
        return self._commissions.get(exec_id)

    def positions(self) -> list[PositionChanged]:
        """The position in every symbol traded (closed ones stay listed at zero, as IB lists them)."""
        return [
            PositionChanged(self._account, symbol, p.quantity, p.avg_cost, p.updated, p.realized)
            for symbol, p in sorted(self._positions.items())
        ]

    def account_values(self, marks: Mapping[str, float]) -> dict[str, float]:
        """IB's account tags, valuing positions at ``marks`` (else the last price seen)."""
        gross = 0.0
        stock_value = 0.0
        unrealized = 0.0
        realized = 0.0
        for symbol, position in self._positions.items():
            realized += position.realized
            if position.quantity == 0:
                continue
            price = self._mark(symbol, marks)
            stock_value += position.quantity * price
            gross += abs(position.quantity) * price
            unrealized += (price - position.avg_cost) * position.quantity
        net = self._cash + stock_value
        initial = INITIAL_MARGIN_RATE * gross
        maintenance = MAINTENANCE_MARGIN_RATE * gross
        available = net - initial
        return {
            "AvailableFunds": available,
            "BuyingPower": available / INITIAL_MARGIN_RATE,
            "CashBalance": self._cash,
            "EquityWithLoanValue": net,
            "ExcessLiquidity": net - maintenance,
            "GrossPositionValue": gross,
            "InitMarginReq": initial,
            "MaintMarginReq": maintenance,
            "NetLiquidation": net,
            "RealizedPnL": realized,
            "StockMarketValue": stock_value,
            "TotalCashValue": self._cash,
            "UnrealizedPnL": unrealized,
        }

    def portfolio(self, marks: Mapping[str, float]) -> list[PortfolioItem]:
        """Every position valued at ``marks`` (else the last price seen), as IB's updatePortfolio."""
        items: list[PortfolioItem] = []
        for symbol, position in sorted(self._positions.items()):
            price = self._mark(symbol, marks)
            items.append(
                PortfolioItem(
                    account=self._account,
                    symbol=symbol,
                    position=position.quantity,
                    market_price=price,
                    market_value=position.quantity * price,
                    average_cost=position.avg_cost,
                    unrealized_pnl=(price - position.avg_cost) * position.quantity,
                    realized_pnl=position.realized,
                )
            )
        return items

    def snapshot(self) -> dict[str, Any]:
        """The engine's truth as JSON-ready data: account, positions, orders, executions, rejections."""
        return {
            "account": self._account,
            "currency": self._currency,
            "cash": self._cash,
            "account_values": self.account_values({}),
            "marks": dict(sorted(self._marks.items())),
            "positions": [
                {
                    "symbol": symbol,
                    "quantity": p.quantity,
                    "avg_cost": p.avg_cost,
                    "realized_pnl": p.realized,
                }
                for symbol, p in sorted(self._positions.items())
            ],
            "open_orders": [_state_dict(s) for s in self.open_orders()],
            "completed_orders": [_state_dict(s) for s in self.completed_orders()],
            "executions": [self._execution_dict(e) for e in self._executions],
            "rejections": list(self._ids.rejections),
            "pending_rejections": self._faults.count,
        }

    # ----------------------------------------------------------------------------- internals

    def _next_perm_id(self) -> int:
        self._ids.perm += 1
        return self._ids.perm

    def _next_exec_id(self) -> str:
        self._ids.executions += 1
        serial = (self._ids.exec_base + self._ids.executions) & 0xFFFFFFFF
        return f"{self._ids.exec_prefix}.{serial:08x}.01.01"

    def _reject(
        self, request: OrderRequest, code: int, message: str, now: datetime
    ) -> OrderRejected:
        self._ids.rejections.append(
            {
                "client_id": request.client_id,
                "order_id": request.order_id,
                "symbol": request.symbol,
                "code": code,
                "message": message,
                "time": now.isoformat(),
            }
        )
        return OrderRejected(request.client_id, request.order_id, code, message, now)

    def _validate(self, request: OrderRequest) -> tuple[int, str] | None:
        if self._symbols is not None and request.symbol not in self._symbols:
            return NO_SECURITY, "No security definition has been found for the request"
        quantity = request.quantity
        if quantity == 0:
            return ZERO_SIZE, "The order size cannot be zero."
        if not math.isfinite(quantity) or quantity < 0:
            return REJECTED, f"{_REJECT_PREFIX}the order quantity must be a positive number"
        if quantity != int(quantity):
            return REJECTED, f"{_REJECT_PREFIX}fractional share quantities are not accepted"
        return _price_problem(request)

    def _modify(
        self,
        order: _Order,
        request: OrderRequest,
        now: datetime,
        quote: Quote | None,
        hours: tuple[bool, bool],
    ) -> list[ExchangeEvent]:
        """IB treats a placeOrder with a working order's id as a modification of that order."""
        old = order.request
        if (
            order.status not in _OPEN_STATUSES
            or request.symbol != old.symbol
            or request.action != old.action
        ):
            return [self._reject(request, DUPLICATE_ORDER_ID, "Duplicate order id", now)]
        problem = self._validate(request)
        if problem is None and request.quantity < order.filled:
            problem = REJECTED, f"{_REJECT_PREFIX}the quantity is below the quantity already filled"
        if problem is not None:
            return [self._reject(request, *problem, now)]
        order.request = request
        order.resting = False
        if request.order_type is not old.order_type or request.stop_price != old.stop_price:
            order.triggered = False
        if order.remaining <= 0:
            return [self._finish(order, IbOrderStatus.FILLED, now, "filled")]
        self._hold_or_release(order, _eligible(order, *hours))
        events: list[ExchangeEvent] = [OrderAccepted(order.snapshot(), now)]
        if quote is not None:
            capacity = self._quote_capacity(request.symbol, quote)
            events.extend(self._work_live(order, quote, now, capacity, hours))
        return events

    def _margin_problem(self, request: OrderRequest, quote: Quote | None) -> str | None:
        """IB's 201 text when the filled order would need more initial margin than equity allows."""
        price = _reference_price(request, quote, self._marks.get(request.symbol))
        if price is None:
            return None
        position = self._positions.get(request.symbol)
        held = position.quantity if position is not None else 0.0
        after = held + request.action.sign * request.quantity
        if abs(after) <= abs(held):
            return None  # an order that only reduces exposure is always allowed
        values = self.account_values({request.symbol: price})
        gross = values["GrossPositionValue"] - abs(held) * price + abs(after) * price
        initial = INITIAL_MARGIN_RATE * gross
        equity = values["EquityWithLoanValue"]
        if initial <= equity:
            return None
        return (
            f"{_REJECT_PREFIX}YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
            f"YOUR EQUITY WITH LOAN VALUE [{equity:.2f} {self._currency}] MUST EXCEED THE INITIAL "
            f"MARGIN [{initial:.2f} {self._currency}]"
        )

    def _hold_or_release(self, order: _Order, eligible: bool) -> None:
        if not eligible:
            order.status, order.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_HOURS
        elif order.is_stop and not order.triggered:
            order.status, order.why_held = IbOrderStatus.PRE_SUBMITTED, WHY_HELD_TRIGGER
        else:
            order.status, order.why_held = IbOrderStatus.SUBMITTED, ""

    def _quote_capacity(self, symbol: str, quote: Quote) -> dict[OrderSide, _Capacity]:
        """What one quote update can fill per side: a share of the volume traded since the last one."""
        if self._fraction is None:
            return {OrderSide.BUY: _Capacity(None), OrderSide.SELL: _Capacity(None)}
        traded = quote.volume - self._last_volume.get(symbol, quote.volume)
        if traded > 0:
            return {side: _Capacity(self._fraction * traded) for side in OrderSide}
        return {
            OrderSide.BUY: _Capacity(self._fraction * quote.ask_size),
            OrderSide.SELL: _Capacity(self._fraction * quote.bid_size),
        }

    def _work_live(
        self,
        order: _Order,
        quote: Quote,
        now: datetime,
        capacity: dict[OrderSide, _Capacity],
        hours: tuple[bool, bool],
    ) -> list[ExchangeEvent]:
        events: list[ExchangeEvent] = []
        before = (order.status, order.why_held)
        self._hold_or_release(order, _eligible(order, *hours))
        if order.why_held == WHY_HELD_HOURS:
            if (order.status, order.why_held) != before:
                events.append(
                    OrderStatusChanged(order.snapshot(), now, "waiting for trading hours")
                )
            return events
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
                self._hold_or_release(order, eligible=True)
        if (order.status, order.why_held) != before:
            reason = "stop triggered" if order.triggered else "working"
            events.append(OrderStatusChanged(order.snapshot(), now, reason))
        if order.why_held == WHY_HELD_TRIGGER:
            return events
        touch = quote.ask if buy else quote.bid
        if touch <= 0:
            touch = quote.last
        limit = request.limit_price if request.order_type in _LIMIT_TYPES else None
        if limit is None:
            price = _slipped(touch, buy, self._slippage)
        elif (buy and touch <= limit) or (not buy and touch >= limit):
            price = limit if order.resting else touch
        else:
            order.resting = True
            return events
        quantity = capacity[request.action].take(order.remaining)
        if quantity > 0:
            events.extend(self._fill(order, quantity, price, now))
        order.resting = True
        return events

    def _work_bar(self, order: _Order, bar: SimBar, capacity: _Capacity) -> list[ExchangeEvent]:
        request = order.request
        buy = request.action is OrderSide.BUY
        before = (order.status, order.why_held)
        if order.why_held == WHY_HELD_HOURS:  # bars only exist while the market trades
            self._hold_or_release(order, eligible=True)
        price: float | None
        if request.order_type is OrderType.MARKET:
            price = _slipped(bar.open, buy, self._slippage)
        elif request.order_type is OrderType.LIMIT:
            price = _limit_fill(buy, request.limit_price, bar.open, bar)
        else:
            price = self._stop_fill(order, bar, buy)
        events: list[ExchangeEvent] = []
        if (order.status, order.why_held) != before:
            reason = "stop triggered" if order.triggered else "working"
            events.append(OrderStatusChanged(order.snapshot(), bar.time, reason))
        if price is None:
            return events
        quantity = capacity.take(order.remaining)
        if quantity > 0:
            events.extend(self._fill(order, quantity, price, bar.time))
        return events

    def _stop_fill(self, order: _Order, bar: SimBar, buy: bool) -> float | None:
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
            self._hold_or_release(order, eligible=True)
        if request.order_type is OrderType.STOP:
            return _slipped(start, buy, self._slippage)
        return _limit_fill(buy, request.limit_price, start, bar)

    def _fill(
        self, order: _Order, quantity: float, price: float, now: datetime
    ) -> list[ExchangeEvent]:
        request = order.request
        side = request.action
        price = float(price)
        self._marks[request.symbol] = price
        order.filled += quantity
        order.cost += price * quantity
        order.last_fill_price = price
        to_date = self._commission(order.filled, order.avg_price)
        commission = max(0.0, to_date - order.commission_paid)
        order.commission_paid += commission
        realized = self._book(request.symbol, side.sign * quantity, price, commission, now)
        exec_id = self._next_exec_id()
        done = order.remaining <= 0
        if done:
            order.status, order.why_held = IbOrderStatus.FILLED, ""
            self._close(order)
        state = order.snapshot()
        execution = Execution(
            exec_id=exec_id,
            state=state,
            time=now,
            side=side,
            quantity=quantity,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_price,
            exchange=self._venue,
        )
        report = CommissionReport(exec_id, commission, self._currency, realized, now)
        self._executions.append(execution)
        self._commissions[exec_id] = report
        position = self._positions[request.symbol]
        return [
            execution,
            report,
            OrderStatusChanged(state, now, "filled" if done else "partially filled"),
            PositionChanged(
                self._account,
                request.symbol,
                position.quantity,
                position.avg_cost,
                now,
                position.realized,
            ),
            AccountChanged(self.account_values({}), now),
        ]

    def _book(
        self, symbol: str, signed: float, price: float, commission: float, now: datetime
    ) -> float:
        """Apply one fill to cash and the position; return the P&L it realized."""
        self._cash -= signed * price + commission
        position = self._positions.get(symbol)
        if position is None:
            position = self._positions[symbol] = _Position(updated=now)
        position.updated = now
        held = position.quantity
        realized = 0.0
        if held == 0 or (held > 0) == (signed > 0):
            total = held + signed
            position.avg_cost = (position.avg_cost * held + price * signed + commission) / total
            position.quantity = total
        else:
            closing = min(abs(signed), abs(held))
            closing_fee = commission * closing / abs(signed)
            realized = closing * (price - position.avg_cost) * (1 if held > 0 else -1) - closing_fee
            total = held + signed
            if total == 0:
                position.avg_cost = 0.0
            elif (total > 0) != (held > 0):  # flipped through zero: the rest opens a new position
                position.avg_cost = (price * total + (commission - closing_fee)) / total
            position.quantity = total
        position.realized += realized
        return realized

    def _finish(
        self, order: _Order, status: IbOrderStatus, now: datetime, reason: str
    ) -> OrderStatusChanged:
        order.status, order.why_held = status, ""
        self._close(order)
        return OrderStatusChanged(order.snapshot(), now, reason)

    def _close(self, order: _Order) -> None:
        self._open[order.request.symbol].remove(order)
        self._completed.append(order)

    def _mark(self, symbol: str, marks: Mapping[str, float]) -> float:
        # every traded symbol has a last price: each fill records one
        price = marks.get(symbol)
        return self._marks[symbol] if price is None else price

    def _execution_dict(self, e: Execution) -> dict[str, Any]:
        report = self._commissions[e.exec_id]
        request = e.state.request
        return {
            "exec_id": e.exec_id,
            "time": e.time.isoformat(),
            "client_id": request.client_id,
            "order_id": request.order_id,
            "perm_id": e.state.perm_id,
            "symbol": request.symbol,
            "side": e.side.value,
            "quantity": e.quantity,
            "price": e.price,
            "cum_qty": e.cum_qty,
            "avg_price": e.avg_price,
            "commission": report.commission,
            "realized_pnl": report.realized_pnl,
            "order_ref": request.order_ref,
        }


_LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_UNLIMITED = _Capacity(None)  # never mutated: take() only counts down a finite capacity


def _eligible(order: _Order, market_open: bool, extended_open: bool) -> bool:
    return market_open or (order.request.outside_rth and extended_open)


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


def _reference_price(
    request: OrderRequest, quote: Quote | None, mark: float | None
) -> float | None:
    if request.order_type in _LIMIT_TYPES:
        return request.limit_price
    if request.order_type is OrderType.STOP:
        return request.stop_price
    if quote is not None:
        touch = quote.ask if request.action is OrderSide.BUY else quote.bid
        return touch if touch > 0 else quote.last
    return mark


def _price_problem(request: OrderRequest) -> tuple[int, str] | None:
    needs_limit = request.order_type in _LIMIT_TYPES
    needs_stop = request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    for needed, value, name in (
        (needs_limit, request.limit_price, "limit"),
        (needs_stop, request.stop_price, "stop"),
    ):
        if needed and (value is None or not math.isfinite(value) or value <= 0):
            return REJECTED, f"{_REJECT_PREFIX}the {name} price must be a positive number"
    return None


def _state_dict(state: OrderState) -> dict[str, Any]:
    request = state.request
    return {
        "client_id": request.client_id,
        "order_id": request.order_id,
        "perm_id": state.perm_id,
        "symbol": request.symbol,
        "action": request.action.value,
        "quantity": request.quantity,
        "order_type": request.order_type.value,
        "limit_price": request.limit_price,
        "stop_price": request.stop_price,
        "tif": request.tif.value,
        "outside_rth": request.outside_rth,
        "order_ref": request.order_ref,
        "status": state.status,
        "filled": state.filled,
        "remaining": state.remaining,
        "avg_fill_price": state.avg_fill_price,
        "why_held": state.why_held,
    }
