"""LiveTrader against a fake executor and broker (the peer, not ib_async): planning, audit, working
orders, the kill switch, reconciliation."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from ibbot.clock import SimulatedClock
from ibbot.errors import BrokerError, LiveTradingRefused, RequestFailed
from ibbot.live import LifecycleLog, LiveTrader
from ibbot.models import (
    Action,
    Bracket,
    Decision,
    Event,
    EventType,
    Fill,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    Position,
    Protection,
)
from ibbot.store import AsyncStore, AuditKind, ParquetStore
from ibbot.trading import PositionBook, RiskGate, RiskLimits

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


class Strategy:
    """Only what the trader reads of a strategy."""

    def __init__(self, name: str = "s", capital: float = 100_000.0) -> None:
        self.name = name
        self.allocated_capital = capital


class FakeExecutor:
    """Fills every order at 100 at once, unless told to hold, refuse or fail."""

    def __init__(self) -> None:
        self.submitted: list[Order] = []
        self.open: list[OrderResult] = []
        self.cancelled: list[int] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.failure: Exception | None = None
        self.cancel_answers: list[bool | Exception] = []
        self.brackets: list[Bracket] = []
        self.statuses: dict[int, OrderResult] = {}
        self.stops: dict[int, float] = {}
        self.modified: list[tuple[int, float]] = []
        self.calls: list[str] = []

    async def submit(self, order: Order, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109
        self.submitted.append(order)
        self.calls.append(f"submit {order.action} {order.quantity}")
        if self.failure is not None:
            raise self.failure
        await self.hold.wait()
        return OrderResult(
            len(self.submitted),
            OrderStatus.FILLED,
            fill_price=100.0,
            fill_quantity=float(order.quantity),
            symbol=order.symbol,
            strategy_name=order.strategy_name,
            decision_id=order.decision_id,
            timestamp=NOW,
        )

    async def submit_bracket(
        self,
        bracket: Bracket,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> OrderResult:
        self.brackets.append(bracket)
        return await self.submit(bracket.entry)

    def get_order_status(self, order_id: int) -> OrderResult:
        if order_id not in self.statuses:
            raise BrokerError(f"no order {order_id}")
        return self.statuses[order_id]

    async def modify_stop(self, order_id: int, stop_price: float) -> bool:
        self.modified.append((order_id, stop_price))
        self.stops[order_id] = stop_price
        return True

    def working_stop(self, order_id: int) -> float | None:
        return self.stops.get(order_id)

    async def cancel(self, order_id: int, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        self.cancelled.append(order_id)
        self.calls.append(f"cancel {order_id}")
        answer = self.cancel_answers.pop(0) if self.cancel_answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer

    def open_orders(self) -> list[OrderResult]:
        return list(self.open)

    async def flush(self) -> None:
        return None


class FakeBroker:
    """The account's positions, or an error."""

    def __init__(self) -> None:
        self.held: list[Position] = []
        self.failure: Exception | None = None

    async def positions(self) -> list[Position]:
        if self.failure is not None:
            raise self.failure
        return list(self.held)


class Desk:
    """A trader and its fakes, running."""

    def __init__(
        self,
        trader: LiveTrader,
        executor: FakeExecutor,
        broker: FakeBroker,
        lifecycle: LifecycleLog,
        wall: SimulatedClock,
    ) -> None:
        self.trader = trader
        self.executor = executor
        self.broker = broker
        self.lifecycle = lifecycle
        self.wall = wall
        self.published: list[Event] = []


@asynccontextmanager
async def desk(tmp_path: Path, **limits: Any) -> AsyncIterator[tuple[Desk, AsyncStore]]:
    """A running trader on a paper account, its store, fakes and a simulated wall clock."""
    clock = SimulatedClock(NOW)
    async with AsyncStore(ParquetStore(tmp_path / "data", clock=clock)) as store:
        executor, broker = FakeExecutor(), FakeBroker()
        published: list[Event] = []

        async def publish(event: Event) -> None:
            published.append(event)

        limits.setdefault("kill_switch_file", tmp_path / "KILL")
        lifecycle = LifecycleLog(store, clock)
        trader = LiveTrader(
            store=store,
            orders=executor,
            positions=broker,
            book=PositionBook(),
            gate=RiskGate(RiskLimits(**limits), monotonic=clock.monotonic, account="DU1"),
            price=lambda symbol: 100.0,
            clock=clock,
            wall=clock,
            lifecycle=lifecycle,
            publish=publish,
        )
        made = Desk(trader, executor, broker, lifecycle, clock)
        made.published = published
        async with asyncio.TaskGroup() as tasks:
            running = [tasks.create_task(trader.run()), tasks.create_task(lifecycle.run())]
            try:
                yield made, store
            finally:
                for task in running:
                    task.cancel()


