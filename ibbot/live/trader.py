"""The live trading desk: decisions in, orders out through the executor, fills into the position book.

Each decision is planned exactly as the backtest plans it (:func:`~ibbot.trading.plan_trade`:
sizing against the strategy's capital, its position in the book and its working orders, then the
risk gate, kill switch included) and audited with its outcome: ``sent``, ``blocked`` (with the
rule, also in ``audit/risk/``), ``no_order`` or ``not_traded`` (history, a stale bar, or the trader
stopping). A planned order is submitted in a task of the trader's own group, so a slow fill never
holds up the next decision.

Decisions are handled one at a time, in the order they came. When the trader is idle (no decision
queued or being handled), a decision is planned at once in the caller's task (the strategy's), and
an executor that can (:meth:`~ibbot.broker.OrderExecutor.place_now`) hands its order to IB before
``accept`` returns, sparing the order two hops through the event loop; what follows (the audit,
the ``decision`` event) is queued for the trader's task like any decision, so the next decision is
planned after it, as it would be had it been queued.

Working orders (:class:`~ibbot.trading.WorkingOrders`) are the other half of the holding: an order
works from the moment it is planned until every share it filled is in the book, not until its
status is terminal, since IB's "Filled" status and the execution come apart and the fill reaches
the book only once it is audited. A decision taken in between (a burst of catch-up bars after a
1101, say) is sized against the book and these orders, so it never sells the same shares twice
nor buys twice.

Fills and order statuses come from the bus (``FILL`` and ``ORDER_STATUS`` events, attributed by
``orderRef``): fills move the book, both settle the working orders. The kill switch is watched
once a second (a file has nothing to await): when it engages, open orders are cancelled if the
settings say so. Reconciliation compares the book with the broker's positions on start, after
every reconnect and periodically; symbols with a working order are left for the next round, since
a fill may be on its way.

Overflow policy of the decision queue: 1,000 decisions, BLOCK (the strategy's consumer waits: a
decision is never dropped); the fill queue holds 10,000 fills and statuses, BLOCK.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import structlog

from ibbot.errors import IbbotError, LiveTradingRefused, RequestFailed
from ibbot.models import (
    Action,
    Event,
    EventType,
    Fill,
    Order,
    OrderLeg,
    OrderResult,
    OrderSide,
    Position,
    split_leg,
    to_dict,
)
from ibbot.store import AuditKind
from ibbot.trading import (
    UNATTRIBUTED,
    DecisionOutcome,
    PositionBook,
    ReconciliationPolicy,
    RiskGate,
    TradePlan,
    WorkingOrders,
    plan_trade,
)
from ibbot.trading.brackets import wanted_stop
from ibbot.trading.sizing import SizingSkip
from ibbot.trading.working import protective_group

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from ibbot.clock import Clock
    from ibbot.live.lifecycle import LifecycleLog
    from ibbot.models import Bracket, Decision
    from ibbot.store import AsyncStore
    from ibbot.strategies import Strategy
    from ibbot.trading import Mismatch

__all__ = ["LiveTrader", "OrderPlacer", "OrderPort", "Placed", "PositionsPort", "TraderStats"]

log = structlog.get_logger(__name__)

DECISION_QUEUE: Final = 1_000
FILL_QUEUE: Final = 10_000
KILL_SWITCH_CHECK: Final = 1.0


class OrderPort(Protocol):
    """What the trader needs of the executor (:class:`~ibbot.broker.OrderExecutor` is one)."""

    async def submit(self, order: Order, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109 - the executor's own signature
        """Send ``order`` once; its state when terminal or after the timeout."""
        ...

    async def cancel(self, order_id: int, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the executor's own signature
        """Ask the broker to cancel; True once it confirms."""
        ...

    async def submit_bracket(
        self,
        bracket: Bracket,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the executor's own signature
    ) -> OrderResult:
        """Send an entry and its protective children as one bracket; the entry's state."""
        ...

    async def modify_stop(self, order_id: int, stop_price: float) -> bool:
        """Move a working stop with the broker's modify; True once sent."""
        ...

    def working_stop(self, order_id: int) -> float | None:
        """A working stop order's stop price (None: not a working stop)."""
        ...

    def get_order_status(self, order_id: int) -> OrderResult:
        """The last state the broker reported for an order."""
        ...

    def open_orders(self) -> list[OrderResult]:
        """Every known order not finished yet."""
        ...

    async def flush(self) -> None:
        """Wait until every fill and status reported so far is audited and published."""
        ...


