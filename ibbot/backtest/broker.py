"""The backtest's broker: ibbot orders in, fills out, matched by the simulator's own engine.

:class:`SimulatedBroker` wraps :class:`ibbot.exchange.Exchange` (the matching engine and margin
account behind ``ibbot sim``) in-process, without sockets, and speaks ibbot's models: it takes an
:class:`~ibbot.models.Order`, sends it as IB would receive it (``orderRef`` = ``strategy:decision``),
and turns the engine's executions and commission reports into :class:`~ibbot.models.Fill` values
attributed by that ``orderRef``, exactly as the live broker adapter does.

Fill semantics (the engine's backtest matching, ``Exchange.on_bar``): an order submitted after the
bars of time t fills on the symbol's next bar: a market order at its open (worsened by the
slippage), a limit order at the open when the bar opens through the limit, else at the limit when
the bar's range reaches it, a stop at the open when the bar gaps through it, else at the stop price
(plus slippage); a bar with zero volume fills nothing. A DAY order lives through the first trading
day on which it meets a bar of its symbol and is cancelled when the next day begins; a GTC order
works until it fills.

A bracket (:meth:`SimulatedBroker.submit_bracket`) goes to the engine exactly as the live executor
sends it to IB: the entry untransmitted, each protective child with the entry as parent and one OCA
group (``Bracket.oca_type``), the last one transmitting. So the children wait for the entry, work from the bar
after its fill, and a bar that reaches two legs fills the one its path reaches first (the engine's
rules), in a backtest as at the simulated gateway.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import TYPE_CHECKING, Final

from ibbot.exchange import (
    CommissionReport,
    Exchange,
    Execution,
    IbOrderStatus,
    OrderRejected,
    OrderRequest,
    OrderStatusChanged,
    PositionChanged,
    SimBar,
)
from ibbot.models import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    TimeInForce,
    parse_order_ref,
    split_leg,
)
from ibbot.models.frozen import builder

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ibbot.exchange import ExchangeEvent
    from ibbot.models import Bracket

__all__ = ["BACKTEST_ACCOUNT", "BrokerOrder", "SimulatedBroker"]

BACKTEST_ACCOUNT: Final = "DUBACKTEST"
"""The simulated account: a paper account id (``DU`` prefix), so the live-account guard lets it trade."""

# The engine's inputs and the broker's fills, without the frozen constructors' per-field cost.
_new_request = builder(OrderRequest)
_new_sim_bar = builder(SimBar)
_new_fill = builder(Fill)

# The IB statuses the engine reports, in ibbot's own lifecycle.
_STATUSES: Final = {
    IbOrderStatus.PRE_SUBMITTED.value: OrderStatus.SUBMITTED,
    IbOrderStatus.SUBMITTED.value: OrderStatus.SUBMITTED,
    IbOrderStatus.FILLED.value: OrderStatus.FILLED,
    IbOrderStatus.CANCELLED.value: OrderStatus.CANCELLED,
    IbOrderStatus.INACTIVE.value: OrderStatus.CANCELLED,
}


@dataclass(slots=True)
class BrokerOrder:
    """One order's life at the simulated broker (mutable bookkeeping, never handed to a strategy).

    ``active_day`` is the trading day of the first bar that could fill it (a DAY order ends with
    that day); ``message`` holds the engine's rejection or cancellation text.
    """

    order: Order
    order_id: int
    submitted_at: datetime
    status: OrderStatus = OrderStatus.SUBMITTED
    perm_id: int = 0
    filled: float = 0.0
    avg_price: float = 0.0
    commission: float = 0.0
    active_day: int | None = None
    message: str = ""
    finished_at: datetime | None = None
    request: OrderRequest | None = None


class SimulatedBroker:
    """Orders, fills and the account of one backtest, on an :class:`Exchange`.

    ``day_of`` maps a bar start (microseconds since the epoch) to its trading day number, which
    decides when DAY orders expire. Every method is synchronous and deterministic.
    """

    def __init__(
        self,
        *,
        starting_cash: float,
        commission: Callable[[float, float], float],
        slippage_bps: float,
        day_of: Callable[[int], int],
        account: str = BACKTEST_ACCOUNT,
        client_id: int = 1,
        max_fill_fraction_of_volume: float | None = None,
    ) -> None:
        self.exchange = Exchange(
            account=account,
            starting_cash=starting_cash,
            commission=commission,
            slippage_bps=slippage_bps,
            max_fill_fraction_of_volume=max_fill_fraction_of_volume,
            account_events=False,  # _apply reads no AccountChanged
            acceptance_events=False,  # ... nor OrderAccepted
        )
        self.account = account
        self._client_id = client_id
        self._day_of = day_of
        self._ids = count(1)
        self._orders: dict[int, BrokerOrder] = {}
        self._open: dict[int, BrokerOrder] = {}
        self.open_symbols: dict[str, int] = {}
        """Working orders per symbol (read-only for callers; empty when nothing works)."""
        self.positions: dict[str, float] = {}
        """The account's shares per symbol (non-zero only), as the engine reports them."""
        self._marked: dict[str, float] = {}

    # --- state ----------------------------------------------------------------------------------

    @property
    def cash(self) -> float:
        """The account's cash (negative when buying on margin)."""
        return self.exchange.cash

    @property
    def open_orders(self) -> int:
        """How many orders are working."""
        return len(self._open)

    def has_open_orders(self, symbol: str) -> bool:
        """True while an order in ``symbol`` is working (only then do its bars need matching)."""
        return symbol in self.open_symbols

    @property
    def orders(self) -> list[BrokerOrder]:
        """Every order sent, in the order it was sent."""
        return list(self._orders.values())

    def order(self, order_id: int) -> BrokerOrder | None:
        """The order with ``order_id``, if one was sent."""
        return self._orders.get(order_id)

    def working(self, strategy: str, symbol: str) -> list[tuple[Order, float]]:
        """``strategy``'s working orders in ``symbol``, each with the quantity it may still fill.

        A fill here is booked in the same step, so an order's unbooked rest is its unfilled rest.
        """
        return [
            (record.order, record.order.quantity - record.filled)
            for record in self._open.values()
            if record.order.symbol == symbol and record.order.strategy_name == strategy
        ]

    def protective(self, strategy: str, symbol: str) -> list[BrokerOrder]:
        """``strategy``'s working protective children in ``symbol`` (stop-loss, take-profit,
        trailing stop)."""
        return [
            record
            for record in self._open.values()
            if record.order.symbol == symbol
            and record.order.strategy_name == strategy
            and split_leg(record.order.decision_id)[1].protective
        ]

    # --- orders ---------------------------------------------------------------------------------

    def submit(
        self,
        order: Order,
        now: datetime,
        marks: Mapping[str, float],
        *,
        held_marked: bool = False,
    ) -> BrokerOrder:
        """Send ``order`` at ``now``; it works from the next bar of its symbol on.

        ``marks`` are the latest closes: the engine values the account with them for its margin
        check (IB's error 201 when the order needs more margin than the equity allows).
        ``held_marked`` says an earlier submit already brought every held symbol to these same
        ``marks`` and nothing has filled since (the replay's later orders of one instant): only
        the order's own symbol is looked at, not every holding again.
        """
        self._mark(marks, (order.symbol,) if held_marked else (order.symbol, *self.positions), now)
        record = self._record(order, now)
        self._place(record, now)
        return record

    def submit_bracket(
        self,
        bracket: Bracket,
        now: datetime,
        marks: Mapping[str, float],
        *,
        held_marked: bool = False,
    ) -> list[BrokerOrder]:
        """Send an entry and its protective children as one bracket; their records, entry first
        (``marks`` and ``held_marked`` as for :meth:`submit`)."""
        entry = bracket.entry
        self._mark(marks, (entry.symbol,) if held_marked else (entry.symbol, *self.positions), now)
        records = [self._record(order, now) for _, order in bracket.legs]
        parent = records[0].order_id
        for record in records:
            assert record.request is not None
            linked = record is not records[0]
            record.request = dataclasses.replace(
                record.request,
                parent_id=parent if linked else 0,
                oca_group=bracket.oca_group if linked else "",
                oca_type=bracket.oca_type if linked else 0,
                transmit=record is records[-1],
            )
        for record in records:
            self._place(record, now)
        return records

    def modify_stop(self, order_id: int, stop_price: float, now: datetime) -> bool:
        """Move a working stop to ``stop_price`` (the engine's modify, as IB's); False when the
        order is not a working stop."""
        record = self._open.get(order_id)
        if record is None or record.request is None:
            return False
        if record.request.order_type not in (OrderType.STOP, OrderType.STOP_LIMIT):
            return False
        record.request = dataclasses.replace(record.request, stop_price=stop_price)
        record.order = dataclasses.replace(record.order, stop_price=stop_price)
        self._apply(self.exchange.submit(record.request, now, None, market_open=False), now)
        return True

    def _record(self, order: Order, now: datetime) -> BrokerOrder:
        order_id = next(self._ids)
        record = BrokerOrder(order, order_id, now)
        record.request = _new_request(
            self._client_id,
            order_id,
            order.symbol,
            order.action,
            float(order.quantity),
            order.order_type,
            order.limit_price,
            order.stop_price,
            order.time_in_force,
            order.order_ref,
            self.account,
            trailing_amount=order.trailing_amount,
            trailing_percent=order.trailing_percent,
        )
        self._orders[order_id] = record
        self._open[order_id] = record
        self.open_symbols[order.symbol] = self.open_symbols.get(order.symbol, 0) + 1
        return record

    def _place(self, record: BrokerOrder, now: datetime) -> None:
        assert record.request is not None
        # Between bars the market is closed to the order: it waits ("PreSubmitted") for a bar.
        self._apply(self.exchange.submit(record.request, now, None, market_open=False), now)

    def on_bar(
        self,
        symbol: str,
        *,
        time: datetime,
        micros: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> list[Fill]:
        """Match ``symbol``'s working orders against one bar; the fills it caused, in order."""
        day = self._day_of(micros)
        for record in self._open.values():
            if record.active_day is None and record.order.symbol == symbol:
                record.active_day = day
        # IB volumes are whole shares; a fractional volume still traded, so it must not count as 0
        shares = 0 if volume <= 0 else max(1, int(volume))
        bar = _new_sim_bar(time, open_, high, low, close, shares, close, 0)
        fills = self._apply(self.exchange.on_bar(symbol, bar), time)
        self._marked[symbol] = close  # the engine marks a symbol at the close of each bar it sees
        return fills

    def expire_day_orders(self, micros: int, now: datetime) -> list[BrokerOrder]:
        """Cancel DAY orders whose trading day ended before the day of ``micros``; those cancelled."""
        day = self._day_of(micros)
        expired = [
            record
            for record in self._open.values()
            if record.order.time_in_force is TimeInForce.DAY
            and record.active_day is not None
            and record.active_day < day
        ]
        for record in expired:
            self._apply(self.exchange.cancel(self._client_id, record.order_id, now), now)
            record.message = "DAY order expired unfilled at the end of its trading day"
        return expired

    def cancel(self, order_id: int, now: datetime) -> BrokerOrder | None:
        """Cancel a working order; None when ``order_id`` is not working."""
        record = self._open.get(order_id)
        if record is None:
            return None
        self._apply(self.exchange.cancel(self._client_id, order_id, now), now)
        return record

    def mark_all(self, marks: Mapping[str, float], now: datetime) -> None:
        """Tell the engine every symbol's latest close (for its account values and snapshot)."""
        self._mark(marks, marks, now)

    # --- engine events --------------------------------------------------------------------------

    def _mark(self, marks: Mapping[str, float], symbols: Iterable[str], now: datetime) -> None:
        # The engine takes its marks from the bars it sees; the replay only shows it the bars of
        # symbols with working orders. Marking at the latest close brings a mark up to date
        # without trading anything (what the engine does with a bar of no volume).
        marked = self._marked
        changed = [
            (symbol, price)
            for symbol in symbols
            if (price := marks.get(symbol)) is not None and marked.get(symbol) != price
        ]
        if changed:
            self.exchange.set_marks(changed)
            marked.update(changed)

    def _apply(self, events: list[ExchangeEvent], now: datetime) -> list[Fill]:
        fills: list[Fill] = []
        execution: Execution | None = None
        for event in events:
            # every execution is followed by its commission report (no AccountChanged: not asked for)
            if isinstance(event, OrderStatusChanged):
                self._status(event, now)
            elif isinstance(event, Execution):
                execution = event
            elif isinstance(event, CommissionReport) and execution is not None:
                fills.append(self._fill(execution, event))
                execution = None
            elif isinstance(event, PositionChanged):
                if event.quantity:
                    self.positions[event.symbol] = event.quantity
                else:
                    self.positions.pop(event.symbol, None)
            elif isinstance(event, OrderRejected):
                self._rejected(event, now)
        return fills

    def _fill(self, execution: Execution, report: CommissionReport) -> Fill:
        state = execution.state
        request = state.request
        record = self._orders[request.order_id]
        record.perm_id = state.perm_id
        record.filled = state.filled
        record.avg_price = state.avg_fill_price
        record.commission += report.commission
        strategy, decision_id = parse_order_ref(request.order_ref)
        return _new_fill(
            exec_id=execution.exec_id,
            order_id=request.order_id,
            perm_id=state.perm_id,
            symbol=request.symbol,
            side=execution.side,
            quantity=execution.quantity,
            price=execution.price,
            timestamp=execution.time,
            commission=report.commission,
            strategy_name=strategy,
            decision_id=decision_id,
            account=self.account,
            realized_pnl=report.realized_pnl,
        )

    def _status(self, event: OrderStatusChanged, now: datetime) -> None:
        state = event.state
        record = self._orders[state.request.order_id]
        record.perm_id = state.perm_id
        status = _STATUSES[state.status]
        if status is OrderStatus.SUBMITTED and 0 < state.filled < state.request.quantity:
            status = OrderStatus.PARTIALLY_FILLED
        record.status = status
        if status.is_terminal:
            self._finish(record, now)

    def _rejected(self, event: OrderRejected, now: datetime) -> None:
        record = self._orders.get(event.order_id)
        if record is None or record.status.is_terminal:
            return
        record.status = OrderStatus.REJECTED
        record.message = f"{event.code}: {event.message}"
        self._finish(record, now)

    def _finish(self, record: BrokerOrder, now: datetime) -> None:
        record.finished_at = now
        if self._open.pop(record.order_id, None) is None:
            return
        symbol = record.order.symbol
        left = self.open_symbols[symbol] - 1
        if left:
            self.open_symbols[symbol] = left
        else:
            del self.open_symbols[symbol]