def buy(symbol: str = "AAPL", quantity: int = 10, ident: str = "d1") -> Decision:
    """A BUY of ``quantity`` shares."""
    return Decision(
        symbol, Action.BUY, 0.0, 1.0, "because", decision_id=ident, timestamp=NOW, quantity=quantity
    )


def fill(exec_id: str, quantity: float, symbol: str = "AAPL", strategy: str = "s") -> Fill:
    """A BUY execution at 100."""
    return Fill(exec_id, 1, 1, symbol, OrderSide.BUY, quantity, 100.0, NOW, strategy_name=strategy)


async def test_a_decision_is_planned_sent_audited_and_published(tmp_path: Path) -> None:
    """A BUY within the limits goes to the executor; the audit and the bus say it was sent."""
    async with desk(tmp_path) as (made, store):
        await made.trader.accept(Strategy(), [buy()], untraded=None)  # type: ignore[arg-type]
        assert await made.trader.settle(5.0) == 0
        (order,) = made.executor.submitted
        assert (order.strategy_name, order.symbol, order.quantity) == ("s", "AAPL", 10)
        (entry,) = await store.read_audit(AuditKind.DECISIONS)
        assert entry.record["outcome"] == "sent"
        assert entry.record["order_ref"] == "s:d1"
        assert "explicit quantity" in entry.record["detail"]
        (event,) = made.published
        assert event.type is EventType.DECISION
        assert (event.payload["outcome"], event.payload["rule"]) == ("sent", None)
        assert made.trader.stats.sent == 1


async def test_a_blocked_order_is_audited_with_its_rule(tmp_path: Path) -> None:
    """Over the order notional: nothing sent; the decisions and risk audits name the rule."""
    async with desk(tmp_path, max_order_notional=500.0) as (made, store):
        await made.trader.accept(Strategy(), [buy()], untraded=None)  # type: ignore[arg-type]
        await made.trader.settle(5.0)
        assert made.executor.submitted == []
        (risk,) = await store.read_audit(AuditKind.RISK)
        assert risk.record["rule"] == "max_order_notional"
        assert risk.record["order_ref"] == "s:d1"
        assert made.published[0].payload["rule"] == "max_order_notional"
        assert made.trader.stats.blocked == 1


async def test_a_decision_while_an_order_works_is_sized_against_it(tmp_path: Path) -> None:
    """A decision while an order of the same strategy and symbol works counts that order (also an
    open order of an earlier run), so the same target is not bought twice; other symbols trade."""
    async with desk(tmp_path) as (made, store):
        made.executor.hold.clear()
        strategy = Strategy()
        await made.trader.accept(strategy, [buy(ident="d1")], untraded=None)  # type: ignore[arg-type]
        await made.trader.accept(strategy, [buy(ident="d2")], untraded=None)  # type: ignore[arg-type]
        await made.trader.accept(strategy, [buy("MSFT", ident="d3")], untraded=None)  # type: ignore[arg-type]
        assert await made.trader.settle(0.05) == 2  # both orders still out
        assert made.trader.open_order_count() == 2
        made.executor.hold.set()
        assert await made.trader.settle(5.0) == 0
        records = [e.record for e in await store.read_audit(AuditKind.DECISIONS)]
        assert [r["outcome"] for r in records] == ["sent", "no_order", "sent"]
        assert "holding 0, working s:d1 may still buy 10: already at target" in records[1]["detail"]
        assert made.trader.open_order_count() == 2  # reported filled, fills not booked yet
        for symbol, ident in (("AAPL", "d1"), ("MSFT", "d3")):
            booked = Fill(
                f"x-{ident}", 1, 1, symbol, OrderSide.BUY, 10, 100.0, NOW, 1.0, "s", ident
            )
            await made.trader.fills.put(Event(EventType.FILL, symbol, NOW, booked))
        await made.trader.fills.join()
        assert made.trader.open_order_count() == 0
        made.executor.open.append(
            OrderResult(
                7,
                OrderStatus.SUBMITTED,
                fill_quantity=0.0,
                remaining=5.0,
                symbol="AAPL",
                strategy_name="s",
                decision_id="x",
            )
        )
        await made.trader.accept(strategy, [buy(quantity=15, ident="d4")], untraded=None)  # type: ignore[arg-type]
        await made.trader.settle(5.0)
        last = (await store.read_audit(AuditKind.DECISIONS))[-1].record
        assert last["outcome"] == "no_order"
        assert (
            "holding 10, working s:x may still buy 5 or sell 5: already at target"
            in (last["detail"])
        )