class Placed(Protocol):
    """An order already handed to the broker (:class:`~ibbot.broker.PlacedOrder` is one)."""

    async def outcome(self, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109 - the executor's own signature
        """What :meth:`OrderPort.submit` returns for it."""
        ...


@runtime_checkable
class OrderPlacer(Protocol):
    """An order port that can also send an order without yielding to the loop."""

    def place_now(self, order: Order) -> Placed | None:
        """Send ``order`` now and return it, or None (nothing sent) when ``submit`` must."""
        ...


class PositionsPort(Protocol):
    """Where the broker's positions come from (:class:`~ibbot.broker.IBRequests` is one)."""

    async def positions(self) -> list[Position]:
        """The account's positions now."""
        ...


@dataclass(slots=True)
class TraderStats:
    """Counters for the summary line."""

    decisions: int = 0
    sent: int = 0
    blocked: int = 0
    not_traded: int = 0
    fills: int = 0
    mismatches: int = 0


class LiveTrader:
    """Plans, audits and submits decisions; books fills; watches the kill switch; reconciles.

    ``price`` gives the freshest known price of a symbol; ``clock`` is the market clock (decision
    times, the trading day of the loss limit); ``wall`` paces the kill-switch check. ``publish``
    (the bus) receives every handled decision as a ``decision`` event whose payload maps
    ``decision``, ``outcome``, ``detail``, ``rule`` (of a block), ``order_ref`` and
    ``decided_at`` (``wall.monotonic()`` when the trader took it up: the start of the metrics'
    decision-to-ack and decision-to-fill latencies). ``fills``
    takes the bus's ``FILL`` and ``ORDER_STATUS`` events.
    """

    def __init__(
        self,
        *,
        store: AsyncStore,
        orders: OrderPort,
        positions: PositionsPort,
        book: PositionBook,
        gate: RiskGate,
        price: Callable[[str], float | None],
        clock: Clock,
        wall: Clock,
        lifecycle: LifecycleLog,
        publish: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._orders = orders
        self._positions = positions
        self.book = book
        self.gate = gate
        self._price = price
        self._clock = clock
        self._wall = wall
        self._lifecycle = lifecycle
        self._publish = publish
        self.fills: asyncio.Queue[Event] = asyncio.Queue(FILL_QUEUE)
        # A decision, with its plan when it was planned on arrival (only its audit is left then).
        # With when the trader took it up (wall.monotonic(): where the metrics' latencies start).
        self._decisions: asyncio.Queue[tuple[Strategy, Decision, TradePlan | None, float]] = (
            asyncio.Queue(DECISION_QUEUE)
        )
        self._deciding = False
        self._placer = orders if isinstance(orders, OrderPlacer) else None
        self._in_flight: dict[str, Order] = {}
        self.working = WorkingOrders()
        self._sending: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Event()
        self._settled.set()
        self._tasks: asyncio.TaskGroup | None = None
        self._accepting = True
        self._kill_engaged = False
        self._reconciling = asyncio.Lock()
        self.stats = TraderStats()

    # --- intake -----------------------------------------------------------------------------------

    async def accept(
        self, strategy: Strategy, decisions: list[Decision], *, untraded: str | None
    ) -> None:
        """Queue ``decisions`` for trading, or record them as not traded with the reason given."""
        for decision in decisions:
            if untraded is not None:
                await self._record_untraded(strategy, decision, untraded)
            elif not self._accepting:
                await self._record_untraded(
                    strategy, decision, "ibbot is shutting down: no new orders"
                )
            elif self._idle():
                self._decide_now(strategy, decision)
            else:
                await self._decisions.put((strategy, decision, None, self._wall.monotonic()))

    def close_intake(self) -> None:
        """Stop trading new decisions (the first phase of a shutdown): they are recorded only."""
        self._accepting = False

    # --- running ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Trade decisions, book fills and watch the kill switch until cancelled."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._trade(), name="ibbot-trader-decisions")
                tasks.create_task(self._book_fills(), name="ibbot-trader-fills")
                tasks.create_task(self._watch_kill_switch(), name="ibbot-trader-kill-switch")
        finally:
            self._tasks = None

    async def _trade(self) -> None:
        while True:
            strategy, decision, plan, decided_at = await self._decisions.get()
            self._deciding = True
            try:
                if plan is None:
                    await self._decide(strategy, decision, decided_at)
                else:
                    await self._conclude(plan, decided_at)
            finally:
                self._deciding = False
                self._decisions.task_done()

    def _idle(self) -> bool:
        """True when a decision may be handled now: the trader runs, nothing is queued or handled."""
        return self._tasks is not None and not self._deciding and self._decisions.empty()

    def _decide_now(self, strategy: Strategy, decision: Decision) -> None:
        """Plan ``decision`` and send its order in the caller's task; queue the rest.

        A decision on a position with protective children at work goes to the trader's task
        instead: cancelling them (before a sale) or moving a stop must be awaited first.
        """
        decided_at = self._wall.monotonic()
        try:
            open_orders = self._open_orders()
            if _protective(open_orders, strategy.name, decision.symbol):
                self._decisions.put_nowait((strategy, decision, None, decided_at))
                return
            plan = self._plan(strategy, decision, open_orders)
        except Exception:  # noqa: BLE001 - the trader's task plans it again and fails as it would
            self._decisions.put_nowait((strategy, decision, None, decided_at))
            return
        order = plan.order
        try:
            if plan.outcome is DecisionOutcome.SENT and order is not None:
                self._send(order, plan.bracket)
        finally:
            self._decisions.put_nowait((strategy, decision, plan, decided_at))

    def _open_orders(self) -> list[OrderResult]:
        """The executor's open orders; an order of an earlier run joins the working ones here."""
        open_orders = self._orders.open_orders()
        for result in open_orders:
            self.working.still_open(result)
        return open_orders

    def _plan(
        self, strategy: Strategy, decision: Decision, open_orders: list[OrderResult]
    ) -> TradePlan:
        name = strategy.name
        plan = plan_trade(
            decision,
            strategy_name=name,
            allocated_capital=strategy.allocated_capital,
            book=self.book,
            gate=self.gate,
            price=self._price(decision.symbol),
            open_orders=self._count_open(open_orders),
            now=self._clock.now(),
            working=self.working.exposure(name, decision.symbol),
        )
        self.stats.decisions += 1
        return plan

    async def _decide(self, strategy: Strategy, decision: Decision, decided_at: float) -> None:
        if not self._accepting:
            await self._record_untraded(strategy, decision, "ibbot is shutting down: no new orders")
            return
        open_orders = self._open_orders()
        children = _protective(open_orders, strategy.name, decision.symbol)
        if children and self._sells(strategy, decision, open_orders):
            await self._release(children, decision)
            open_orders = self._orders.open_orders()
        plan = self._plan(strategy, decision, open_orders)
        order = plan.order
        if children and plan.sizing.skip is SizingSkip.AT_TARGET:
            await self._move_stops(plan.decision, children)
        if plan.outcome is DecisionOutcome.SENT and order is not None:
            self._send(order, plan.bracket)
            # Let the order go first: its audit-ahead write is on the way to the wire, this
            # decision's audit line is not (both are fsynced, and the disk serves one at a time).
            await asyncio.sleep(0)
        await self._conclude(plan, decided_at)

    async def _conclude(self, plan: TradePlan, decided_at: float) -> None:
        """Log, audit and announce a planned decision (its order, if any, is on its way)."""
        decision = plan.decision
        order = plan.order
        log.info(
            "trade.decision",
            strategy=decision.strategy_name,
            symbol=decision.symbol,
            action=decision.action.value,
            outcome=plan.outcome.value,
            reasoning=decision.reasoning,
            detail=plan.reason,
        )
        await self._audit_decision(plan, plan.outcome, plan.reason)
        if plan.outcome is DecisionOutcome.BLOCKED and order is not None:
            await self._blocked(plan, order)
        verdict = plan.verdict
        await self._announce(
            plan.decision,
            plan.outcome,
            plan.reason,
            rule=verdict.rule.value if verdict is not None and verdict.rule is not None else None,
            order_ref=order.order_ref if order is not None else None,
            decided_at=decided_at,
        )

    def _sells(
        self, strategy: Strategy, decision: Decision, open_orders: list[OrderResult]
    ) -> bool:
        """True when the decision closes or reduces the holding (sized as if no protective child
        worked): then the children must go first, or a stop and the sale could both sell."""
        if decision.action is Action.EXIT:
            return True
        dry = plan_trade(
            decision,
            strategy_name=strategy.name,
            allocated_capital=strategy.allocated_capital,
            book=self.book,
            gate=self.gate,
            price=self._price(decision.symbol),
            open_orders=self._count_open(open_orders),
            now=self._clock.now(),
            working=self.working.exposure(strategy.name, decision.symbol, protective=False),
        )
        return dry.order is not None and dry.order.action is OrderSide.SELL

    async def _release(self, children: list[OrderResult], decision: Decision) -> None:
        """Cancel a position's protective children before it is sold; each one's final state (a
        stop IB filled first stays a sale until its fill is booked) goes into the working orders."""
        for child in children:
            confirmed = False
            failure = ""
            try:
                confirmed = await self._orders.cancel(child.order_id)
                self.working.status(self._orders.get_order_status(child.order_id))
            except IbbotError as exc:
                failure = str(exc)
            if failure:
                log.error("trade.protection_not_released", order_id=child.order_id, error=failure)
            log.info(
                "trade.protection_released" if confirmed else "trade.protection_not_cancelled",
                order_id=child.order_id,
                strategy=child.strategy_name,
                symbol=child.symbol,
                decision=decision.decision_id,
            )

    async def _move_stops(self, decision: Decision, children: list[OrderResult]) -> None:
        """A decision at its target whose protection names a higher stop-loss raises the working
        stop with IB's modify (a protective stop only ever moves up)."""
        protection = decision.protection
        if protection is None:
            return
        wanted = wanted_stop(self.book, decision)
        if wanted is None:
            return
        for child in children:
            if split_leg(child.decision_id)[1] is not OrderLeg.STOP_LOSS:
                continue
            current = self._orders.working_stop(child.order_id)
            if current is None or wanted <= current:
                continue
            moved = False
            failure = ""
            try:
                moved = await self._orders.modify_stop(child.order_id, wanted)
            except IbbotError as exc:
                failure = str(exc)
            if failure:
                log.error("trade.stop_not_moved", order_id=child.order_id, error=failure)
            log.info(
                "trade.stop_moved" if moved else "trade.stop_not_moved",
                order_id=child.order_id,
                symbol=decision.symbol,
                stop=current,
                to=wanted,
            )

    def _send(self, order: Order, bracket: Bracket | None = None) -> None:
        assert self._tasks is not None
        self._in_flight[order.decision_id] = order
        for _, leg in bracket.legs if bracket is not None else ((OrderLeg.ENTRY, order),):
            self.working.sent(leg)
        self._settled.clear()
        self.stats.sent += 1
        placed: Placed | Exception | None = None
        if (
            self._placer is not None and bracket is None
        ):  # a bracket goes out through submit_bracket
            try:
                placed = self._placer.place_now(order)
            except Exception as exc:  # noqa: BLE001 - reported by the order's task, as from submit
                placed = exc
        task = self._tasks.create_task(
            self._submit(order, bracket, placed), name=f"ibbot-order-{order.order_ref}"
        )
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not self._sending:
            self._settled.set()

    async def _submit(
        self, order: Order, bracket: Bracket | None, placed: Placed | Exception | None
    ) -> None:
        result: OrderResult | None = None
        failure = ""
        try:
            if bracket is None:
                result = await self._outcome(order, placed)
            else:
                result = await self._orders.submit_bracket(bracket)
        except LiveTradingRefused as exc:
            failure = f"refused: {exc}"
        except IbbotError as exc:
            failure = str(exc)
        except Exception:  # one order's bug must not stop the desk; the executor audited it
            log.exception("trade.order_crashed", order_ref=order.order_ref)
        finally:
            self._in_flight.pop(order.decision_id, None)
        if result is None:
            self.working.abandon(order.order_ref)
        else:
            self.working.status(result, order_ref=order.order_ref)
        if bracket is not None and (result is None or not result.order_id):
            for _, child in bracket.children:  # never sent: nothing of the bracket works
                self.working.abandon(child.order_ref)
        if failure:
            log.error("trade.order_failed", order_ref=order.order_ref, error=failure)
        if result is not None:
            log.info(
                "trade.order_done",
                order_ref=order.order_ref,
                symbol=order.symbol,
                side=order.action.value,
                quantity=order.quantity,
                status=result.status.value,
                filled=result.fill_quantity,
                price=None if result.fill_price is None else round(result.fill_price, 4),
                message=result.message,
            )

    async def _outcome(self, order: Order, placed: Placed | Exception | None) -> OrderResult:
        if isinstance(placed, Exception):
            raise placed
        return await (self._orders.submit(order) if placed is None else placed.outcome())

    async def _blocked(self, plan: TradePlan, order: Order) -> None:
        verdict = plan.verdict
        assert verdict is not None
        self.stats.blocked += 1
        rule = verdict.rule.value if verdict.rule is not None else None
        log.warning(
            "trade.blocked",
            strategy=order.strategy_name,
            symbol=order.symbol,
            rule=rule,
            reason=verdict.message,
        )
        await self._audit(
            AuditKind.RISK,
            {
                "rule": rule,
                "message": verdict.message,
                "order_ref": order.order_ref,
                "decision_id": order.decision_id,
                "order": to_dict(order),
                "at": self._clock.now().isoformat(),
            },
            strategy=order.strategy_name,
            symbol=order.symbol,
        )

    async def _record_untraded(self, strategy: Strategy, decision: Decision, reason: str) -> None:
        if decision.strategy_name != strategy.name:
            decision = dataclasses.replace(decision, strategy_name=strategy.name)
        self.stats.not_traded += 1
        log.debug("trade.not_traded", strategy=strategy.name, symbol=decision.symbol, reason=reason)
        await self._audit(
            AuditKind.DECISIONS,
            {
                **to_dict(decision),
                "outcome": DecisionOutcome.NOT_TRADED.value,
                "detail": reason,
                "order_ref": None,
            },
            strategy=strategy.name,
            symbol=decision.symbol,
        )
        await self._announce(decision, DecisionOutcome.NOT_TRADED, reason)

    async def _audit_decision(self, plan: TradePlan, outcome: DecisionOutcome, detail: str) -> None:
        decision = plan.decision
        order = plan.order
        await self._audit(
            AuditKind.DECISIONS,
            {
                **to_dict(decision),
                "outcome": outcome.value,
                "detail": detail,
                "order_ref": order.order_ref if order is not None else None,
            },
            strategy=decision.strategy_name,
            symbol=decision.symbol,
        )

    async def _announce(
        self,
        decision: Decision,
        outcome: DecisionOutcome,
        detail: str,
        *,
        rule: str | None = None,
        order_ref: str | None = None,
        decided_at: float | None = None,
    ) -> None:
        if self._publish is None:
            return
        event = Event(
            EventType.DECISION,
            decision.symbol,
            decision.timestamp,
            {
                "decision": decision,
                "outcome": outcome.value,
                "detail": detail,
                "rule": rule,
                "order_ref": order_ref,
                "decided_at": decided_at,
            },
            source="trader",
            ingested_at=self._clock.now(),
        )
        try:
            await self._publish(event)
        except IbbotError as exc:  # the bus is closing: the audit log has the decision
            log.debug("trade.decision_not_published", error=str(exc))

    async def _audit(
        self, kind: str, record: dict[str, Any], *, strategy: str | None, symbol: str | None
    ) -> None:
        failure = ""
        try:
            await self._store.log_audit(kind, record, strategy=strategy, symbol=symbol)
        except IbbotError as exc:
            failure = str(exc)
        if failure:
            log.error("trade.audit_failed", kind=kind, strategy=strategy, error=failure)

    # --- orders at work ---------------------------------------------------------------------------

    def open_order_count(self) -> int:
        """Orders working (on their way, open, or with fills not booked yet) for every strategy:
        the risk gate's count."""
        return self._count_open(self._orders.open_orders())

    def _count_open(self, open_orders: list[OrderResult]) -> int:
        refs = self.working.refs()
        refs.update(
            f"{r.strategy_name}:{r.decision_id}" if r.decision_id else f"#{r.order_id}"
            for r in open_orders
        )
        return len({protective_group(ref) or ref for ref in refs})  # a bracket counts once

    def _working_symbols(self) -> set[str]:
        symbols = self.working.symbols()
        symbols.update(r.symbol for r in self._orders.open_orders() if r.symbol)
        return symbols

    async def settle(self, timeout: float) -> int:  # noqa: ASYNC109 - measured on the wall clock given
        """Wait up to ``timeout`` seconds for submitted orders to finish; return those still out.

        Orders still working then stay at the broker: their fills are picked up by the next run's
        reconciliation (ibbot never re-sends an order).
        """
        if self._sending:
            try:
                async with asyncio.timeout(timeout):
                    await self._settled.wait()
            except TimeoutError:
                log.warning("trade.orders_unsettled", orders=sorted(self._in_flight))
        await self._decisions.join()
        return len(self._in_flight)

    # --- fills ------------------------------------------------------------------------------------

    async def _book_fills(self) -> None:
        while True:
            event = await self.fills.get()
            try:
                payload = event.payload
                if isinstance(payload, Fill):
                    self.book_fill(payload)
                elif isinstance(payload, OrderResult):
                    self.working.status(payload)
            finally:
                self.fills.task_done()

    def book_fill(self, fill: Fill) -> Position | None:
        """Move the book by one execution (a repeated execution id is ignored)."""
        position = self.book.apply_fill(fill)
        if position is None:
            return None
        self.working.booked(fill)
        self.stats.fills += 1
        log.info(
            "trade.fill",
            strategy=fill.strategy_name or UNATTRIBUTED,
            symbol=fill.symbol,
            side=fill.side.value,
            quantity=fill.quantity,
            price=fill.price,
            commission=fill.commission,
            position=position.quantity,
        )
        return position

    # --- kill switch ------------------------------------------------------------------------------

    async def _watch_kill_switch(self) -> None:
        switch = self.gate.kill_switch
        while True:
            engaged = switch.engaged()
            if engaged and not self._kill_engaged:
                self._kill_engaged = True
                self._lifecycle.note(
                    "app.kill_switch_engaged",
                    warning=True,
                    reason=switch.reason,
                    cancel_open_orders=self.gate.limits.cancel_open_orders_on_kill,
                )
                if self.gate.limits.cancel_open_orders_on_kill:
                    await self.cancel_open_orders()
            elif self._kill_engaged and not engaged:
                self._kill_engaged = False
                self._lifecycle.note("app.kill_switch_released")
            await self._wall.sleep(KILL_SWITCH_CHECK)

    async def engage_kill_switch(self, reason: str, *, by: str) -> None:
        """Engage the kill switch now (audited at once, ``by`` saying who); open orders are
        cancelled as the settings say. Until released, every new order is refused."""
        self.gate.kill_switch.engage(reason)
        if self._kill_engaged:
            self._lifecycle.note("app.kill_switch_engaged_again", reason=reason, by=by)
            return
        self._kill_engaged = True
        self._lifecycle.note(
            "app.kill_switch_engaged",
            warning=True,
            reason=self.gate.kill_switch.reason,
            by=by,
            cancel_open_orders=self.gate.limits.cancel_open_orders_on_kill,
        )
        if self.gate.limits.cancel_open_orders_on_kill:
            await self.cancel_open_orders()

    async def release_kill_switch(self, *, by: str) -> bool:
        """Release the kill switch: undo :meth:`engage_kill_switch` and remove the kill switch
        file if there is one (audited at once). True when trading may resume."""
        switch = self.gate.kill_switch
        switch.release()
        if switch.path is not None:
            await asyncio.to_thread(_remove_file, switch.path)
        switch.recheck()
        if switch.engaged():
            return False
        if self._kill_engaged:
            self._kill_engaged = False
            self._lifecycle.note("app.kill_switch_released", by=by)
        return True

    async def cancel_open_orders(self) -> int:
        """Ask the broker to cancel every open order; return how many it confirmed.

        With ``risk.keep_protective_orders_on_kill`` (the default) a position's protective
        children (stop-loss, take-profit, trailing stop) are left working.
        """
        cancelled = 0
        keep = self.gate.limits.keep_protective_orders_on_kill
        for result in self._orders.open_orders():
            if keep and split_leg(result.decision_id)[1].protective:
                log.info("trade.protection_kept", order_id=result.order_id, symbol=result.symbol)
                continue
            failure = ""
            confirmed = False
            try:
                confirmed = await self._orders.cancel(result.order_id)
            except IbbotError as exc:
                failure = str(exc)
            if failure:
                log.error("trade.cancel_failed", order_id=result.order_id, error=failure)
                continue
            cancelled += confirmed
            log.warning(
                "trade.order_cancelled" if confirmed else "trade.cancel_unconfirmed",
                order_id=result.order_id,
                strategy=result.strategy_name,
                symbol=result.symbol,
            )
        return cancelled

    # --- reconciliation ---------------------------------------------------------------------------

    async def reconcile(self, reason: str) -> list[Mismatch] | None:
        """Compare the book with the broker's positions and apply the configured policy.

        Returns the mismatches (None when the broker could not be asked). Fills reported so far are
        booked first; symbols with a working order are left for the next round.
        """
        async with self._reconciling:
            await self._orders.flush()
            await self.fills.join()
            try:
                broker = await self._positions.positions()
            except (RequestFailed, TimeoutError) as exc:
                log.warning("reconciliation.skipped", reason=reason, error=str(exc))
                return None
            working = self._working_symbols()
            view = [p for p in broker if p.symbol not in working]
            book = self.book.quantities()
            for symbol in working:
                held = sum(q.get(symbol, 0.0) for q in book.values())
                view.append(Position(symbol, held, 0.0))
            halted_before = set(self.gate.halted_symbols)
            policy = self.gate.limits.on_reconciliation_mismatch
            mismatches = self.book.reconcile(view, policy)
            self.gate.apply_reconciliation(mismatches)
            self.stats.mismatches += len(mismatches)
            for mismatch in mismatches:
                log.error("reconciliation.mismatch", reason=reason, detail=mismatch.message)
                await self._audit(
                    AuditKind.RECONCILIATION,
                    {
                        "reason": reason,
                        "symbol": mismatch.symbol,
                        "book": mismatch.book_quantity,
                        "broker": mismatch.broker_quantity,
                        "difference": mismatch.difference,
                        "by_strategy": dict(mismatch.by_strategy),
                        "outcome": mismatch.outcome.value,
                        "message": mismatch.message,
                        "at": self._clock.now().isoformat(),
                    },
                    strategy=None,
                    symbol=mismatch.symbol,
                )
            for symbol in sorted(halted_before - set(self.gate.halted_symbols)):
                log.info("reconciliation.resolved", symbol=symbol, reason=reason)
            summary = {
                "reason": reason,
                "policy": ReconciliationPolicy(policy).value,
                "broker_symbols": len(broker),
                "deferred": sorted(working),
                "mismatches": len(mismatches),
                "halted": sorted(self.gate.halted_symbols),
            }
            log.info("reconciliation.done", **summary)
            await self._audit(
                AuditKind.RECONCILIATION,
                {**summary, "at": self._clock.now().isoformat()},
                strategy=None,
                symbol=None,
            )
            return mismatches

    async def adopt_broker(self, symbols: list[str]) -> list[dict[str, Any]]:
        """Take the broker's positions in ``symbols`` into the book and lift their halts (by hand).

        What ``ibbot reconcile --adopt SYMBOL`` asks for (see :meth:`PositionBook.adopt`). Each
        symbol gets one reconciliation audit line (``outcome`` "adopted" or "refused", the book
        before and after) and the answer's entry; a symbol with an order at work is refused (its
        fill may be on the way: adopting now could book it twice). Raises
        :class:`~ibbot.errors.IbbotError` when the broker cannot be asked.
        """
        async with self._reconciling:
            await self._orders.flush()
            await self.fills.join()
            try:
                broker = await self._positions.positions()
            except (RequestFailed, TimeoutError) as exc:
                raise IbbotError(f"the broker's positions could not be asked for: {exc}") from exc
            held: dict[str, Position] = {}
            for position in broker:
                known = held.get(position.symbol)
                quantity = position.quantity + (0.0 if known is None else known.quantity)
                held[position.symbol] = Position(position.symbol, quantity, position.avg_cost)
            working = self._working_symbols()
            answers = []
            for symbol in symbols:
                before = {s: q[symbol] for s, q in self.book.quantities().items() if symbol in q}
                broker_position = held.get(symbol, Position(symbol, 0.0, 0.0))
                record: dict[str, Any] = {
                    "reason": "adopted by hand",
                    "symbol": symbol,
                    "book_before": before,
                    "broker": broker_position.quantity,
                    "at": self._clock.now().isoformat(),
                }
                if symbol in working:
                    message = f"{symbol} has an order at work: try again once it is done"
                    record.update(outcome="refused", message=message)
                    log.warning("reconciliation.adopt_refused", symbol=symbol, reason=message)
                else:
                    after = self.book.adopt(
                        symbol, broker_position.quantity, broker_position.avg_cost
                    )
                    self.gate.resume_symbol(symbol)
                    message = (
                        f"{symbol}: the broker's {broker_position.quantity:g} adopted by hand; "
                        f"book before {before or 'nothing'}, after {after or 'nothing'}"
                    )
                    record.update(outcome="adopted", book_after=after, message=message)
                    log.warning("reconciliation.adopted", symbol=symbol, detail=message)
                await self._audit(AuditKind.RECONCILIATION, record, strategy=None, symbol=symbol)
                answers.append(record)
            return answers


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _protective(open_orders: list[OrderResult], strategy: str, symbol: str) -> list[OrderResult]:
    """The strategy's working protective children in ``symbol``."""
    return [
        r
        for r in open_orders
        if r.strategy_name == strategy
        and r.symbol == symbol
        and split_leg(r.decision_id)[1].protective
    ]
