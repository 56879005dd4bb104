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
passes its own marks. Every account tag's formula (SMA, settled cash, day trades left, ...) is in
:mod:`ibbot.exchange.account`; the daily P&L restarts on each new New York trading day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ibbot.clock import ensure_utc
from ibbot.exchange.commission import charge_commission, ib_fixed_commission
from ibbot.exchange.events import (
    AccountChanged,
    CommissionReport,
    ExchangeEvent,
    Execution,
    OrderAccepted,
    OrderRejected,
    OrderStatusChanged,
)
from ibbot.exchange.fills import ExecutionLog
from ibbot.exchange.ledger import Ledger
from ibbot.exchange.matching import (
    Capacity,
    bar_capacity,
    match_bar,
    match_quote,
    quote_capacity,
    reference_price,
)
from ibbot.exchange.orders import IbOrderStatus, OrderState, WorkingOrder
from ibbot.exchange.rejections import (
    CANCEL_NOT_FOUND,
    DUPLICATE_ORDER_ID,
    NOT_CANCELLABLE,
    REJECT_PREFIX,
    REJECTED,
    request_problem,
)
from ibbot.models import OrderSide, TimeInForce

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from ibbot.exchange.account import PositionPnL
    from ibbot.exchange.commission import CommissionSchedule
    from ibbot.exchange.events import PortfolioItem, PositionChanged
    from ibbot.exchange.market import Quote, SimBar
    from ibbot.exchange.orders import OrderRequest

__all__ = ["Exchange"]


@dataclass(slots=True)
class _Faults:
    count: int = 0
    code: int = REJECTED
    message: str = ""


