"""LiveTrader with fills in flight, against a scripted in-process broker (the peer, not ib_async)
whose executions, order statuses, submit answers and fill events reach the desk when the test says,
in any order: a long-only strategy never sells what it does not hold and never buys twice."""

from __future__ import annotations

import asyncio
import itertools
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibbot.clock import SimulatedClock
from ibbot.live import LifecycleLog, LiveTrader
from ibbot.models import (
    Action,
    Decision,
    Event,
    EventType,
    Fill,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    Position,
)
from ibbot.store import AuditKind
from ibbot.trading import PositionBook, RiskGate, RiskLimits

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SYMBOL = "AAPL"
STRATEGY = "s"
PRICE = 100.0
WAIT = 10.0  # seconds: a generous bound on anything the desk does in memory


class Strategy:
    """Only what the trader reads of a strategy."""

    name = STRATEGY
    allocated_capital = 1_000_000.0


class MemoryStore:
    """The audit log, in memory (the trader only appends to it)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    async def log_audit(
        self, kind: str, record: dict[str, Any], *, strategy: str | None, symbol: str | None
    ) -> None:
        self.records.append((kind, record))

    def decisions(self) -> list[dict[str, Any]]:
        """The decision lines, in order."""
        return [record for kind, record in self.records if kind == AuditKind.DECISIONS]


@dataclass(eq=False)
class Placed:
    """One order at the scripted broker, and the desk's ``submit`` call waiting for its answer."""

    order: Order
    order_id: int
    reply: asyncio.Future[OrderResult]
    returned: asyncio.Event = field(default_factory=asyncio.Event)
    executed: float = 0.0
    cancelled: bool = False

    @property
    def rest(self) -> float:
        """Shares the broker may still execute."""
        return 0.0 if self.cancelled else self.order.quantity - self.executed