async def test_untraded_and_late_decisions_are_recorded_only(tmp_path: Path) -> None:
    """History and decisions after the intake closed are audited as not traded, with the reason."""
    async with desk(tmp_path) as (made, store):
        strategy = Strategy("warm")
        decision = buy()
        await made.trader.accept(strategy, [decision], untraded="warm-up: history")  # type: ignore[arg-type]
        made.trader.close_intake()
        await made.trader.accept(strategy, [buy(ident="d2")], untraded=None)  # type: ignore[arg-type]
        entries = await store.read_audit(AuditKind.DECISIONS)
        assert [(e.strategy, e.record["detail"]) for e in entries] == [
            ("warm", "warm-up: history"),
            ("warm", "ibbot is shutting down: no new orders"),
        ]
        assert entries[0].record["strategy_name"] == "warm"
        assert made.executor.submitted == []


@pytest.mark.parametrize(
    "failure",
    [LiveTradingRefused("a live account"), BrokerError("gateway gone"), RuntimeError("bug")],
)
async def test_a_failing_submission_does_not_stop_the_desk(
    tmp_path: Path, failure: Exception
) -> None:
    """The executor refusing or failing (or a bug) leaves no order in flight; trading goes on."""
    async with desk(tmp_path) as (made, _):
        made.executor.failure = failure
        await made.trader.accept(Strategy(), [buy()], untraded=None)  # type: ignore[arg-type]
        assert await made.trader.settle(5.0) == 0
        made.executor.failure = None
        await made.trader.accept(Strategy(), [buy(ident="d2")], untraded=None)  # type: ignore[arg-type]
        await made.trader.settle(5.0)
        assert len(made.executor.submitted) == 2


async def test_fills_move_the_book_once(tmp_path: Path) -> None:
    """The same execution twice moves the book once (IB re-sends executions after reconnects)."""
    async with desk(tmp_path) as (made, _):
        trader = made.trader
        for event_fill in (fill("e1", 5), fill("e1", 5), fill("e2", 3)):
            await trader.fills.put(Event(EventType.FILL, "AAPL", NOW, event_fill))
        await trader.fills.join()
        assert trader.book.quantity("s", "AAPL") == 8
        assert trader.stats.fills == 2


async def test_reconciliation_halts_and_resolves_and_defers_working_symbols(
    tmp_path: Path,
) -> None:
    """A gap halts the symbol and is audited; a symbol with a working order waits for the next
    round; a later clean round lifts the halt."""
    async with desk(tmp_path) as (made, store):
        trader = made.trader
        trader.book_fill(fill("e1", 10))
        made.broker.held = [Position("AAPL", 4.0, 100.0), Position("MSFT", 7.0, 50.0)]
        made.executor.open.append(
            OrderResult(3, OrderStatus.SUBMITTED, symbol="MSFT", strategy_name="s", decision_id="w")
        )
        mismatches = await trader.reconcile("test")
        assert mismatches is not None
        assert [(m.symbol, m.book_quantity, m.broker_quantity) for m in mismatches] == [
            ("AAPL", 10.0, 4.0)
        ]
        assert set(trader.gate.halted_symbols) == {"AAPL"}
        made.broker.held = [Position("AAPL", 10.0, 100.0)]
        made.executor.open.clear()
        assert await trader.reconcile("again") == []
        assert trader.gate.halted_symbols == {}
        records = [e.record for e in await store.read_audit(AuditKind.RECONCILIATION)]
        assert [r.get("symbol") for r in records] == ["AAPL", None, None]
        assert records[1]["deferred"] == ["MSFT"]
        assert (records[1]["mismatches"], records[2]["mismatches"]) == (1, 0)
        made.broker.failure = RequestFailed("no answer")
        assert await trader.reconcile("unreachable") is None


