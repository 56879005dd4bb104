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

**Contingent orders** (both matchings; the rules are in :mod:`ibbot.exchange.contingency`): an
untransmitted order is held back unseen until its chain transmits; a child waits ("PreSubmitted",
why_held "child") until its parent has filled completely and works from the next market update (the
next bar) on; cancelling or expiring a parent cancels its waiting children; OCA groups (and a
bracket's children) cancel (type 1) or proportionately reduce (types 2, 3) their other orders as
they fill, types 1 and 2 at once (block), type 3 after the update (an overfill is possible). In a
bar, an OCA group's orders are matched in the order the bar's path reaches their prices: open, low,
high, close on an up bar, open, high, low, close on a down bar.

**Trailing stops:** a TRAIL sell's stop is the highest trade since it started working minus its
trailing amount (or percentage), a buy's the lowest plus it, starting from ``trailStopPrice`` when
given; live, each quote's last trade moves it, then may trigger it; on a bar, each point of the
path first tests the stop, then moves it. A triggered TRAIL fills as a market order, a TRAIL LIMIT
becomes a limit order ``lmtPriceOffset`` beyond its stop. An Adaptive algo order fills as its base
type (MKT or LMT).

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

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ibbot.clock import ensure_utc
from ibbot.exchange.commission import charge_commission, ib_fixed_commission
from ibbot.exchange.contingency import Contingencies, OcaGroup
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
    path_position,
    quote_capacity,
    reference_price,
)
from ibbot.exchange.orders import OPEN_STATUSES, IbOrderStatus, OrderState, WorkingOrder
from ibbot.exchange.rejections import (
    CANCEL_NOT_FOUND,
    DUPLICATE_ORDER_ID,
    NOT_CANCELLABLE,
    REJECT_PREFIX,
    REJECTED,
    Refusal,
    request_problem,
)
from ibbot.models import OrderSide, TimeInForce
from ibbot.models.frozen import builder

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from ibbot.exchange.account import PositionPnL
    from ibbot.exchange.commission import CommissionSchedule
    from ibbot.exchange.contingency import OcaEffect
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
    ``account_events=False`` leaves the :class:`AccountChanged` out of a fill's events, for a
    caller that never reads them (a backtest): valuing the account costs more than the fill.
    ``acceptance_events=False`` likewise leaves out :class:`OrderAccepted` (a backtest reads an
    order's statuses, fills and refusals, never its acceptance).
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
        account_events: bool = True,
        acceptance_events: bool = True,
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
        # each refusal with its order's symbol, made JSON-ready only when a snapshot asks
        self._rejections: list[tuple[str, OrderRejected]] = []
        self._links = Contingencies()
        self._hours = (True, True)  # the hours of the market update being matched
        # False: fills report no AccountChanged (a backtest reads none; valuing costs per fill)
        self._account_events = account_events
        self._acceptance_events = acceptance_events  # False: no OrderAccepted (nor its snapshot)

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
        ``on_quote`` or ``on_bar``. An order sent with ``transmit`` False is held back and reports
        nothing until an order of its chain transmits (see :mod:`ibbot.exchange.contingency`).
        """
        now = ensure_utc(now, field="now")
        if self._faults.count > 0:
            self._faults.count -= 1
            return [self._reject(request, self._faults.code, self._faults.message, now)]
        key = (request.client_id, request.order_id)
        existing = self._orders.get(key)
        if existing is not None:
            problem = self._modify_problem(existing, request)
        elif self._links.held(key) is None:
            problem = request_problem(request, self._symbols) or self._parent_problem(request)
        else:
            problem = request_problem(request, self._symbols)
        if problem is not None:
            return [self._reject(request, *problem, now)]
        if not request.transmit:
            self._links.hold(request)
            return []
        hours = (market_open, extended_open)
        self._hours = hours
        events: list[ExchangeEvent] = []
        fresh: list[WorkingOrder] = []
        refused: set[int] = set()
        for item in self._links.release(request):
            order = self._orders.get((item.client_id, item.order_id))
            if order is not None:
                events.extend(self._modify(order, item, now, hours))
            else:
                order = self._accept(
                    item, now, quote=quote, hours=hours, refused=refused, events=events
                )
            if order is not None and order.is_open:
                fresh.append(order)
        if quote is not None:
            self._ledger.set_mark(request.symbol, quote.last)
            capacity = self._quote_capacity(request.symbol, quote)
            market = quote
            events.extend(
                self._pass(
                    fresh, now, lambda o, run: self._work_live(o, market, capacity, hours, run)
                )
            )
        return events

    def cancel(self, client_id: int, order_id: int, now: datetime) -> list[ExchangeEvent]:
        """Cancel a working order (and the children waiting for it); unknown ids get 10147,
        finished orders 161. A held-back order is dropped without a word, as it was never live."""
        now = ensure_utc(now, field="now")
        order = self._orders.get((client_id, order_id))
        if order is None:
            if self._links.drop_held((client_id, order_id)):
                return []
            message = f"OrderId {order_id} that needs to be cancelled is not found."
            return [OrderRejected(client_id, order_id, CANCEL_NOT_FOUND, message, now)]
        self._links.drop_held((client_id, order_id))
        if not order.is_open:
            message = (
                "Cancel attempted when order is not in a cancellable state. "
                f"Order permId ={order.perm_id}"
            )
            return [OrderRejected(client_id, order_id, NOT_CANCELLABLE, message, now)]
        return self._cancel_family(order, now, "cancelled by the client")

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
                if order.is_open:  # a parent expired before may have cancelled it already
                    events.extend(self._cancel_family(order, now, "DAY order expired"))
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
            hours = (market_open, extended_open)
            self._hours = hours
            capacity = self._quote_capacity(symbol, quote)
            run = _Pass(now)
            for order in [o for o in orders if not o.waiting_for_parent]:
                if order.status in OPEN_STATUSES:  # an OCA group may have ended it meanwhile
                    events.extend(self._work_live(order, quote, capacity, hours, run))
            if run.deferred:
                events.extend(self._deferred(run))
        self._last_volume[symbol] = quote.volume
        return events

    def set_mark(self, symbol: str, price: float) -> None:
        """Mark ``symbol`` at ``price`` without trading: what :meth:`on_bar` does with a bar of no
        volume (a backtest brings marks up to date with it before an order is checked)."""
        self._ledger.set_mark(symbol, price)

    def set_marks(self, marks: Iterable[tuple[str, float]]) -> None:
        """:meth:`set_mark` for each ``(symbol, price)``, in order (one call for many)."""
        self._ledger.set_marks(marks)

    def on_bar(self, symbol: str, bar: SimBar) -> list[ExchangeEvent]:
        """Backtest matching: work the symbol's orders against one bar (see the module docstring)."""
        orders = self._open.get(symbol)
        if not orders:
            self._ledger.set_mark(symbol, bar.close)
            return []
        events: list[ExchangeEvent] = []
        if bar.volume != 0:
            self._hours = (True, True)  # bars only exist while the market trades
            capacity = bar_capacity(self._fraction, bar)
            # orders waiting for their parent now sit this bar out, even if it fills the parent
            ready = [o for o in orders if o.submitted_at <= bar.time and not o.waiting_for_parent]
            if len(ready) > 1 and self._links.has_groups:
                ready = self._path_order(ready, bar)
            run = _Pass(bar.time)
            for order in ready:
                if order.status in OPEN_STATUSES:  # an OCA group may have ended it meanwhile
                    events.extend(self._work_bar(order, bar, capacity, run))
            if run.deferred:
                events.extend(self._deferred(run))
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
            "rejections": [_rejection_dict(symbol, event) for symbol, event in self._rejections],
            "pending_rejections": self._faults.count,
            "held_orders": self._links.held_count(),
        }

    # ----------------------------------------------------------------------------- internals

    def _reject(
        self, request: OrderRequest, code: int, message: str, now: datetime
    ) -> OrderRejected:
        event = _order_rejected(request.client_id, request.order_id, code, message, now)
        self._rejections.append((request.symbol, event))
        return event

    def _modify_problem(self, order: WorkingOrder, request: OrderRequest) -> Refusal | None:
        """Why IB refuses ``request`` as a modification of ``order`` (None when it may go)."""
        old = order.request
        if not order.is_open or request.symbol != old.symbol or request.action != old.action:
            return DUPLICATE_ORDER_ID, "Duplicate order id"
        problem = request_problem(request, self._symbols)
        if problem is None and request.quantity < order.filled:
            problem = REJECTED, f"{REJECT_PREFIX}the quantity is below the quantity already filled"
        if problem is None and request.parent_id != old.parent_id:
            problem = REJECTED, f"{REJECT_PREFIX}an order's parent cannot be changed"
        if problem is None and request.oca_group != old.oca_group:
            problem = REJECTED, f"{REJECT_PREFIX}an order's OCA group cannot be changed"
        return problem

    def _modify(
        self, order: WorkingOrder, request: OrderRequest, now: datetime, hours: tuple[bool, bool]
    ) -> list[ExchangeEvent]:
        """IB treats a placeOrder with a working order's id as a modification of that order."""
        problem = self._modify_problem(order, request)
        if problem is not None:
            return [self._reject(request, *problem, now)]
        old = order.request
        order.request = request
        order.resting = False
        if request.order_type is not old.order_type or request.stop_price != old.stop_price:
            order.triggered = False
        if _trail_terms(request) != _trail_terms(old):
            # a new trail starts again from its new stop, or from the market
            order.triggered, order.trail_stop, order.trail_limit = False, None, None
        if request.quantity != old.quantity:
            self._links.rebase(order)
        if order.remaining <= 0:
            return [self._finish(order, IbOrderStatus.FILLED, now, "filled")]
        order.hold_or_release(order.eligible(*hours))
        return [_accepted(order.snapshot(), now)] if self._acceptance_events else []

    def _parent_problem(self, request: OrderRequest) -> Refusal | None:
        """An attached order needs a parent that is held back, working or filled."""
        if not request.parent_id:
            return None
        key = (request.client_id, request.parent_id)
        if self._links.held(key) is not None:
            return None
        parent = self._orders.get(key)
        if parent is None:
            return REJECTED, f"{REJECT_PREFIX}parent order {request.parent_id} is not found"
        if not parent.is_open and parent.status is not IbOrderStatus.FILLED:
            return REJECTED, f"{REJECT_PREFIX}parent order {request.parent_id} is {parent.status}"
        return None

    def _accept(
        self,
        request: OrderRequest,
        now: datetime,
        *,
        quote: Quote | None,
        hours: tuple[bool, bool],
        refused: set[int],
        events: list[ExchangeEvent],
    ) -> WorkingOrder | None:
        """Accept one order of a transmitted chain (its parent, if any, came before it)."""
        if request.parent_id in refused:
            refused.add(request.order_id)
            message = f"{REJECT_PREFIX}parent order {request.parent_id} was rejected"
            events.append(self._reject(request, REJECTED, message, now))
            return None
        problem = self._parent_problem(request)
        if problem is None and not request.parent_id:
            # a child only closes what its parent opens: the margin check is the parent's
            price = reference_price(request, quote, self._ledger.last_mark(request.symbol))
            margin = self._ledger.margin_problem(request, price)
            problem = None if margin is None else (REJECTED, margin)
        if problem is not None:
            refused.add(request.order_id)
            events.append(self._reject(request, *problem, now))
            return None
        order = WorkingOrder(
            request=request,
            perm_id=self._log.next_perm_id(),
            submitted_at=now,
            status=IbOrderStatus.SUBMITTED,
        )
        parent = self._orders.get((request.client_id, request.parent_id))
        if parent is not None:
            self._links.attach(parent, order)
            order.waiting_for_parent = parent.status is not IbOrderStatus.FILLED
        self._orders[(request.client_id, request.order_id)] = order
        self._open.setdefault(request.symbol, []).append(order)
        order.hold_or_release(order.eligible(*hours))
        if self._acceptance_events:
            events.append(_accepted(order.snapshot(), now))
        effect = self._links.join(order)
        if effect is not None:
            events.extend(self._apply_effect(effect, now))
        return order

    def _quote_capacity(self, symbol: str, quote: Quote) -> dict[OrderSide, Capacity]:
        return quote_capacity(self._fraction, self._last_volume.get(symbol), quote)

    def _pass(
        self,
        orders: list[WorkingOrder],
        now: datetime,
        work: Callable[[WorkingOrder, _Pass], list[ExchangeEvent]],
    ) -> list[ExchangeEvent]:
        """Work ``orders`` against one market update, then apply what unblocked OCA groups owe.

        Orders waiting for their parent at the start sit the update out: a child activated by its
        parent's fill works from the next update on.
        """
        run = _Pass(now)
        events: list[ExchangeEvent] = []
        for order in [o for o in orders if not o.waiting_for_parent]:
            if order.is_open:
                events.extend(work(order, run))
        events.extend(self._deferred(run))
        return events

    def _deferred(self, run: _Pass) -> list[ExchangeEvent]:
        """The cuts and cancellations of OCA groups without block, after the whole update."""
        events: list[ExchangeEvent] = []
        for group in run.deferred:
            for effect in self._links.effects(group):
                events.extend(self._apply_effect(effect, run.now))
        return events

    def _path_order(self, orders: list[WorkingOrder], bar: SimBar) -> list[WorkingOrder]:
        """Orders in submission order, except that an OCA group's orders (a bracket's children)
        take their turn together, in the order the bar's path reaches their prices."""
        first: dict[str, int] = {}
        keyed: list[tuple[int, float, int, WorkingOrder]] = []
        for index, order in enumerate(orders):
            name = self._links.group_name(order)
            if name is None:
                keyed.append((index, 0.0, index, order))
            else:
                turn = first.setdefault(name, index)
                keyed.append((turn, path_position(order, bar), index, order))
        keyed.sort(key=lambda item: item[:3])
        return [item[3] for item in keyed]

    def _work_live(
        self,
        order: WorkingOrder,
        quote: Quote,
        capacity: dict[OrderSide, Capacity],
        hours: tuple[bool, bool],
        run: _Pass,
    ) -> list[ExchangeEvent]:
        match = match_quote(order, quote, self._slippage, hours)
        events: list[ExchangeEvent] = []
        if match.reason:
            events.append(OrderStatusChanged(order.snapshot(), run.now, match.reason))
        if match.price is not None:
            quantity = capacity[order.request.action].take(order.remaining)
            if quantity > 0:
                events.extend(self._fill(order, quantity, match.price, run))
        return events

    def _work_bar(
        self, order: WorkingOrder, bar: SimBar, capacity: Capacity, run: _Pass
    ) -> list[ExchangeEvent]:
        match = match_bar(order, bar, self._slippage)
        events: list[ExchangeEvent] = []
        if match.reason:
            events.append(_status_changed(order.snapshot(), bar.time, match.reason))
        if match.price is not None:
            quantity = capacity.take(order.remaining)
            if quantity > 0:
                events.extend(self._fill(order, quantity, match.price, run))
        return events

    def _fill(
        self, order: WorkingOrder, quantity: float, price: float, run: _Pass
    ) -> list[ExchangeEvent]:
        now = run.now
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
        execution = _execution(
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
        report = _commission_report(exec_id, commission, self._currency, realized, now)
        self._log.record(execution, report)
        events: list[ExchangeEvent] = [
            execution,
            report,
            _status_changed(state, now, "filled" if done else "partially filled"),
            self._ledger.position(request.symbol, now),
        ]
        if self._account_events:
            events.append(AccountChanged(self.account_values({}, now), now))
        if done and self._links.has_children:
            for child in self._links.children(order):
                child.waiting_for_parent = False
                child.hold_or_release(child.eligible(*self._hours))
                events.append(OrderStatusChanged(child.snapshot(), now, "parent filled"))
        group = self._links.on_fill(order, quantity) if self._links.has_groups else None
        if group is not None:
            if group.blocks:
                for effect in self._links.effects(group):
                    events.extend(self._apply_effect(effect, now))
            elif group not in run.deferred:
                run.deferred.append(group)
        return events

    def _apply_effect(self, effect: OcaEffect, now: datetime) -> list[ExchangeEvent]:
        """Cancel or cut an order as its OCA group's fills demand."""
        order = effect.order
        if effect.quantity is None:
            return self._cancel_family(order, now, "cancelled by its OCA group")
        order.request = dataclasses.replace(order.request, quantity=effect.quantity)
        return [OrderStatusChanged(order.snapshot(), now, "reduced by its OCA group")]

    def _cancel_family(
        self, order: WorkingOrder, now: datetime, reason: str
    ) -> list[ExchangeEvent]:
        """Cancel ``order`` and, first, the children still waiting for it."""
        events: list[ExchangeEvent] = []
        for child in self._links.children(order):
            if child.waiting_for_parent:
                events.extend(self._cancel_family(child, now, "parent order cancelled"))
        events.append(self._finish(order, IbOrderStatus.CANCELLED, now, reason))
        return events

    def _finish(
        self, order: WorkingOrder, status: IbOrderStatus, now: datetime, reason: str
    ) -> OrderStatusChanged:
        order.status, order.why_held = status, ""
        self._close(order)
        return _status_changed(order.snapshot(), now, reason)

    def _close(self, order: WorkingOrder) -> None:
        self._open[order.request.symbol].remove(order)
        self._completed.append(order)


# The events of every order and fill, without the frozen constructors' per-field cost (the values
# are the engine's own, already in form).
_accepted = builder(OrderAccepted)
_status_changed = builder(OrderStatusChanged)
_execution = builder(Execution)
_commission_report = builder(CommissionReport)
_order_rejected = builder(OrderRejected)  # a refused order (most of a margin-bound backtest's)


class _Pass:
    """One market update's matching: its time and the unblocked OCA groups whose fills wait."""

    __slots__ = ("deferred", "now")

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.deferred: list[OcaGroup] = []


def _trail_terms(request: OrderRequest) -> tuple[object, ...]:
    return (
        request.order_type,
        request.trailing_amount,
        request.trailing_percent,
        request.trail_stop_price,
        request.limit_offset,
    )


def _rejection_dict(symbol: str, event: OrderRejected) -> dict[str, Any]:
    return {
        "client_id": event.client_id,
        "order_id": event.order_id,
        "symbol": symbol,
        "code": event.code,
        "message": event.message,
        "time": event.time.isoformat(),
    }


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
        "parent_id": request.parent_id,
        "oca_group": request.oca_group,
        "oca_type": request.effective_oca_type if request.oca_group else 0,
        "trailing_amount": request.trailing_amount,
        "trailing_percent": request.trailing_percent,
        "trail_stop_price": state.trail_stop_price,
        "limit_offset": request.limit_offset,
        "algo_strategy": request.algo_strategy,
    }