class ScriptedBroker:
    """Orders rest until the test executes, cancels and reports them; the account is the truth."""

    def __init__(self) -> None:
        self.placed: list[Placed] = []
        self.executions: list[Fill] = []
        self.earlier: list[OrderResult] = []  # open orders of an earlier run
        self._exec_ids = itertools.count(1)

    async def submit(self, order: Order, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109
        placed = Placed(order, len(self.placed) + 1, asyncio.get_running_loop().create_future())
        self.placed.append(placed)
        result = await placed.reply
        placed.returned.set()
        return result

    async def cancel(self, order_id: int, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        return False

    def open_orders(self) -> list[OrderResult]:
        current = [self.result(p) for p in self.placed]
        return [r for r in current if not r.status.is_terminal] + self.earlier

    async def flush(self) -> None:
        return None

    def execute(self, placed: Placed, quantity: float) -> Fill:
        """The broker fills ``quantity`` shares of ``placed`` now; its fill is not delivered yet."""
        assert 0 < quantity <= placed.rest
        placed.executed += quantity
        order = placed.order
        execution = Fill(
            f"e{next(self._exec_ids)}",
            placed.order_id,
            placed.order_id,
            order.symbol,
            order.action,
            quantity,
            PRICE,
            NOW,
            commission=1.0,
            strategy_name=order.strategy_name,
            decision_id=order.decision_id,
        )
        self.executions.append(execution)
        return execution

    def result(self, placed: Placed) -> OrderResult:
        """The order's state at the broker now."""
        order = placed.order
        if placed.executed >= order.quantity:
            status = OrderStatus.FILLED
        elif placed.cancelled:
            status = OrderStatus.CANCELLED
        elif placed.executed:
            status = OrderStatus.PARTIALLY_FILLED
        else:
            status = OrderStatus.SUBMITTED
        return OrderResult(
            placed.order_id,
            status,
            fill_price=PRICE if placed.executed else None,
            fill_quantity=placed.executed,
            remaining=placed.rest,
            symbol=order.symbol,
            strategy_name=order.strategy_name,
            decision_id=order.decision_id,
            timestamp=NOW,
        )

    @property
    def position(self) -> float:
        """The account's shares: every execution, delivered to the desk or not."""
        return sum(e.quantity * e.side.sign for e in self.executions)


class NoPositions:
    """Reconciliation is not exercised here."""

    async def positions(self) -> list[Position]:
        return []


class Desk:
    """A running trader on the scripted broker, and the steps a test drives it with."""

    def __init__(self, tmp_path: Path) -> None:
        clock = SimulatedClock(NOW)
        self.store = store = MemoryStore()
        self.broker = broker = ScriptedBroker()
        limits = RiskLimits(
            kill_switch_file=tmp_path / "KILL", max_open_orders=1_000, max_position_pct=1.0
        )
        self.trader = LiveTrader(
            store=store,  # type: ignore[arg-type]
            orders=broker,
            positions=NoPositions(),
            book=PositionBook(),
            gate=RiskGate(limits, monotonic=clock.monotonic, account="DU1"),
            price=lambda symbol: PRICE,
            clock=clock,
            wall=clock,
            lifecycle=LifecycleLog(store, clock),  # type: ignore[arg-type]
            publish=self.publish,
        )
        self.announced = 0
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)

    async def publish(self, event: Event) -> None:
        self.announced += 1
        self._changed.set()

    async def decide(self, action: Action, target: int = 0) -> dict[str, Any]:
        """Hand the desk one decision (a bar's), wait until it is handled; its audit line."""
        ident = f"d{next(self._ids)}"
        decision = Decision(
            SYMBOL,
            action,
            0.0,
            1.0,
            "a bar",
            decision_id=ident,
            timestamp=NOW,
            quantity=target if action is Action.BUY else None,
        )
        before = self.announced
        await self.trader.accept(Strategy(), [decision], untraded=None)  # type: ignore[arg-type]
        async with asyncio.timeout(WAIT):
            while self.announced == before:
                self._changed.clear()
                await self._changed.wait()
        (record,) = [r for r in self.store.decisions() if r["decision_id"] == ident]
        return record

    async def deliver(self, payload: Fill | OrderResult) -> None:
        """The bus brings a fill or a status to the desk; wait until it is taken in."""
        kind = EventType.FILL if isinstance(payload, Fill) else EventType.ORDER_STATUS
        await self.trader.fills.put(Event(kind, SYMBOL, NOW, payload, source="ib"))
        async with asyncio.timeout(WAIT):
            await self.trader.fills.join()

    async def report(self, placed: Placed) -> None:
        """The bus brings the order's status as it is now."""
        await self.deliver(self.broker.result(placed))

    async def answer(self, placed: Placed) -> None:
        """``submit`` returns the order's state now (terminal, or not yet: its timeout)."""
        if placed.reply.done():
            return
        placed.reply.set_result(self.broker.result(placed))
        async with asyncio.timeout(WAIT):
            await placed.returned.wait()

    @property
    def booked(self) -> float:
        """The strategy's holding in the position book."""
        return self.trader.book.quantity(STRATEGY, SYMBOL)


@asynccontextmanager
async def running_desk(tmp_path: Path, *, holding: float = 0.0) -> AsyncIterator[Desk]:
    """A running desk whose strategy holds ``holding`` shares (booked and at the broker)."""
    desk = Desk(tmp_path)
    trader, broker = desk.trader, desk.broker
    if holding:
        start = Fill("e0", 0, 0, SYMBOL, OrderSide.BUY, holding, PRICE, NOW, strategy_name=STRATEGY)
        broker.executions.append(start)
        trader.book_fill(start)
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(trader.run())
        try:
            yield desk
        finally:
            for placed in broker.placed:
                placed.reply.cancel()
            running.cancel()


def sizes(desk: Desk) -> list[tuple[str, int]]:
    """Every order the desk sent: side and quantity."""
    return [(p.order.action.value, p.order.quantity) for p in desk.broker.placed]


# --- the defect, step by step ------------------------------------------------------------------


async def test_an_exit_after_the_sale_ended_but_before_its_fill_is_booked_sends_nothing(
    tmp_path: Path,
) -> None:
    """The oversell of issue 19: the SELL is reported Filled, its fill not booked yet; the next
    bar's EXIT sends no second SELL, and says why in the audit."""
    async with running_desk(tmp_path, holding=10) as desk:
        await desk.decide(Action.EXIT)
        (sale,) = desk.broker.placed
        execution = desk.broker.execute(sale, 10)
        await desk.answer(sale)  # submit returns: Filled
        await desk.report(sale)  # the status event comes before the fill's
        record = await desk.decide(Action.EXIT)
        assert sizes(desk) == [("SELL", 10)], "a second SELL went out against the stale book"
        assert record["outcome"] == "no_order"
        assert (
            record["detail"]
            == "EXIT AAPL: nothing to close (holding 10, working s:d1 may still sell 10)"
        )
        await desk.deliver(execution)
        await desk.deliver(execution)  # IB re-sends executions: booked once
        assert (desk.booked, desk.broker.position) == (0, 0)
        record = await desk.decide(Action.EXIT)
        assert record["detail"] == "EXIT AAPL: nothing to close (holding 0)"
        assert desk.trader.working.refs() == set()


async def test_a_burst_of_buys_sends_one_order_until_its_fill_is_booked(tmp_path: Path) -> None:
    """Catch-up bars each asking for 10 shares buy 10 once, also after the order is reported Filled
    and before its fill is booked."""
    async with running_desk(tmp_path) as desk:
        for _ in range(3):
            await desk.decide(Action.BUY, 10)
        (purchase,) = desk.broker.placed
        execution = desk.broker.execute(purchase, 10)
        await desk.answer(purchase)
        record = await desk.decide(Action.BUY, 10)
        assert sizes(desk) == [("BUY", 10)], "bought twice"
        assert "holding 0, working s:d1 may still buy 10: already at target" in record["detail"]
        await desk.deliver(execution)
        await desk.report(purchase)
        record = await desk.decide(Action.BUY, 15)
        assert sizes(desk) == [("BUY", 10), ("BUY", 5)]
        assert "holding 10: BUY 5" in record["detail"]


async def test_a_fill_booked_before_its_status_frees_the_holding_at_the_end(tmp_path: Path) -> None:
    """Fill first, status later: the sold shares are gone from the book at once, and the order
    leaves once its Filled status comes."""
    async with running_desk(tmp_path, holding=10) as desk:
        await desk.decide(Action.EXIT)
        (sale,) = desk.broker.placed
        await desk.deliver(desk.broker.execute(sale, 10))
        record = await desk.decide(Action.EXIT)
        assert record["detail"] == "EXIT AAPL: nothing to close (holding 0)"
        assert desk.trader.working.refs() == {"s:d1"}  # no terminal status yet
        await desk.report(sale)
        assert desk.trader.working.refs() == set()
        await desk.answer(sale)
        await desk.report(sale)  # a late repeat of the status
        assert desk.trader.working.refs() == set()
        assert sizes(desk) == [("SELL", 10)]


async def test_a_partly_filled_sale_then_cancelled_leaves_the_rest_to_sell(tmp_path: Path) -> None:
    """A partial fill, then the rest cancelled: while working, an EXIT sells nothing more; once the
    order has ended with its 4 shares booked, the next EXIT sells the 6 left."""
    async with running_desk(tmp_path, holding=10) as desk:
        await desk.decide(Action.EXIT)
        (sale,) = desk.broker.placed
        await desk.deliver(desk.broker.execute(sale, 4))
        await desk.report(sale)
        record = await desk.decide(Action.EXIT)
        assert (
            record["detail"]
            == "EXIT AAPL: nothing to close (holding 6, working s:d1 may still sell 6)"
        )
        sale.cancelled = True
        await desk.answer(sale)
        record = await desk.decide(Action.EXIT)
        assert sizes(desk) == [("SELL", 10), ("SELL", 6)]
        assert record["detail"].startswith("EXIT AAPL: close 6 shares: SELL 6")


async def test_an_order_that_timed_out_works_until_its_status_and_fill_come(tmp_path: Path) -> None:
    """``submit`` gave up waiting (a resting order): the order still works; the broker's later
    Filled status alone does not free the shares, its fill does."""
    async with running_desk(tmp_path, holding=10) as desk:
        await desk.decide(Action.EXIT)
        (sale,) = desk.broker.placed
        await desk.answer(sale)  # still SUBMITTED: the timeout
        execution = desk.broker.execute(sale, 10)
        await desk.report(sale)
        await desk.decide(Action.EXIT)
        await desk.decide(Action.BUY, 10)  # the book still shows 10: at target
        assert sizes(desk) == [("SELL", 10)]
        await desk.deliver(execution)
        record = await desk.decide(Action.BUY, 10)
        assert sizes(desk) == [("SELL", 10), ("BUY", 10)]
        assert "holding 0: BUY 10" in record["detail"]


async def test_an_order_of_an_earlier_run_counts_both_ways_until_its_fill_shows_its_side(
    tmp_path: Path,
) -> None:
    """An order the executor adopted after a restart (side unknown) may buy or sell its rest: no
    sale of the holding it may sell, no purchase it may make; its fill settles it."""
    async with running_desk(tmp_path, holding=10) as desk:
        earlier = OrderResult(
            3,
            OrderStatus.SUBMITTED,
            fill_quantity=0.0,
            remaining=10.0,
            symbol=SYMBOL,
            strategy_name=STRATEGY,
            decision_id="before",
        )
        desk.broker.earlier.append(earlier)
        record = await desk.decide(Action.EXIT)
        assert "working s:before may still buy 10 or sell 10" in record["detail"]
        assert record["outcome"] == "no_order"
        desk.broker.earlier.clear()
        sold = Fill("x1", 3, 3, SYMBOL, OrderSide.SELL, 10.0, PRICE, NOW, 1.0, STRATEGY, "before")
        await desk.deliver(sold)
        done = OrderResult(
            3,
            OrderStatus.FILLED,
            fill_quantity=10.0,
            remaining=0.0,
            symbol=SYMBOL,
            strategy_name=STRATEGY,
            decision_id="before",
        )
        await desk.deliver(done)
        await desk.deliver(earlier)  # a stale report overtaken by the order's end
        assert desk.trader.working.refs() == set()
        assert desk.booked == 0
        await desk.decide(Action.BUY, 10)
        assert sizes(desk) == [("BUY", 10)]


async def test_a_fill_of_an_order_from_before_a_restart_is_booked(tmp_path: Path) -> None:
    """A new run books a fill of an order it never saw (recovered from IB), once, and nothing of it
    stays working."""
    async with running_desk(tmp_path) as desk:
        recovered = Fill("r1", 8, 8, SYMBOL, OrderSide.BUY, 5.0, PRICE, NOW, 1.0, STRATEGY, "old")
        await desk.deliver(recovered)
        await desk.deliver(recovered)
        assert desk.booked == 5
        assert desk.trader.working.refs() == set()
        record = await desk.decide(Action.EXIT)
        assert record["detail"].startswith("EXIT AAPL: close 5 shares: SELL 5")


# --- the property --------------------------------------------------------------------------------

STEP = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 30)),  # a bar: BUY up to a target
    st.tuples(st.just("exit"), st.just(0)),  # a bar: EXIT
    st.tuples(st.just("execute"), st.integers(0, 9), st.integers(1, 30)),  # the broker fills
    st.tuples(st.just("cancel"), st.integers(0, 9)),  # the broker cancels the rest
    st.tuples(st.just("deliver"), st.integers(0, 9)),  # a fill reaches the desk
    st.tuples(st.just("duplicate"), st.integers(0, 9)),  # IB re-sends an execution
    st.tuples(st.just("report"), st.integers(0, 9)),  # a status reaches the desk
    st.tuples(st.just("answer"), st.integers(0, 9)),  # submit returns (terminal, or its timeout)
)