class Exchange:
    """The simulated broker: orders, matching, commissions, positions and the margin account.

    ``session`` seeds its permIds and execIds beside the account (see
    :class:`~ibbot.exchange.fills.ExecutionLog`): "" for the same ids in every process.
    """

    def __init__(
        self,
        *,
        account: str = "DU1234567",
        starting_cash: float = 1_000_000.0,
        commission: CommissionSchedule = ib_fixed_commission,
        slippage_bps: float = 1.0,
        max_fill_fraction_of_volume: float | None = None,
        symbols: Iterable[str] | None = None,
        currency: str = "USD",
        venue: str = "SIM",
        session: str = "",
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
        self._ledger = Ledger(account, float(starting_cash), currency)
        self._commission = commission
        self._slippage = slippage_bps / 10_000.0
        self._fraction = max_fill_fraction_of_volume
        self._symbols = frozenset(symbols) if symbols is not None else None
        self._currency = currency
        self._venue = venue
        self._log = ExecutionLog(account, session)
        self._orders: dict[tuple[int, int], WorkingOrder] = {}
        self._open: dict[str, list[WorkingOrder]] = {}
        self._completed: list[WorkingOrder] = []
        self._last_volume: dict[str, int] = {}
        self._faults = _Faults()
        self._rejections: list[dict[str, Any]] = []

    @property
    def account(self) -> str:
        """The account code orders and positions belong to."""
        return self._ledger.account

    @property
    def cash(self) -> float:
        """Cash balance (negative when buying on margin)."""
        return self._ledger.cash

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
        problem = request_problem(request, self._symbols)
        if problem is not None:
            return [self._reject(request, *problem, now)]
        price = reference_price(request, quote, self._ledger.last_mark(request.symbol))
        margin = self._ledger.margin_problem(request, price)
        if margin is not None:
            return [self._reject(request, REJECTED, margin, now)]
        order = WorkingOrder(
            request=request,
            perm_id=self._log.next_perm_id(),
            submitted_at=now,
            status=IbOrderStatus.SUBMITTED,
        )
        self._orders[(request.client_id, request.order_id)] = order
        self._open.setdefault(request.symbol, []).append(order)
        order.hold_or_release(order.eligible(market_open, extended_open))
        events: list[ExchangeEvent] = [OrderAccepted(order.snapshot(), now)]
        if quote is not None:
            self._ledger.set_mark(request.symbol, quote.last)
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
        if not order.is_open:
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
        message: str = f"{REJECT_PREFIX}simulated rejection (fault injection)",
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
        self._ledger.set_mark(symbol, quote.last)
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
            self._ledger.set_mark(symbol, bar.close)
            return []
        events: list[ExchangeEvent] = []
        if bar.volume != 0:
            capacity = bar_capacity(self._fraction, bar)
            for order in list(orders):
                if order.submitted_at <= bar.time:
                    events.extend(self._work_bar(order, bar, capacity))
        self._ledger.set_mark(symbol, bar.close)
        return events

    # ----------------------------------------------------------------------------- queries

    def open_orders(self, client_id: int | None = None) -> list[OrderState]:
        """Working orders (all clients, or one), oldest first."""
        out = [
            o.snapshot()
            for o in self._orders.values()
            if o.is_open and (client_id is None or o.request.client_id == client_id)
        ]
        return sorted(out, key=lambda s: s.perm_id)

    def completed_orders(self) -> list[OrderState]:
        """Filled and cancelled orders, in the order they finished."""
        return [o.snapshot() for o in self._completed]

    def executions(
        self, *, client_id: int | None = None, since: datetime | None = None
    ) -> list[Execution]:
        """Every execution, optionally of one client's orders and at or after ``since``."""
        return self._log.executions(client_id=client_id, since=since)

    def commission_report(self, exec_id: str) -> CommissionReport | None:
        """The commission report of an execution, or None for an unknown id."""
        return self._log.commission_report(exec_id)

    def positions(self) -> list[PositionChanged]:
        """The position in every symbol traded (closed ones stay listed at zero, as IB lists them)."""
        return self._ledger.positions()

    def account_values(
        self,
        marks: Mapping[str, float],
        now: datetime | None = None,
        closes: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """IB's account tags (formulas: :mod:`ibbot.exchange.account`), valuing positions at ``marks``.

        Symbols without a mark are valued at the last price seen. ``now`` moves the books to its
        trading day first; ``closes`` are the previous regular closes of the symbols held at the
        day's start (see :meth:`Ledger.account_values <ibbot.exchange.ledger.Ledger.account_values>`).
        """
        return self._ledger.account_values(marks, now, closes)

    def pnl(
        self, marks: Mapping[str, float], closes: Mapping[str, float], now: datetime
    ) -> list[PositionPnL]:
        """IB's P&L (daily, unrealized, realized today) of every symbol held or traded today."""
        return self._ledger.pnl(marks, closes, ensure_utc(now, field="now"))

    def position_pnl(
        self, symbol: str, marks: Mapping[str, float], closes: Mapping[str, float], now: datetime
    ) -> PositionPnL:
        """IB's P&L of one symbol (all zero, realized unset, for a symbol never traded)."""
        self._ledger.roll(ensure_utc(now, field="now"))
        return self._ledger.position_pnl(symbol, marks, closes)

    def portfolio(
        self, marks: Mapping[str, float], now: datetime | None = None
    ) -> list[PortfolioItem]:
        """Every position valued at ``marks`` (else the last price seen), as IB's updatePortfolio."""
        return self._ledger.portfolio(marks, now)

    def snapshot(self) -> dict[str, Any]:
        """The engine's truth as JSON-ready data: account, positions, orders, executions, rejections."""
        return {
            "account": self.account,
            "currency": self._currency,
            "cash": self.cash,
            "account_values": self.account_values({}),
            "marks": self._ledger.marks(),
            "positions": self._ledger.snapshot_positions(),
            "open_orders": [_state_dict(s) for s in self.open_orders()],
            "completed_orders": [_state_dict(s) for s in self.completed_orders()],
            "executions": self._log.snapshot(),
            "rejections": list(self._rejections),
            "pending_rejections": self._faults.count,
        }

    # ----------------------------------------------------------------------------- internals

    def _reject(
        self, request: OrderRequest, code: int, message: str, now: datetime
    ) -> OrderRejected:
        self._rejections.append(
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

    def _modify(
        self,
        order: WorkingOrder,
        request: OrderRequest,
        now: datetime,
        quote: Quote | None,
        hours: tuple[bool, bool],
    ) -> list[ExchangeEvent]:
        """IB treats a placeOrder with a working order's id as a modification of that order."""
        old = order.request
        if not order.is_open or request.symbol != old.symbol or request.action != old.action:
            return [self._reject(request, DUPLICATE_ORDER_ID, "Duplicate order id", now)]
        problem = request_problem(request, self._symbols)
        if problem is None and request.quantity < order.filled:
            problem = REJECTED, f"{REJECT_PREFIX}the quantity is below the quantity already filled"
        if problem is not None:
            return [self._reject(request, *problem, now)]
        order.request = request
        order.resting = False
        if request.order_type is not old.order_type or request.stop_price != old.stop_price:
            order.triggered = False
        if order.remaining <= 0:
            return [self._finish(order, IbOrderStatus.FILLED, now, "filled")]
        order.hold_or_release(order.eligible(*hours))
        events: list[ExchangeEvent] = [OrderAccepted(order.snapshot(), now)]
        if quote is not None:
            capacity = self._quote_capacity(request.symbol, quote)
            events.extend(self._work_live(order, quote, now, capacity, hours))
        return events

    def _quote_capacity(self, symbol: str, quote: Quote) -> dict[OrderSide, Capacity]:
        return quote_capacity(self._fraction, self._last_volume.get(symbol), quote)

    def _work_live(
        self,
        order: WorkingOrder,
        quote: Quote,
        now: datetime,
        capacity: dict[OrderSide, Capacity],
        hours: tuple[bool, bool],
    ) -> list[ExchangeEvent]:
        match = match_quote(order, quote, self._slippage, hours)
        events: list[ExchangeEvent] = []
        if match.reason:
            events.append(OrderStatusChanged(order.snapshot(), now, match.reason))
        if match.price is not None:
            quantity = capacity[order.request.action].take(order.remaining)
            if quantity > 0:
                events.extend(self._fill(order, quantity, match.price, now))
        return events

    def _work_bar(
        self, order: WorkingOrder, bar: SimBar, capacity: Capacity
    ) -> list[ExchangeEvent]:
        match = match_bar(order, bar, self._slippage)
        events: list[ExchangeEvent] = []
        if match.reason:
            events.append(OrderStatusChanged(order.snapshot(), bar.time, match.reason))
        if match.price is not None:
            quantity = capacity.take(order.remaining)
            if quantity > 0:
                events.extend(self._fill(order, quantity, match.price, bar.time))
        return events

    def _fill(
        self, order: WorkingOrder, quantity: float, price: float, now: datetime
    ) -> list[ExchangeEvent]:
        request = order.request
        side = request.action
        price = float(price)
        order.filled += quantity
        order.cost += price * quantity
        order.last_fill_price = price
        commission = charge_commission(order, self._commission)
        realized = self._ledger.book(request.symbol, side.sign * quantity, price, commission, now)
        exec_id = self._log.next_exec_id()
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
        self._log.record(execution, report)
        return [
            execution,
            report,
            OrderStatusChanged(state, now, "filled" if done else "partially filled"),
            self._ledger.position(request.symbol, now),
            AccountChanged(self.account_values({}, now), now),
        ]

    def _finish(
        self, order: WorkingOrder, status: IbOrderStatus, now: datetime, reason: str
    ) -> OrderStatusChanged:
        order.status, order.why_held = status, ""
        self._close(order)
        return OrderStatusChanged(order.snapshot(), now, reason)

    def _close(self, order: WorkingOrder) -> None:
        self._open[order.request.symbol].remove(order)
        self._completed.append(order)


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
