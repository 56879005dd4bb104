"""The order executor: ibbot orders in, honest order results and fills out.

``await submit(order)`` sends the order once and waits for a terminal state or a timeout, then
returns what IB last reported (submitted, partially filled...), never "filled" by assumption. Every
order, state change and fill is audited, and published as ``order_status`` and ``fill`` events that
carry the strategy and decision (from ``orderRef``).

Orders are never re-sent. After a reconnect (or IB's 1101) the executor asks IB for its open and
completed orders and today's executions and reconciles: a fill that happened while disconnected is
recorded exactly once (executions are keyed by execId, remembered in the audit log across runs),
with the commission report IB sends right after each execution of that answer (so it is
published at once, never waiting for a report that already came), and an order IB never received
is reported as such. An order the socket's drop caught before it left is finished as not sent.
Orders are keyed by permId once IB assigns it (order ids are per client session; permId is
unique per account).

Crash safety: an order's write-ahead audit line (status "sending", with its ``orderRef``
``<strategy>:<decision id>``) is written before the order is sent (the operating system holds it:
it survives ibbot being killed) and fsynced before ``submit`` (or the outcome of
:meth:`~OrderExecutor.place_now`) goes on. Orders are never re-sent, so no crash can place a
decision's order twice. After a crash the next run settles every order an earlier run left
unfinished, whichever window the crash hit:

- (a) The write-ahead line is durable, placeOrder never reached IB: IB lists no order and no
  execution with its ``orderRef``. It is audited as rejected "unconfirmed after a restart" (a
  ``reconciliation`` line counts it) and never re-sent; its decision is not retried, the strategy
  decides again on new data.
- (b) IB accepted the order, no status came back before the crash: IB lists it (open, or completed
  today) under its ``orderRef``; it is adopted and tracked to its end like an order of this run.
- (c) A fill happened but was not audited before the crash: IB still reports the execution, which
  is audited and published once (executions are keyed by execId, and audited ones are remembered
  across runs), so the position book books it once; an adopted order's status follows.
- The order reached IB and a power cut (or a crash of the operating system) came before its
  write-ahead line was fsynced: as (b); only the "sending" line is missing.

Within a run, a reconcile (after a reconnect) leaves alone an order ``submit`` has tracked but not
yet handed to IB (it waits for the pacer): it is in flight, not lost.

Limits, from what IB reports: open orders are listed to the client id that placed them, so
restart with the same ``ib.client_id`` (an order working under another id is settled as
unconfirmed, still never re-sent); executions are reported (by default) for the current day
only, so a fill made while ibbot was down and not audited before the day changed is not
recovered: the start reconciliation then finds the book off from IB's positions
(``risk.on_reconciliation_mismatch``).

Safety: orders are refused with :class:`LiveTradingRefused` (and an audit entry) when the account
is not a paper account (``DU...``) unless live trading is explicitly allowed, and a read-only
executor logs what it would have sent and sends nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog
from ib_async import Trade

from ibbot.broker.connection import HookPhase, SessionChange
from ibbot.broker.conversions import (
    contract_for,
    fill_from_ib,
    ib_bracket,
    ib_order,
    order_result,
)
from ibbot.broker.errors import CANCEL_REFUSED
from ibbot.broker.outbox import Outbox
from ibbot.broker.timing import wait_event, within
from ibbot.errors import BrokerError, IbbotError, LiveTradingRefused, RequestFailed
from ibbot.models import (
    Bracket,
    Event,
    EventType,
    Order,
    OrderResult,
    OrderStatus,
    OrderType,
    parse_order_ref,
    to_dict,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from ib_async import IB, CommissionReport, Contract
    from ib_async import Fill as IBFill
    from ib_async import Order as IBOrder

    from ibbot.broker.connection import IBConnection
    from ibbot.broker.ports import BrokerStore, EventPublisher
    from ibbot.broker.requests import IBRequests
    from ibbot.settings import IbSettings

__all__ = ["ExecutorConfig", "OrderExecutor", "PlacedOrder"]

log = structlog.get_logger(__name__)

AUDIT_FILLS: Final = "fills"
AUDIT_ORDERS: Final = "orders"
AUDIT_RECONCILIATION: Final = "reconciliation"
_NOT_SENT: Final = (
    "not sent: the connection to IB Gateway dropped before the order left (ibbot does not "
    "re-send orders; the strategy decides again on new data)"
)
LIVE_REFUSAL: Final = (
    "refused: the connected account is not a paper account (DU...) and "
    "ib.allow_live_trading is false"
)
UNCONFIRMED_MESSAGE: Final = (
    "unconfirmed after a restart: IB lists no such order (open or completed today) and no "
    "execution of it; it never reached IB, finished on an earlier day, or works under another "
    "ib.client_id. ibbot does not re-send orders"
)


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """How the executor behaves.

    ``submit_timeout`` is how long :meth:`OrderExecutor.submit` waits for a terminal state;
    ``commission_wait`` how long a fill waits for its commission report before it is published
    without one; ``fill_memory`` how far back audited fills are remembered to publish each once.
    """

    readonly: bool = False
    allow_live_trading: bool = False
    submit_timeout: float = 30.0
    commission_wait: float = 2.0
    fill_memory: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, ib: IbSettings) -> ExecutorConfig:
        """Read-only mode and the live-trading consent from the ``[ib]`` settings."""
        return cls(
            readonly=ib.readonly,
            allow_live_trading=ib.allow_live_trading,
            submit_timeout=ib.request_timeout,
        )


@dataclass(slots=True)
class _Tracked:
    """One order we know of: ours (with the ibbot Order) or recovered from IB (``order`` None)."""

    order_ref: str
    order_id: int
    result: OrderResult
    order: Order | None = None
    trade: Trade | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def perm_id(self) -> int:
        return self.result.perm_id


class OrderExecutor:
    """Submits, cancels and tracks orders through one :class:`IBConnection`."""

    def __init__(
        self,
        connection: IBConnection,
        requests: IBRequests,
        store: BrokerStore,
        publisher: EventPublisher | None,
        *,
        config: ExecutorConfig | None = None,
    ) -> None:
        self._connection = connection
        self._requests = requests
        self._pacer = requests.pacer
        self._store = store
        self._clock = connection.market_clock  # timestamps
        self._waits = connection.clock  # timeouts
        self._config = config if config is not None else ExecutorConfig()
        self._outbox = Outbox(publisher, name="executor", persist=self._persist)
        self._by_id: dict[int, _Tracked] = {}
        self._by_perm: dict[int, _Tracked] = {}
        # The orders not finished yet (by identity), so that the trader's per-decision questions
        # (what works for this strategy and symbol, how many are open) cost the open orders, not
        # every order of the run.
        self._open: dict[int, _Tracked] = {}
        self._contracts: dict[str, Contract] = {}
        # Executions: published base ids (IB marks corrections by the digits after the last dot),
        # and the ones waiting for their commission report (bounded by IB's fill rate).
        self._seen: set[str] = set()
        self._pending: dict[str, IBFill] = {}
        self._commissions: dict[str, asyncio.Event] = {}
        self._fills: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        self._attached = False
        self._settling = asyncio.Lock()
        self._reconciled_session = 0
        self._tasks: asyncio.TaskGroup | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Track orders and fills until cancelled (start it before submitting)."""
        await self._remember_audited_fills()
        self._attach()
        self._connection.add_session_hook(self._on_session_change, phase=HookPhase.RECONCILE)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._outbox.run(), name="ibbot-executor-outbox")
                tasks.create_task(self._publish_fills(), name="ibbot-executor-fills")
                if self._connection.is_ready and not self._config.readonly:
                    # Executions and orders from before this run (the startup sync fetched them).
                    tasks.create_task(self.reconcile(), name="ibbot-executor-first-reconcile")
        finally:
            self._tasks = None
            self._connection.remove_session_hook(self._on_session_change)
            self._detach()

    async def flush(self) -> None:
        """Wait until queued fills and status events are audited and published."""
        await self._fills.join()
        await self._outbox.flush()

    def _attach(self) -> None:
        ib = self._ib
        ib.orderStatusEvent += self._on_order_status
        ib.execDetailsEvent += self._on_exec_details
        ib.commissionReportEvent += self._on_commission
        ib.updateEvent += self._on_update
        self._attached = True

    def _detach(self) -> None:
        if not self._attached:
            return
        ib = self._ib
        ib.orderStatusEvent -= self._on_order_status
        ib.execDetailsEvent -= self._on_exec_details
        ib.commissionReportEvent -= self._on_commission
        ib.updateEvent -= self._on_update
        self._attached = False

    @property
    def _ib(self) -> IB:
        return self._connection.ib

    # ------------------------------------------------------------------ public API

    async def submit(self, order: Order, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109 - on the injected clock
        """Send ``order`` once; return its state when terminal or after ``timeout`` seconds.

        Refusals before sending come back as BLOCKED results (read-only mode, no connection) or,
        for a live account without consent, raise :class:`LiveTradingRefused`; all are audited.
        """
        if self._config.readonly:
            return await self._blocked(order, "read-only mode: the order was logged, not sent")
        if not self._connection.is_ready:
            return await self._blocked(order, "not connected to IB Gateway: the order was not sent")
        if not self._connection.is_paper and not self._config.allow_live_trading:
            message = (
                "refused: the connected account is not a paper account (DU...) and "
                "ib.allow_live_trading is false"
            )
            await self._blocked(order, message)
            log.error(
                "executor.live_account_refused", order_ref=order.order_ref, symbol=order.symbol
            )
            raise LiveTradingRefused(f"order {order.order_ref} for {order.symbol} {message}")
        try:
            contract = await self._contract(order.symbol)
        except (RequestFailed, TimeoutError) as exc:
            return await self._finish_early(order, OrderStatus.REJECTED, f"cannot trade: {exc}")
        tracked, ib_request = self._track(order)
        # Write-ahead: the audit line is written before the order leaves (into the operating
        # system's hands: it survives ibbot being killed) and fsynced before submit() goes on. The
        # fsync waits for the disk (milliseconds) while the order travels, not before it: a power
        # cut in between leaves the order at IB with its orderRef, which the next run's
        # reconciliation adopts and audits. Nothing from here to placeOrder yields to the loop
        # (unless the pacer must wait), so no worker thread competes with the send for the GIL.
        durable = self._write_ahead(tracked)
        try:
            await self._pacer.message()
            self._place(tracked, contract, ib_request)
        finally:
            if durable is not None:
                await self._synced(tracked, durable)
        return await self._outcome(tracked, timeout)

    def place_now(self, order: Order) -> PlacedOrder | None:
        """Send ``order`` at once, without yielding to the loop; None when :meth:`submit` must.

        The fast path of :meth:`submit` for a caller that decides on the loop: when nothing has to
        be awaited first (connected to a paper account or with consent, not read-only, the
        contract known, a message free in the pacer), the write-ahead line is written and the order
        handed to IB before this returns; :meth:`PlacedOrder.outcome` is the rest of ``submit``.
        Otherwise nothing is written or sent, and the caller submits the order.
        """
        tasks = self._tasks
        if (
            tasks is None
            or self._config.readonly
            or not self._connection.is_ready
            or not (self._connection.is_paper or self._config.allow_live_trading)
        ):
            return None
        contract = self._contracts.get(order.symbol)
        if contract is None or not self._pacer.try_message():
            return None
        tracked, ib_request = self._track(order)
        durable = self._write_ahead(tracked)
        self._place(tracked, contract, ib_request)
        synced = None
        if durable is not None:
            # The fsync belongs to the executor, so it runs whoever awaits the outcome, and when.
            try:
                synced = tasks.create_task(
                    self._synced(tracked, durable), name=f"ibbot-order-sync-{tracked.order_id}"
                )
            except RuntimeError:  # the executor is stopping: the line is written, not fsynced
                durable.close()
        return PlacedOrder(self, tracked, synced)

    def _track(self, order: Order) -> tuple[_Tracked, IBOrder]:
        ib_request = ib_order(order)
        ib_request.orderId = self._connection.next_order_id()
        if self._connection.account:
            ib_request.account = self._connection.account
        tracked = _Tracked(
            order_ref=order.order_ref,
            order_id=ib_request.orderId,
            order=order,
            result=self._result(order, ib_request.orderId, OrderStatus.PENDING, "sending"),
        )
        self._by_id[tracked.order_id] = tracked
        self._open[id(tracked)] = tracked
        return tracked, ib_request

    def _place(self, tracked: _Tracked, contract: Contract, ib_request: IBOrder) -> None:
        order = tracked.order
        assert order is not None  # only our own orders are placed
        try:
            tracked.trade = self._ib.placeOrder(contract, ib_request)
        except ConnectionError as exc:
            # The socket dropped while the order waited for the pacer: ib_async wrote nothing.
            self._set(tracked, self._replace(tracked, OrderStatus.BLOCKED, _NOT_SENT))
            log.warning("executor.not_sent", order_ref=order.order_ref, reason=str(exc))
            return
        log.info(
            "executor.placed",
            order_id=tracked.order_id,
            order_ref=order.order_ref,
            symbol=order.symbol,
            side=order.action.value,
            quantity=order.quantity,
            order_type=order.order_type.value,
        )
        self._update(tracked, tracked.trade)

    async def _outcome(self, tracked: _Tracked, timeout: float | None) -> OrderResult:  # noqa: ASYNC109 - on the injected clock
        await self._wait_terminal(
            tracked, self._config.submit_timeout if timeout is None else timeout
        )
        result = tracked.result
        await self._audit(tracked)
        log.info(
            "executor.submitted",
            order_id=result.order_id,
            perm_id=result.perm_id,
            status=result.status.value,
            filled=result.fill_quantity,
            order_ref=tracked.order_ref,
        )
        return result

    def _refusal(self) -> str | None:
        """Why nothing may be sent now (None: it may)."""
        if self._config.readonly:
            return "read-only mode: the order was logged, not sent"
        if not self._connection.is_ready:
            return "not connected to IB Gateway: the order was not sent"
        if not self._connection.is_paper and not self._config.allow_live_trading:
            return LIVE_REFUSAL
        return None

    async def cancel(self, order_id: int, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - on the injected clock
        """Ask IB to cancel; True once IB confirms it cancelled, False if it could not."""
        tracked = self._by_id.get(order_id)
        if tracked is None or tracked.trade is None or tracked.result.status.is_terminal:
            return False
        if not self._connection.is_ready:
            return False
        await self._pacer.message()
        log.info("executor.cancelling", order_id=order_id, order_ref=tracked.order_ref)
        self._ib.cancelOrder(tracked.trade.order)
        await self._wait_terminal(
            tracked, self._config.submit_timeout if timeout is None else timeout
        )
        if _cancel_refused(tracked.trade):
            # IB refused the cancel (161/10148: too late); ib_async marked the trade Cancelled
            # anyway, so ask IB for the order's real state.
            await self._refresh_orders()
        cancelled = tracked.result.status is OrderStatus.CANCELLED
        await self._audit(tracked)
        return cancelled

    # ------------------------------------------------------------------ brackets (protection)

    async def submit_bracket(
        self,
        bracket: Bracket,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - on the injected clock
    ) -> OrderResult:
        """Send an entry and its protective children as one IB bracket; the entry's result.

        The entry goes first with ``transmit`` false, then each child with the entry as
        ``parentId`` and one OCA group (:func:`~ibbot.broker.conversions.ib_bracket`); only the
        last child transmits, so IB never works a half-built bracket. Each leg gets its own
        write-ahead audit line and ``orderRef`` (``<strategy>:<decision>/<leg>``).
        IB activates the children when the entry fills and holds them whether or not ibbot runs.
        Refusals are those of :meth:`submit`, for every leg.
        """
        entry = bracket.entry
        legs = [order for _, order in bracket.legs]
        refusal = self._refusal()
        if refusal is not None:
            results = [await self._blocked(order, refusal) for order in legs]
            if refusal == LIVE_REFUSAL:
                raise LiveTradingRefused(f"order {entry.order_ref} for {entry.symbol} {refusal}")
            return results[0]
        try:
            contract = await self._contract(entry.symbol)
        except (RequestFailed, TimeoutError) as exc:
            results = [
                await self._finish_early(o, OrderStatus.REJECTED, f"cannot trade: {exc}")
                for o in legs
            ]
            return results[0]
        requests = ib_bracket(bracket, [self._connection.next_order_id() for _ in legs])
        if self._connection.account:
            for request in requests:
                request.account = self._connection.account
        tracked = [
            _Tracked(
                order_ref=order.order_ref,
                order_id=request.orderId,
                order=order,
                result=self._result(order, request.orderId, OrderStatus.PENDING, "sending"),
            )
            for order, request in zip(legs, requests, strict=True)
        ]
        for item in tracked:
            self._by_id[item.order_id] = item
        written = [asyncio.ensure_future(self._audit(item)) for item in tracked]
        try:
            await asyncio.sleep(0)  # the write-ahead lines start ahead of the orders
            for item, request in zip(tracked, requests, strict=True):
                await self._pacer.message()
                log.info(
                    "executor.placing",
                    order_id=item.order_id,
                    order_ref=item.order_ref,
                    symbol=entry.symbol,
                    side=request.action,
                    quantity=request.totalQuantity,
                    order_type=request.orderType,
                    parent_id=request.parentId,
                    transmit=request.transmit,
                )
                item.trade = self._ib.placeOrder(contract, request)
                self._update(item, item.trade)
        finally:
            await asyncio.gather(*written)
        head = tracked[0]
        await self._wait_terminal(head, self._config.submit_timeout if timeout is None else timeout)
        for item in tracked:
            await self._audit(item)
        log.info(
            "executor.bracket_submitted",
            order_id=head.order_id,
            status=head.result.status.value,
            children=[item.order_id for item in tracked[1:]],
            order_ref=entry.order_ref,
        )
        return head.result

    async def modify_stop(self, order_id: int, stop_price: float) -> bool:
        """Move a working stop (a protective stop-loss) to ``stop_price`` with IB's modify: the same
        order re-sent under its own id. True once sent; False when the order is not working here
        or the connection is down."""
        tracked = self._by_id.get(order_id)
        if tracked is None or tracked.trade is None or tracked.result.status.is_terminal:
            return False
        if not self._connection.is_ready or self._config.readonly:
            return False
        trade = tracked.trade
        if trade.order.orderType not in (OrderType.STOP.value, OrderType.STOP_LIMIT.value):
            return False
        trade.order.auxPrice = stop_price
        trade.order.transmit = True
        if tracked.order is not None:
            tracked.order = dataclasses.replace(tracked.order, stop_price=stop_price)
        await self._pacer.message()
        log.info(
            "executor.modifying", order_id=order_id, order_ref=tracked.order_ref, stop=stop_price
        )
        self._ib.placeOrder(trade.contract, trade.order)
        await self._store_quietly(
            AUDIT_ORDERS,
            {
                "order_ref": tracked.order_ref,
                **to_dict(tracked.result),
                "modified": {"stop_price": stop_price},
            },
            strategy=tracked.result.strategy_name or None,
            symbol=tracked.result.symbol or None,
        )
        return True

    def working_stop(self, order_id: int) -> float | None:
        """The stop price a working stop order has at IB now (None: not a working stop here)."""
        tracked = self._by_id.get(order_id)
        if tracked is None or tracked.result.status.is_terminal:
            return None
        if tracked.trade is not None:
            order = tracked.trade.order
            stop = order.auxPrice
            if order.orderType in (OrderType.STOP.value, OrderType.STOP_LIMIT.value) and stop:
                return float(stop)
            return None
        if tracked.order is not None:
            return tracked.order.stop_price
        return None

    def get_order_status(self, order_id: int) -> OrderResult:
        """The last state IB reported for the order ``submit`` returned ``order_id`` for."""
        tracked = self._by_id.get(order_id)
        if tracked is None:
            raise BrokerError(f"no order with id {order_id} was submitted through this executor")
        return tracked.result

    def open_orders(self) -> list[OrderResult]:
        """Every known order that is not finished yet."""
        return [
            t.result
            for t in self._open.values()
            if not t.result.status.is_terminal and self._reachable(t)
        ]

    def _reachable(self, tracked: _Tracked) -> bool:
        """True while ``tracked`` is the order known under its order id or its permId."""
        if self._by_id.get(tracked.order_id) is tracked:
            return True
        return bool(tracked.perm_id) and self._by_perm.get(tracked.perm_id) is tracked

    @property
    def reconciled_session(self) -> int:
        """The connection session whose executions the last complete :meth:`reconcile` queued
        (0: none yet). The book describes IB's positions only once it has booked them."""
        return self._reconciled_session

    # ------------------------------------------------------------------ reconciliation

    async def _on_session_change(self, change: SessionChange) -> None:
        if not self._config.readonly:
            await self.reconcile()

    async def reconcile(self) -> None:
        """Bring every order and fill in line with what IB reports now.

        Open and completed orders were fetched by the (re)connect's startup sync; executions are
        asked for again here. Nothing is ever re-sent.
        """
        session = self._connection.session
        await self._pacer.message()
        try:
            fills: list[IBFill] = await within(
                self._waits, self._requests.policy.timeout, self._ib.reqExecutionsAsync()
            )
        except (TimeoutError, ConnectionError) as exc:
            # The next session's reconciliation asks again.
            log.warning("executor.reconcile_failed", error=str(exc) or type(exc).__name__)
            return
        # ib_async hands out a fresh Fill (without commission) for an execution it already knew
        # from the connect's startup sync, and attaches the commission report that came with the
        # answer to the Fill it knew: take that one.
        known = {f.execution.execId: f for f in self._ib.fills()}
        for fill in fills:
            self._queue_fill(known.get(fill.execution.execId, fill), live=False)
        trades = self._ib.trades()
        found = lost = 0
        for tracked in list(self._tracked()):
            if tracked.result.status.is_terminal:
                continue
            if tracked.trade is None:
                # submit() has it between its write-ahead line and placeOrder (waiting for the
                # pacer): in flight, not lost. submit() sends it on this connection.
                continue
            trade = self._match(tracked, trades)
            if trade is None:
                lost += 1
                self._set(
                    tracked,
                    self._replace(
                        tracked,
                        OrderStatus.REJECTED,
                        "IB has no record of this order after reconnecting: it never reached IB "
                        "(ibbot does not re-send orders)",
                    ),
                )
                continue
            found += 1
            tracked.trade = trade
            self._update(tracked, trade)
        for trade in trades:  # orders of earlier runs that IB still works or finished today
            if self._known(trade) is None and _is_ours(trade):
                self._adopt(trade)
        at_ib = {t.order.orderRef for t in trades} | {f.execution.orderRef for f in fills}
        unconfirmed = await self._settle_earlier_runs(at_ib)
        if self._connection.in_session(session):
            self._reconciled_session = session
        log.info(
            "executor.reconciled",
            session=session,
            executions=len(fills),
            orders_found=found,
            orders_lost=lost,
            unconfirmed=unconfirmed,
        )
        await self._store_quietly(
            AUDIT_RECONCILIATION,
            {
                "at": self._clock.now().isoformat(),
                "executions": len(fills),
                "orders_found": found,
                "orders_lost": lost,
                "unconfirmed": unconfirmed,
                "session": self._connection.session,
            },
        )

    async def _settle_earlier_runs(self, at_ib: set[str]) -> int:
        """Audit as unconfirmed the orders an earlier run left unfinished that IB does not know.

        An audited order whose last status is not terminal, that this run does not track (adopted
        orders are tracked) and whose ``orderRef`` no IB order or execution carries never reached
        IB, finished on an earlier day or works under another client id: it gets a terminal audit
        line saying so and is never re-sent. Returns how many were settled.
        """
        async with self._settling:
            since = self._clock.now() - self._config.fill_memory
            try:
                entries = await self._store.read_audit(AUDIT_ORDERS, since=since)
            except IbbotError as exc:
                log.exception("executor.orders_unreadable", error=str(exc))
                return 0
            last: dict[str, dict[str, Any]] = {}
            for entry in entries:
                ref = entry.record.get("order_ref")
                result = entry.record.get("result", entry.record)
                if isinstance(ref, str) and ref and isinstance(result, dict):
                    last[ref] = result
            mine = {t.order_ref for t in self._tracked()}
            settled = 0
            for ref, result in last.items():
                if ref in mine or ref in at_ib or _terminal(result.get("status")):
                    continue
                strategy = parse_order_ref(ref)[0]
                log.warning(
                    "executor.unconfirmed_order",
                    order_ref=ref,
                    symbol=result.get("symbol"),
                    last_status=result.get("status"),
                    detail="IB lists no such order or execution: not re-sent",
                )
                await self._store_quietly(
                    AUDIT_ORDERS,
                    {
                        "order_ref": ref,
                        **result,
                        "status": OrderStatus.REJECTED.value,
                        "message": UNCONFIRMED_MESSAGE,
                    },
                    strategy=strategy or None,
                    symbol=result.get("symbol") or None,
                )
                settled += 1
            return settled

    def _match(self, tracked: _Tracked, trades: list[Trade]) -> Trade | None:
        for trade in trades:
            if tracked.perm_id and trade.order.permId == tracked.perm_id:
                return trade
        for trade in trades:
            same_id = trade.order.orderId == tracked.order_id
            same_client = trade.order.clientId in (0, self._connection.config.client_id)
            if same_id and same_client and trade.order.orderRef == tracked.order_ref:
                return trade
        return None

    def _adopt(self, trade: Trade) -> None:
        strategy, decision_id = parse_order_ref(trade.order.orderRef)
        result = order_result(trade, now=self._clock.now())
        tracked = _Tracked(
            order_ref=trade.order.orderRef, order_id=trade.order.orderId, result=result, trade=trade
        )
        self._by_id.setdefault(tracked.order_id, tracked)
        if not result.status.is_terminal:
            self._open[id(tracked)] = tracked
        if result.perm_id:
            self._by_perm[result.perm_id] = tracked
        log.info(
            "executor.adopted",
            order_id=tracked.order_id,
            perm_id=result.perm_id,
            status=result.status.value,
            strategy=strategy,
            decision_id=decision_id,
        )
        self._publish_status(tracked)

    async def _refresh_orders(self) -> None:
        await self._pacer.message()
        try:
            await within(self._waits, self._requests.policy.timeout, self._ib.reqOpenOrdersAsync())
        except (TimeoutError, ConnectionError) as exc:
            log.warning("executor.refresh_failed", error=str(exc) or type(exc).__name__)

    # ------------------------------------------------------------------ ib_async callbacks (sync)

    def _on_order_status(self, trade: Trade) -> None:
        tracked = self._known(trade)
        if tracked is None:
            if _is_ours(trade):
                self._adopt(trade)
            return
        tracked.trade = trade
        self._update(tracked, trade)

    def _on_exec_details(self, trade: Trade, fill: IBFill) -> None:
        self._queue_fill(fill, live=True)

    def _on_commission(self, trade: Trade, fill: IBFill, report: CommissionReport) -> None:
        waiting = self._commissions.get(report.execId)
        if waiting is not None:
            waiting.set()

    def _on_update(self) -> None:
        # Commission reports of executions fetched by reqExecutions update the Fill in place
        # without an event when ib_async has no trade for them; notice them here.
        for exec_id, waiting in self._commissions.items():
            pending = self._pending.get(exec_id)
            if pending is not None and pending.commissionReport.execId and not waiting.is_set():
                waiting.set()

    # ------------------------------------------------------------------ order state

    def _known(self, trade: Trade) -> _Tracked | None:
        perm_id = trade.orderStatus.permId or trade.order.permId
        if perm_id and perm_id in self._by_perm:
            return self._by_perm[perm_id]
        tracked = self._by_id.get(trade.order.orderId)
        if tracked is not None and trade.order.orderRef in ("", tracked.order_ref):
            return tracked
        return None

    def _tracked(self) -> list[_Tracked]:
        unique = {id(t): t for t in (*self._by_id.values(), *self._by_perm.values())}
        return list(unique.values())

    def _update(self, tracked: _Tracked, trade: Trade) -> None:
        result = order_result(trade, now=self._clock.now())
        if tracked.order is not None:
            result = _with_order(result, tracked.order)
        if result.perm_id and result.perm_id not in self._by_perm:
            self._by_perm[result.perm_id] = tracked
        self._set(tracked, result)

    def _set(self, tracked: _Tracked, result: OrderResult) -> None:
        before = tracked.result
        tracked.result = result
        if result.status.is_terminal:
            self._open.pop(id(tracked), None)
        else:  # again, when IB reports as working an order a reconcile had given up on
            self._open[id(tracked)] = tracked
        if _same_state(before, result):
            return
        tracked.changed.set()
        log.info(
            "executor.order_status",
            order_id=result.order_id,
            perm_id=result.perm_id,
            status=result.status.value,
            filled=result.fill_quantity,
            message=result.message,
            strategy=result.strategy_name,
        )
        self._publish_status(tracked)

    def _publish_status(self, tracked: _Tracked) -> None:
        result = tracked.result
        self._outbox.put(
            Event(
                EventType.ORDER_STATUS,
                result.symbol or None,
                result.timestamp,
                result,
                source="ib",
                ingested_at=self._clock.now(),
            )
        )

    async def _wait_terminal(self, tracked: _Tracked, seconds: float) -> None:
        deadline = self._waits.monotonic() + seconds
        while not tracked.result.status.is_terminal:
            left = deadline - self._waits.monotonic()
            if left <= 0:
                return
            tracked.changed.clear()
            await wait_event(self._waits, tracked.changed, left)

    def _result(
        self, order: Order, order_id: int, status: OrderStatus, message: str | None
    ) -> OrderResult:
        return OrderResult(
            order_id=order_id,
            status=status,
            message=message,
            fill_quantity=0.0,
            remaining=float(order.quantity),
            symbol=order.symbol,
            strategy_name=order.strategy_name,
            decision_id=order.decision_id,
            timestamp=self._clock.now(),
        )

    def _replace(self, tracked: _Tracked, status: OrderStatus, message: str) -> OrderResult:
        current = tracked.result
        return OrderResult(
            order_id=current.order_id,
            status=status,
            fill_price=current.fill_price,
            fill_quantity=current.fill_quantity,
            message=message,
            perm_id=current.perm_id,
            remaining=current.remaining,
            commission=current.commission,
            symbol=current.symbol,
            strategy_name=current.strategy_name,
            decision_id=current.decision_id,
            timestamp=self._clock.now(),
        )

    async def _blocked(self, order: Order, message: str) -> OrderResult:
        return await self._finish_early(order, OrderStatus.BLOCKED, message)

    async def _finish_early(self, order: Order, status: OrderStatus, message: str) -> OrderResult:
        result = self._result(order, 0, status, message)
        log.warning(
            "executor.not_sent",
            order_ref=order.order_ref,
            symbol=order.symbol,
            status=status.value,
            reason=message,
        )
        try:
            await self._store.log_order(order.strategy_name, order, result)
        except IbbotError as exc:
            log.exception("executor.audit_failed", order_ref=order.order_ref, error=str(exc))
        return result

    async def _contract(self, symbol: str) -> Contract:
        contract = self._contracts.get(symbol)
        if contract is not None:
            return contract
        info = None
        try:
            info = await self._store.read_contract(symbol)
        except IbbotError as exc:
            log.warning("executor.contract_unreadable", symbol=symbol, error=str(exc))
        if info is None:
            info = await self._requests.qualify(symbol)
            try:
                await self._store.write_contract(info)
            except IbbotError as exc:
                log.warning("executor.contract_not_stored", symbol=symbol, error=str(exc))
        contract = contract_for(info)
        self._contracts[symbol] = contract
        return contract

    # ------------------------------------------------------------------ fills

    def _queue_fill(self, fill: IBFill, *, live: bool) -> None:
        """Queue one execution for publishing, once per execution id.

        A live execution's commission report follows it on the wire; an execution fetched by
        reqExecutions came with its report already (IB sends each right after its execDetails,
        before execDetailsEnd), so there is nothing to wait for.
        """
        exec_id = fill.execution.execId
        base = _execution_base(exec_id)
        if not exec_id or exec_id in self._pending:
            return
        if base in self._seen:
            if exec_id not in self._seen:
                log.warning(
                    "executor.execution_correction",
                    exec_id=exec_id,
                    note="IB corrected an execution already recorded; not published twice",
                )
                self._seen.add(exec_id)
            return
        if self._fills.full():
            log.error("executor.fill_queue_full", exec_id=exec_id, queued=self._fills.qsize())
            return
        self._pending[exec_id] = fill
        self._commissions[exec_id] = asyncio.Event()
        if not live:
            self._commissions[exec_id].set()
        self._fills.put_nowait(exec_id)

    async def _publish_fills(self) -> None:
        while True:
            exec_id = await self._fills.get()
            try:
                await self._publish_fill(exec_id)
            finally:
                self._fills.task_done()

    async def _publish_fill(self, exec_id: str) -> None:
        waiting = self._commissions[exec_id]
        ib_fill = self._pending[exec_id]
        if not ib_fill.commissionReport.execId:
            await wait_event(self._waits, waiting, self._config.commission_wait)
        self._commissions.pop(exec_id, None)
        self._pending.pop(exec_id, None)
        try:
            fill = fill_from_ib(ib_fill)
        except ValueError as exc:
            log.exception("executor.fill_unreadable", exec_id=exec_id, error=str(exc))
            return
        base = _execution_base(exec_id)
        if base in self._seen:
            return
        # Audit first: the audit log is what makes the fill count once across runs.
        await self._store_quietly(
            AUDIT_FILLS, to_dict(fill), strategy=fill.strategy_name or None, symbol=fill.symbol
        )
        self._seen.update((base, exec_id))
        log.info(
            "executor.fill",
            exec_id=exec_id,
            perm_id=fill.perm_id,
            symbol=fill.symbol,
            side=fill.side.value,
            quantity=fill.quantity,
            price=fill.price,
            commission=fill.commission,
            strategy=fill.strategy_name,
        )
        self._outbox.put(
            Event(
                EventType.FILL,
                fill.symbol,
                fill.timestamp,
                fill,
                source="ib",
                ingested_at=self._clock.now(),
            )
        )
        tracked = self._by_perm.get(fill.perm_id)
        if tracked is not None and tracked.trade is not None:
            self._update(tracked, tracked.trade)

    async def _remember_audited_fills(self) -> None:
        since = self._clock.now() - self._config.fill_memory
        try:
            entries = await self._store.read_audit(AUDIT_FILLS, since=since)
        except IbbotError as exc:
            log.exception("executor.fills_unreadable", error=str(exc))
            return
        for entry in entries:
            exec_id = entry.record.get("exec_id")
            if isinstance(exec_id, str) and exec_id:
                self._seen.update((exec_id, _execution_base(exec_id)))
        log.info("executor.fills_remembered", count=len(entries))

    # ------------------------------------------------------------------ audit

    async def _audit(self, tracked: _Tracked) -> None:
        result = tracked.result
        try:
            if tracked.order is not None:
                await self._store.log_order(tracked.order.strategy_name, tracked.order, result)
            else:
                await self._store.log_audit(
                    AUDIT_ORDERS,
                    {"order_ref": tracked.order_ref, **to_dict(result)},
                    strategy=result.strategy_name or None,
                    symbol=result.symbol or None,
                )
        except IbbotError as exc:
            log.exception("executor.audit_failed", order_id=result.order_id, error=str(exc))

    def _write_ahead(self, tracked: _Tracked) -> Coroutine[Any, Any, None] | None:
        """Write ``tracked``'s audit line now; the fsync to await, or None if the write failed."""
        order = tracked.order
        assert order is not None  # only submit() writes ahead, for its own order
        try:
            return self._store.log_order_ahead(order.strategy_name, order, tracked.result)
        except IbbotError as exc:
            log.exception("executor.audit_failed", order_id=tracked.order_id, error=str(exc))
            return None

    async def _synced(self, tracked: _Tracked, sync: Coroutine[Any, Any, None]) -> None:
        try:
            await sync
        except Exception as exc:  # an audit failure never stops the order's tracking
            log.exception("executor.audit_failed", order_id=tracked.order_id, error=str(exc))

    async def _persist(self, event: Event) -> None:
        if isinstance(event.payload, OrderResult):
            result = event.payload
            tracked = self._by_perm.get(result.perm_id) or self._by_id.get(result.order_id)
            if tracked is not None:
                await self._audit(tracked)

    async def _store_quietly(
        self,
        kind: str,
        record: dict[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        try:
            await self._store.log_audit(kind, record, strategy=strategy, symbol=symbol)
        except IbbotError as exc:
            log.exception("executor.audit_failed", kind=kind, error=str(exc))


class PlacedOrder:
    """An order :meth:`OrderExecutor.place_now` handed to IB: await :meth:`outcome` for the rest."""

    __slots__ = ("_executor", "_synced", "_tracked")

    def __init__(
        self, executor: OrderExecutor, tracked: _Tracked, synced: asyncio.Task[None] | None
    ) -> None:
        self._executor = executor
        self._tracked = tracked
        self._synced = synced

    async def outcome(self, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109 - on the injected clock
        """What :meth:`OrderExecutor.submit` returns: the order's state when terminal or after
        ``timeout`` seconds, once its write-ahead line is durable."""
        if self._synced is not None:
            await asyncio.wait([self._synced])  # cancelling the caller leaves the fsync running
        return await self._executor._outcome(self._tracked, timeout)


def _execution_base(exec_id: str) -> str:
    """IB's execution id without the correction suffix ("...01.02" corrects "...01.01")."""
    return exec_id.rpartition(".")[0] or exec_id


def _terminal(status: object) -> bool:
    """True for a terminal status value; unknown values count as terminal (nothing to settle)."""
    try:
        return OrderStatus(str(status)).is_terminal
    except ValueError:
        return True


def _is_ours(trade: Trade) -> bool:
    """An order placed by an ibbot strategy: its orderRef is "<strategy>:<decision id>"."""
    _, decision_id = parse_order_ref(trade.order.orderRef)
    return bool(decision_id)


def _cancel_refused(trade: Trade) -> bool:
    return bool(trade.log) and trade.log[-1].errorCode in CANCEL_REFUSED


def _same_state(a: OrderResult, b: OrderResult) -> bool:
    return (a.status, a.fill_quantity, a.fill_price, a.perm_id, a.message, a.commission) == (
        b.status,
        b.fill_quantity,
        b.fill_price,
        b.perm_id,
        b.message,
        b.commission,
    )


def _with_order(result: OrderResult, order: Order) -> OrderResult:
    """Make sure the attribution comes from our Order even if IB echoed no orderRef."""
    if result.strategy_name == order.strategy_name and result.symbol == order.symbol:
        return result
    return OrderResult(
        order_id=result.order_id,
        status=result.status,
        fill_price=result.fill_price,
        fill_quantity=result.fill_quantity,
        message=result.message,
        perm_id=result.perm_id,
        remaining=result.remaining,
        commission=result.commission,
        symbol=order.symbol,
        strategy_name=order.strategy_name,
        decision_id=order.decision_id,
        timestamp=result.timestamp,
    )