async def _interleave(tmp_path: Path, holding: int, steps: list[tuple[Any, ...]]) -> None:
    async with running_desk(tmp_path, holding=holding) as desk:
        broker = desk.broker
        target = holding  # the most the strategy ever asked to hold
        pending: list[Fill] = []
        delivered: list[Fill] = []
        for step in steps:
            kind, pick = step[0], step[1]
            placed = broker.placed[pick % len(broker.placed)] if broker.placed else None
            if kind == "buy":
                target = max(target, pick)
                await desk.decide(Action.BUY, pick)
            elif kind == "exit":
                await desk.decide(Action.EXIT)
            elif kind == "execute" and placed is not None and placed.rest > 0:
                pending.append(broker.execute(placed, min(step[2], placed.rest)))
            elif kind == "cancel" and placed is not None:
                placed.cancelled = placed.rest > 0 or placed.cancelled
            elif kind == "deliver" and pending:
                execution = pending.pop(pick % len(pending))
                delivered.append(execution)
                await desk.deliver(execution)
            elif kind == "duplicate" and delivered:
                await desk.deliver(delivered[pick % len(delivered)])
            elif kind == "report" and placed is not None:
                await desk.report(placed)
            elif kind == "answer" and placed is not None:
                await desk.answer(placed)
            account = broker.position
            assert desk.booked >= 0, f"the book went short: {desk.booked:g} after {step}"
            assert account >= 0, f"the account went short: {account:g} after {step}"
            assert account <= target, (
                f"the account holds {account:g} > target {target} after {step}"
            )
        # Everything ends: the rest cancelled, every fill and status delivered.
        for placed in broker.placed:
            placed.cancelled = placed.rest > 0 or placed.cancelled
            await desk.answer(placed)
            await desk.report(placed)
        for execution in pending:
            await desk.deliver(execution)
        assert desk.booked == broker.position
        # Nothing stays working for ever: an EXIT now closes exactly the holding.
        before = len(broker.placed)
        await desk.decide(Action.EXIT)
        sent = [(p.order.action, p.order.quantity) for p in broker.placed[before:]]
        assert sent == ([(OrderSide.SELL, int(desk.booked))] if desk.booked else [])


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(holding=st.integers(0, 20), steps=st.lists(STEP, max_size=40))
def test_no_interleaving_of_statuses_fills_and_bars_oversells_or_buys_twice(
    tmp_path: Path, holding: int, steps: list[tuple[Any, ...]]
) -> None:
    """For any order of executions, statuses, submit answers, fills (partial, repeated) and bars,
    a long-only strategy's book and account never go below 0 nor above the largest target it asked
    for, the book ends equal to the account, and no order stays working once settled."""
    asyncio.run(_interleave(tmp_path, holding, steps))
