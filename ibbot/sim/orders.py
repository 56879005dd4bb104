"""Orders over the wire: placeOrder/cancelOrder in, the full lifecycle of messages out.

Requests go to the shared world's :class:`~ibbot.exchange.Exchange` (the pure matching engine); its
events come back as IB's messages, in the order TWS sends them: ``openOrder`` + ``orderStatus`` for
every state change (orderStatus carries the *placing* client's id, which is how ib_async finds the
trade), ``execDetails`` with reqId -1 for a live fill, the ``commissionReport`` after the order's
``openOrder`` (ib_async attaches it through the permId that openOrder registered), and then the
position and account updates to every subscriber. Events for a client that is not connected are not
queued: like TWS, the gateway keeps the books, and the client catches up with reqOpenOrders,
reqCompletedOrders and reqExecutions when it reconnects.

Resting orders are matched in a loop over simulated time that runs whether or not anyone is
connected, so an order can fill while its client is away.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from ibbot.exchange import (
    INITIAL_MARGIN_RATE,
    MAINTENANCE_MARGIN_RATE,
    CommissionReport,
    ExchangeEvent,
    Execution,
    OrderAccepted,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatusChanged,
    PositionChanged,
    Quote,
    ib_fixed_commission,
)
from ibbot.models import OrderSide, OrderType, TimeInForce
from ibbot.sim import messages as msg
from ibbot.sim.faults import EndMessage
from ibbot.sim.ibtime import format_exec_time, parse_end_datetime
from ibbot.sim.market_data import MIN_WALL_INTERVAL
from ibbot.sim.protocol import ErrorCode, error_text
from ibbot.sim.requests import ExecutionFilter, PlaceOrder, parse_place_order
from ibbot.sim.versions import Feature

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ibbot.sim.accounts import AccountBook
    from ibbot.sim.ports import ClientPort
    from ibbot.sim.wire import FieldReader
    from ibbot.sim.world import World

__all__ = ["MAX_FILL_PRICE", "OrderDesk"]

log = structlog.get_logger(__name__)

# Simulated seconds between matching passes over resting orders.
MATCH_INTERVAL = 1.0
# The highest price a forced fill may print at: above any US stock's price (Berkshire A trades
# under a million dollars), low enough that cash and P&L stay finite numbers.
MAX_FILL_PRICE = 10_000_000.0
# Executions reqExecutions replays: IB returns those of the last 24 hours.
EXECUTION_HISTORY = timedelta(days=1)
# IB's execution sides: bought / sold.
_EXEC_SIDE = {OrderSide.BUY: "BOT", OrderSide.SELL: "SLD"}
_ORDER_TYPES = {t.value: t for t in OrderType}
_FINISHED = frozenset({"Filled", "Cancelled", "Inactive"})
# Order types that take liquidity when they trade (a triggered stop is a market order).
_MARKETABLE = frozenset({OrderType.MARKET, OrderType.STOP, OrderType.TRAIL})
_TRAILING = frozenset({OrderType.TRAIL, OrderType.TRAIL_LIMIT})
_TIFS = {t.value: t for t in TimeInForce}


class OrderDesk:
    """The order handlers, the event router and the matching loop."""

    def __init__(self, world: World, accounts: AccountBook) -> None:
        self.world = world
        self.accounts = accounts
        self._exchanges: dict[tuple[int, int], str] = {}
        self._finished_at: dict[int, datetime] = {}
        # (client id, order id) of every order the exchange accepted: later ids are modifications
        self._known: set[tuple[int, int]] = set()
        self._work = asyncio.Event()
        self._last_match = world.clock.now()

    # ---------------------------------------------------------------- views

    def _view(self, state: OrderState, *, status: str | None = None) -> msg.OrderView | None:
        request = state.request
        security = self.world.contracts.by_symbol(request.symbol)
        if security is None:
            return None
        return msg.OrderView(
            order_id=request.order_id,
            client_id=request.client_id,
            perm_id=state.perm_id,
            security=security,
            exchange=self._exchanges.get((request.client_id, request.order_id), "SMART"),
            action=request.action.value,
            quantity=request.quantity,
            order_type=request.order_type.value,
            limit_price=request.limit_price,
            # a trailing order's auxPrice is its trailing amount
            aux_price=(
                request.trailing_amount if request.order_type in _TRAILING else request.stop_price
            ),
            tif=request.tif.value,
            account=request.account,
            order_ref=request.order_ref,
            outside_rth=request.outside_rth,
            status=status or state.status,
            filled=state.filled,
            completed_time=(
                format_exec_time(self._finished_at[state.perm_id])
                if state.perm_id in self._finished_at
                else ""
            ),
            completed_status=state.status,
            **_contingent_terms(state),
        )

    def _status_messages(self, state: OrderState) -> list[msg.Fields]:
        view = self._view(state)
        if view is None:
            return []
        return [
            msg.open_order(view),
            msg.order_status(
                order_id=state.request.order_id,
                status=state.status,
                filled=state.filled,
                remaining=state.remaining,
                avg_fill_price=state.avg_fill_price,
                perm_id=state.perm_id,
                last_fill_price=state.last_fill_price,
                client_id=state.request.client_id,
                why_held=state.why_held,
                parent_id=state.request.parent_id,
            ),
        ]

    def _exec_message(self, execution: Execution, req_id: int) -> msg.Fields | None:
        state = execution.state
        request = state.request
        security = self.world.contracts.by_symbol(request.symbol)
        if security is None:
            return None
        marketable = request.order_type in _MARKETABLE
        return msg.exec_details(
            req_id=req_id,
            order_id=request.order_id,
            client_id=request.client_id,
            perm_id=state.perm_id,
            security=security,
            exec_id=execution.exec_id,
            time=format_exec_time(execution.time),
            account=request.account,
            exchange=security.primary_exchange,
            side=_EXEC_SIDE[execution.side],
            shares=execution.quantity,
            price=execution.price,
            cum_qty=execution.cum_qty,
            avg_price=execution.avg_price,
            order_ref=request.order_ref,
            last_liquidity=2 if marketable else 1,
        )

    # ---------------------------------------------------------------- routing

    def route(self, events: Iterable[ExchangeEvent]) -> None:
        """Turn engine events into messages for the clients concerned, in TWS's order."""
        commissions: list[CommissionReport] = []
        changed_symbols: set[str] = set()
        owners: dict[str, int] = {}
        for event in events:
            if isinstance(event, OrderAccepted | OrderStatusChanged):
                request = event.state.request
                self._known.add((request.client_id, request.order_id))
                if event.state.status in _FINISHED:
                    self._finished_at.setdefault(event.state.perm_id, event.time)
                self._to_owner(event.state.request.client_id, self._status_messages(event.state))
                if event.state.status == "Cancelled":
                    self._to_owner(
                        event.state.request.client_id,
                        [
                            msg.error(
                                event.state.request.order_id,
                                ErrorCode.ORDER_CANCELLED,
                                error_text(ErrorCode.ORDER_CANCELLED),
                            )
                        ],
                    )
            elif isinstance(event, Execution):
                owners[event.exec_id] = event.state.request.client_id
                fields = self._exec_message(event, -1)
                if fields is not None:
                    self._to_owner(event.state.request.client_id, [fields])
            elif isinstance(event, CommissionReport):
                commissions.append(event)
            elif isinstance(event, OrderRejected):
                self._to_owner(
                    event.client_id, [msg.error(event.order_id, event.code, event.message)]
                )
            elif isinstance(event, PositionChanged):
                changed_symbols.add(event.symbol)
        for report in commissions:
            client_id = owners.get(report.exec_id)
            if client_id is not None:
                self._to_owner(client_id, [_commission_message(report)])
        if changed_symbols:
            self.accounts.publish(changed_symbols)
        if self.world.exchange.open_orders():
            self._work.set()

    def _to_owner(self, client_id: int, messages: Sequence[msg.Fields]) -> None:
        session = self.world.clients.session_for(client_id)
        if session is None:
            return
        for fields in messages:
            session.send(fields)

    # ---------------------------------------------------------------- handlers

    def place_order(self, session: ClientPort, reader: FieldReader) -> None:
        """placeOrder (3): validate, then hand to the exchange (or answer a whatIf preview)."""
        assert session.client_id is not None
        client_id = session.client_id
        order = parse_place_order(reader, session.server_version)
        resolved = self.world.contracts.resolve(order.contract)
        if resolved is None:
            session.send_error(order.order_id, ErrorCode.NO_SECURITY_DEFINITION)
            return
        problem = self._unsupported(order)
        if problem:
            session.send_error(
                order.order_id,
                ErrorCode.ORDER_REJECTED,
                error_text(ErrorCode.ORDER_REJECTED, detail=problem),
            )
            return
        now = self.world.clock.now()
        symbol = resolved.security.symbol
        quote = self.quote(symbol, now)
        if order.what_if:
            self._what_if(session, order, resolved.exchange, quote.last)
            return
        key = (client_id, order.order_id)
        # a known id is a modification (the engine refuses it for a finished order); any other id
        # must be new: IB refuses an id below the client's highest one as a duplicate
        if key not in self._known and order.order_id < self.world.clients.next_order_id(client_id):
            session.send_error(order.order_id, ErrorCode.DUPLICATE_ORDER_ID)
            return
        self.world.clients.use_order_id(client_id, order.order_id)
        self._exchanges[key] = resolved.exchange
        request = _request(order, client_id, symbol, self.world.config.account)
        log.info(
            "sim.orders.placed",
            client_id=client_id,
            order_id=order.order_id,
            symbol=symbol,
            action=request.action.value,
            quantity=request.quantity,
            order_type=request.order_type.value,
            order_ref=request.order_ref,
        )
        market_open, extended_open = self._hours(now)
        events = self.world.exchange.submit(
            request, now, quote, market_open=market_open, extended_open=extended_open
        )
        if not request.transmit and not events:
            self._known.add(key)  # held back: its id may come again to change or transmit it
        self.route(events)

    def quote(self, symbol: str, now: datetime) -> Quote:
        """The top of book orders match against: the market's, or a pinned price's (fault injection)."""
        market = self.world.market.quote(symbol, now)
        pinned = self.world.faults.pinned_prices.get(symbol)
        return market if pinned is None else _at_price(market, pinned, now)

    def pin_price(self, symbol: str, price: float | None) -> dict[str, Any]:
        """Make the exchange trade ``symbol`` at ``price`` from now on (None: back to the market),
        and run a matching pass at once, so stops it crosses trigger whether or not anyone is
        connected. Raises ValueError for an unknown symbol or a price outside (0, MAX_FILL_PRICE].
        """
        if self.world.contracts.by_symbol(symbol) is None:
            raise ValueError(f"unknown symbol {symbol!r}")
        if price is not None and not (math.isfinite(price) and 0 < price <= MAX_FILL_PRICE):
            raise ValueError(
                f"price must be a finite number above 0 and at most {MAX_FILL_PRICE:,.0f}, "
                f"got {price!r}"
            )
        pins = self.world.faults.pinned_prices
        if price is None:
            pins.pop(symbol, None)
        else:
            pins[symbol] = price
        now = self.world.clock.now()
        market_open, extended_open = self._hours(now)
        events = self.world.exchange.on_quote(
            symbol,
            self.quote(symbol, now),
            now,
            market_open=market_open,
            extended_open=extended_open,
        )
        self.route(events)
        log.info("sim.fault.price", symbol=symbol, price=price)
        return {
            "symbol": symbol,
            "price": price,
            "executions": [
                {
                    "exec_id": e.exec_id,
                    "client_id": e.state.request.client_id,
                    "order_id": e.state.request.order_id,
                    "quantity": e.quantity,
                    "price": e.price,
                }
                for e in events
                if isinstance(e, Execution)
            ],
        }

    def _hours(self, now: datetime) -> tuple[bool, bool]:
        """(regular hours, extended hours) at ``now``: when orders (outside_rth ones) may trade."""
        market = self.world.market
        return market.is_open(now), market.is_trading(now, outside_rth=True)

    def _unsupported(self, order: PlaceOrder) -> str:
        """Why the simulated exchange cannot take this order ('' when it can)."""
        if order.action.upper() not in ("BUY", "SELL"):
            return f"Invalid action {order.action!r}"
        if order.order_type.upper() not in _ORDER_TYPES:
            return f"The simulated exchange does not support order type {order.order_type}"
        if (order.tif or "DAY").upper() not in _TIFS:
            return f"The simulated exchange does not support time in force {order.tif}"
        if order.account and order.account != self.world.config.account:
            return f"Invalid account code {order.account}"
        unsupported = [
            ("combo orders", order.is_combo),
            ("conditional orders", order.condition_count > 0),
            ("cash quantity orders", order.cash_quantity is not None),
            ("good-after / good-till dates", bool(order.good_after_time or order.good_till_date)),
        ]
        for feature, present in unsupported:
            if present:
                return f"The simulated exchange does not support {feature}"
        return ""

    def _what_if(self, session: ClientPort, order: PlaceOrder, exchange: str, price: float) -> None:
        """Answer a whatIf order with the margin and commission it would cost, without placing it."""
        assert session.client_id is not None
        security = self.world.contracts.resolve(order.contract)
        assert security is not None
        quantity = order.quantity or 0.0
        value = quantity * price
        view = msg.OrderView(
            order_id=order.order_id,
            client_id=session.client_id,
            perm_id=0,
            security=security.security,
            exchange=exchange,
            action=order.action.upper(),
            quantity=quantity,
            order_type=order.order_type.upper(),
            limit_price=order.limit_price,
            aux_price=order.aux_price,
            tif=(order.tif or "DAY").upper(),
            account=order.account or self.world.config.account,
            order_ref=order.order_ref,
            outside_rth=order.outside_rth,
            status="PreSubmitted",
            what_if=True,
            init_margin_change=value * INITIAL_MARGIN_RATE,
            maint_margin_change=value * MAINTENANCE_MARGIN_RATE,
            equity_with_loan=self.world.exchange.account_values(self.accounts.marks()).get(
                "EquityWithLoanValue", self.world.config.starting_cash
            ),
            commission=ib_fixed_commission(quantity, price),
        )
        session.send(msg.open_order(view))

    def cancel_order(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelOrder (4): the order's Cancelled status, or 10147/10148 when it cannot be."""
        assert session.client_id is not None
        reader.integer()  # version
        order_id = reader.integer()
        if session.server_version >= Feature.MANUAL_ORDER_TIME:
            reader.text()  # manualOrderCancelTime
        self.route(self.world.exchange.cancel(session.client_id, order_id, self.world.clock.now()))

    def req_global_cancel(self, session: ClientPort, reader: FieldReader) -> None:
        """reqGlobalCancel (58): cancel every open order of every client."""
        reader.integer()  # version
        now = self.world.clock.now()
        for state in self.world.exchange.open_orders():
            self.route(
                self.world.exchange.cancel(state.request.client_id, state.request.order_id, now)
            )
        log.info("sim.orders.global_cancel", client_id=session.client_id)

    def req_open_orders(self, session: ClientPort, reader: FieldReader) -> None:
        """reqOpenOrders (5): this client's open orders, then openOrderEnd."""
        reader.integer()  # version
        self._send_open_orders(session, session.client_id)

    def req_all_open_orders(self, session: ClientPort, reader: FieldReader) -> None:
        """reqAllOpenOrders (16): every client's open orders, then openOrderEnd."""
        reader.integer()  # version
        self._send_open_orders(session, None)

    def req_auto_open_orders(self, session: ClientPort, reader: FieldReader) -> None:
        """reqAutoOpenOrders (15): client 0 binds manual TWS orders (the sim has none); no reply."""
        reader.integer()  # version
        session.auto_bind = reader.flag()

    def _send_open_orders(self, session: ClientPort, client_id: int | None) -> None:
        for state in self.world.exchange.open_orders(client_id):
            for fields in self._status_messages(state):
                session.send(fields)
        if not self.world.faults.withholds(EndMessage.OPEN_ORDER_END):
            session.send(msg.open_order_end())

    def req_completed_orders(self, session: ClientPort, reader: FieldReader) -> None:
        """reqCompletedOrders (99): every finished order, then completedOrdersEnd."""
        reader.flag()  # apiOnly: every simulated order came through the API
        for state in self.world.exchange.completed_orders():
            view = self._view(state)
            if view is not None:
                session.send(msg.completed_order(view))
        if not self.world.faults.withholds(EndMessage.COMPLETED_ORDERS_END):
            session.send(msg.completed_orders_end())

    def req_executions(self, session: ClientPort, reader: FieldReader) -> None:
        """reqExecutions (7): matching executions of the last 24 hours, each with its commission."""
        reader.integer()  # version
        req_id = reader.integer()
        flt = ExecutionFilter(
            client_id=reader.integer(default=0),
            account=reader.text(),
            time=reader.text(),
            symbol=reader.text(),
            sec_type=reader.text(),
            exchange=reader.text(),
            side=reader.text(),
        )
        now = self.world.clock.now()
        since = now - EXECUTION_HISTORY
        if flt.time.strip():
            try:
                since = max(since, parse_end_datetime(flt.time, now))
            except ValueError:
                log.info("sim.orders.bad_execution_filter_time", time=flt.time)
        for execution in self.world.exchange.executions(
            client_id=flt.client_id or None, since=since
        ):
            if not _matches(flt, execution):
                continue
            fields = self._exec_message(execution, req_id)
            if fields is None:
                continue
            session.send(fields)
            report = self.world.exchange.commission_report(execution.exec_id)
            if report is not None:
                session.send(_commission_message(report))
        if not self.world.faults.withholds(EndMessage.EXEC_DETAILS_END):
            session.send(msg.exec_details_end(req_id))

    def req_ids(self, session: ClientPort, reader: FieldReader) -> None:
        """reqIds (8): the next order id this client may use."""
        assert session.client_id is not None
        reader.integer()  # version
        reader.integer(default=1)  # numIds (ignored by TWS too)
        session.send(msg.next_valid_id(self.world.clients.next_order_id(session.client_id)))

    # ---------------------------------------------------------------- matching

    async def run(self) -> None:
        """Match resting orders against the market in simulated time, connected clients or not."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.accounts.run())
            tasks.create_task(self._match_forever())

    async def _match_forever(self) -> None:
        clock = self.world.clock
        interval = max(MATCH_INTERVAL, MIN_WALL_INTERVAL * self.world.config.time_scale)
        self._last_match = clock.now()
        while True:
            if not self.world.exchange.open_orders():
                self._work.clear()
                await self._work.wait()
                self._last_match = clock.now()
            await clock.sleep(interval)
            self.match_once(clock.now())

    def match_once(self, now: datetime) -> None:
        """One matching pass: expire DAY orders at any close passed, then show every symbol's quote."""
        self.route(self._expire_day_orders(self._last_match, now))
        self._last_match = now
        symbols = sorted({s.request.symbol for s in self.world.exchange.open_orders()})
        market_open, extended_open = self._hours(now)
        for symbol in symbols:
            quote = self.quote(symbol, now)
            self.route(
                self.world.exchange.on_quote(
                    symbol, quote, now, market_open=market_open, extended_open=extended_open
                )
            )

    def _expire_day_orders(self, since: datetime, now: datetime) -> list[ExchangeEvent]:
        """DAY orders end at the regular close (extended close for outside-RTH ones) in (since, now]."""
        calendar = self.world.market.calendar
        events: list[ExchangeEvent] = []
        day = calendar.exchange_date(since)
        last = calendar.exchange_date(now)
        while day <= last:
            trading = calendar.session(day)
            if trading is not None:
                if since < trading.close <= now:
                    events += self.world.exchange.expire_day_orders(trading.close)
                if since < trading.post_close <= now:
                    events += self.world.exchange.expire_day_orders(
                        trading.post_close, extended_hours_close=True
                    )
            day += timedelta(days=1)
        return events

    def force_fill(self, client_id: int, order_id: int, price: float | None) -> dict[str, Any]:
        """Fill an open order now, whether or not its client is connected (fault injection).

        The market is made to trade at ``price`` (default: the order's limit or stop price, or the
        current market for a market order) for one matching pass, with the hours rule lifted; any
        other order that is marketable at that price fills too, as it would on a real print.
        Raises ValueError for a price that is not a finite number in ``(0, MAX_FILL_PRICE]`` (an
        infinite price would make the account's cash and every P&L non-finite for all clients).
        """
        if price is not None and not (math.isfinite(price) and 0 < price <= MAX_FILL_PRICE):
            raise ValueError(
                f"fill price must be a finite number above 0 and at most {MAX_FILL_PRICE:,.0f}, "
                f"got {price!r}"
            )
        state = next(
            (
                s
                for s in self.world.exchange.open_orders(client_id)
                if s.request.order_id == order_id
            ),
            None,
        )
        if state is None:
            raise ValueError(f"client {client_id} has no open order {order_id}")
        request = state.request
        now = self.world.clock.now()
        market = self.quote(request.symbol, now)
        if price is None:
            price = (
                request.limit_price or request.stop_price or state.trail_stop_price or market.last
            )
        forced = _at_price(market, price, now)
        events = self.world.exchange.on_quote(
            request.symbol, forced, now, market_open=True, extended_open=True
        )
        self.route(events)
        fills = [e for e in events if isinstance(e, Execution)]
        log.info("sim.fault.fill_order", client_id=client_id, order_id=order_id, price=price)
        return {
            "client_id": client_id,
            "order_id": order_id,
            "price": price,
            "executions": [
                {
                    "exec_id": e.exec_id,
                    "order_id": e.state.request.order_id,
                    "quantity": e.quantity,
                    "price": e.price,
                }
                for e in fills
            ],
            "client_connected": self.world.clients.session_for(client_id) is not None,
        }


def _at_price(market: Quote, price: float, now: datetime) -> Quote:
    """``market`` trading at ``price``: bid, ask and last all there, the day's range widened."""
    return Quote(
        time=now,
        bid=price,
        ask=price,
        last=price,
        bid_size=market.bid_size,
        ask_size=market.ask_size,
        last_size=market.last_size,
        volume=market.volume,
        open=market.open,
        high=max(market.high, price),
        low=min(market.low, price) if market.low > 0 else price,
        close=market.close,
    )


def _request(order: PlaceOrder, client_id: int, symbol: str, account: str) -> OrderRequest:
    """The exchange's view of a placeOrder; a TRAIL's auxPrice is its trailing amount."""
    order_type = _ORDER_TYPES[order.order_type.upper()]
    trailing = order_type in _TRAILING
    return OrderRequest(
        client_id=client_id,
        order_id=order.order_id,
        symbol=symbol,
        action=OrderSide(order.action.upper()),
        quantity=order.quantity or 0.0,
        order_type=order_type,
        limit_price=None if trailing else order.limit_price,
        stop_price=None if trailing else order.aux_price,
        tif=_TIFS[(order.tif or "DAY").upper()],
        order_ref=order.order_ref,
        account=order.account or account,
        outside_rth=order.outside_rth,
        parent_id=order.parent_id,
        transmit=order.transmit,
        oca_group=order.oca_group,
        oca_type=order.oca_type,
        trailing_amount=order.aux_price if trailing else None,
        trailing_percent=order.trailing_percent,
        trail_stop_price=order.trail_stop_price,
        limit_offset=order.limit_offset,
        algo_strategy=order.algo_strategy,
        algo_params=order.algo_params,
    )


def _contingent_terms(state: OrderState) -> dict[str, Any]:
    """What openOrder and completedOrder say of brackets, OCA groups, trails and algos."""
    request = state.request
    return {
        "parent_id": request.parent_id,
        "parent_perm_id": state.parent_perm_id,
        "oca_group": request.oca_group,
        "oca_type": request.effective_oca_type if request.oca_group else 0,
        "trail_stop_price": state.trail_stop_price
        if state.trail_stop_price is not None
        else request.trail_stop_price,
        "trailing_percent": request.trailing_percent,
        "limit_offset": request.limit_offset,
        "algo_strategy": request.algo_strategy,
        "algo_params": request.algo_params,
    }


def _commission_message(report: CommissionReport) -> msg.Fields:
    return msg.commission_report(
        report.exec_id, report.commission, report.currency, report.realized_pnl
    )


def _matches(flt: ExecutionFilter, execution: Execution) -> bool:
    request = execution.state.request
    if flt.account and flt.account != request.account:
        return False
    if flt.symbol and flt.symbol.upper() != request.symbol:
        return False
    if flt.sec_type and flt.sec_type.upper() != "STK":
        return False
    if flt.exchange and flt.exchange.upper() not in ("SMART", execution.exchange.upper()):
        return False
    side = flt.side.upper()
    return not side or side in (request.action.value, _EXEC_SIDE[request.action])