async def test_the_kill_switch_cancels_open_orders_once_engaged(tmp_path: Path) -> None:
    """Engaging the switch is noted in the lifecycle audit and every open order is cancelled;
    a cancel IB refuses or fails is reported and the others still go."""
    async with desk(tmp_path) as (made, store):
        made.executor.open = [
            OrderResult(n, OrderStatus.SUBMITTED, symbol="AAPL", strategy_name="s")
            for n in (1, 2, 3)
        ]
        made.executor.cancel_answers = [True, False, BrokerError("gone")]
        made.trader.gate.kill_switch.engage("tests")
        await made.wall.wait_for_sleepers()
        made.wall.advance(1.0)
        await made.wall.wait_for_sleepers()
        assert made.executor.cancelled == [1, 2, 3]
        assert await made.trader.cancel_open_orders() == 3  # the fake confirms them all now
        made.trader.gate.kill_switch.release()
        made.wall.advance(1.0)
        await made.wall.wait_for_sleepers()
        await made.lifecycle.flush()
        events = [e.record["event"] for e in await store.read_audit(AuditKind.LIFECYCLE)]
        assert events == ["app.kill_switch_engaged", "app.kill_switch_released"]


# --- protection ---------------------------------------------------------------------------------

PROTECTED = Protection(stop_loss_pct=0.05, take_profit_pct=0.1)


def child(
    order_id: int, leg: str, status: OrderStatus = OrderStatus.SUBMITTED, **kw: Any
) -> OrderResult:
    """A protective child of decision d1 as the executor reports it."""
    return OrderResult(
        order_id,
        status,
        symbol="AAPL",
        strategy_name="s",
        decision_id=f"d1/{leg}",
        remaining=kw.pop("remaining", 10.0),
        fill_quantity=kw.pop("filled", 0.0),
        timestamp=NOW,
    )


async def holding(made: Desk, quantity: float) -> None:
    """The book holds ``quantity`` AAPL for strategy s (the entry's fill, booked)."""
    booked = Fill("e-1", 1, 1, "AAPL", OrderSide.BUY, quantity, 100.0, NOW, 1.0, "s", "d1")
    await made.trader.fills.put(Event(EventType.FILL, "AAPL", NOW, booked))
    await made.trader.fills.join()


def exit_() -> Decision:
    return Decision("AAPL", Action.EXIT, 0.0, 1.0, "bearish", decision_id="d9", timestamp=NOW)


async def test_a_protected_entry_goes_as_one_bracket(tmp_path: Path) -> None:
    """A BUY with protection is one bracket (take-profit and stop-loss priced from the entry); the
    audit states the protection and its worst case; the bracket counts as one open order."""
    async with desk(tmp_path) as (made, store):
        made.executor.hold.clear()
        decision = dataclasses.replace(buy(), protection=PROTECTED, price=100.0)
        await made.trader.accept(Strategy(), [decision], untraded=None)  # type: ignore[arg-type]
        assert await made.trader.settle(0.05) == 1
        (bracket,) = made.executor.brackets
        assert [
            (leg.value, o.order_type.value, o.limit_price or o.stop_price)
            for leg, o in bracket.children
        ] == [
            ("take_profit", "LMT", 110.0),
            ("stop_loss", "STP", 95.0),
        ]
        assert [o.order_ref for _, o in bracket.children] == ["s:d1/take_profit", "s:d1/stop_loss"]
        assert made.trader.open_order_count() == 1
        made.executor.hold.set()
        await made.trader.settle(5.0)
        (entry,) = await store.read_audit(AuditKind.DECISIONS)
        assert (
            "protected by take-profit LMT 110.00, stop-loss STP 95.00 GTC" in entry.record["detail"]
        )
        assert "worst case 50.00 at 95.00" in entry.record["detail"]


async def test_an_exit_cancels_the_protection_before_it_sells(tmp_path: Path) -> None:
    """EXIT of a protected position: both children are cancelled first, then the holding is sold."""
    async with desk(tmp_path) as (made, _store):
        await holding(made, 10)
        made.executor.open = [child(11, "take_profit"), child(12, "stop_loss")]
        made.executor.statuses = {
            11: child(11, "take_profit", OrderStatus.CANCELLED, remaining=0.0),
            12: child(12, "stop_loss", OrderStatus.CANCELLED, remaining=0.0),
        }
        await made.trader.accept(Strategy(), [exit_()], untraded=None)  # type: ignore[arg-type]
        await made.trader.settle(5.0)
        assert made.executor.calls == ["cancel 11", "cancel 12", "submit SELL 10"]


async def test_an_exit_racing_a_filled_stop_never_sells_short(tmp_path: Path) -> None:
    """The stop filled at IB before the EXIT's cancel reached it (161): its sale is working until
    its fill is booked, so the EXIT sells nothing; once booked the strategy is flat, never short."""
    async with desk(tmp_path) as (made, store):
        await holding(made, 10)
        made.executor.open = [child(11, "take_profit"), child(12, "stop_loss")]
        made.executor.cancel_answers = [True, False]
        made.executor.statuses = {
            11: child(11, "take_profit", OrderStatus.CANCELLED, remaining=0.0),
            12: child(12, "stop_loss", OrderStatus.FILLED, remaining=0.0, filled=10.0),
        }
        await made.trader.accept(Strategy(), [exit_()], untraded=None)  # type: ignore[arg-type]
        await made.trader.settle(5.0)
        assert made.executor.submitted == []
        last = (await store.read_audit(AuditKind.DECISIONS))[-1].record
        assert "EXIT AAPL: nothing to close" in last["detail"]
        stop_fill = Fill(
            "s-1", 12, 12, "AAPL", OrderSide.SELL, 10, 94.9, NOW, 1.0, "s", "d1/stop_loss"
        )
        await made.trader.fills.put(Event(EventType.FILL, "AAPL", NOW, stop_fill))
        await made.trader.fills.join()
        assert made.trader.book.quantity("s", "AAPL") == 0.0
        made.executor.open = []  # IB lists neither child any more
        assert made.trader.open_order_count() == 0


async def test_a_higher_stop_moves_the_working_stop_with_a_modify(tmp_path: Path) -> None:
    """A BUY at its target whose protection names a higher stop raises the working stop-loss
    through the executor's modify; a lower one leaves it."""
    async with desk(tmp_path) as (made, _store):
        await holding(made, 10)
        made.executor.open = [child(12, "stop_loss")]
        made.executor.stops = {12: 95.0}
        for stop in (98.0, 96.0):
            decision = dataclasses.replace(
                buy(ident=f"r{stop}"), protection=Protection(stop_loss_price=stop)
            )
            await made.trader.accept(Strategy(), [decision], untraded=None)  # type: ignore[arg-type]
            await made.trader.settle(5.0)
        assert made.executor.modified == [(12, 98.0)]
        assert made.executor.submitted == []


@pytest.mark.parametrize(("keep", "cancelled"), [(True, [3]), (False, [1, 2, 3])])
async def test_the_kill_switch_keeps_protective_children_when_told(
    tmp_path: Path, keep: bool, cancelled: list[int]
) -> None:
    """risk.keep_protective_orders_on_kill (default) leaves the stops of held positions working."""
    async with desk(tmp_path, keep_protective_orders_on_kill=keep) as (made, _store):
        made.executor.open = [
            child(1, "take_profit"),
            child(2, "stop_loss"),
            OrderResult(
                3, OrderStatus.SUBMITTED, symbol="MSFT", strategy_name="s", decision_id="x"
            ),
        ]
        await made.trader.cancel_open_orders()
        assert made.executor.cancelled == cancelled
