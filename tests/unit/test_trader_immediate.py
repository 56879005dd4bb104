"""LiveTrader's immediate path, against an in-process executor that can place orders at once (the
peer, not ib_async): an idle trader plans a decision in the caller's task and its order leaves
before ``accept`` returns; a busy one queues decisions, in order, with backpressure, dropping none."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from structlog.testing import capture_logs

from ibbot.clock import SimulatedClock
from ibbot.errors import BrokerError
from ibbot.live import LifecycleLog, LiveTrader
from ibbot.live import trader as trader_module
from ibbot.models import Action, Decision, Event, Order, OrderResult, OrderStatus, Position
from ibbot.store import AuditKind
from ibbot.trading import PositionBook, RiskGate, RiskLimits

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import pytest

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
WAIT = 10.0  # seconds: a generous bound on anything the desk does in memory


class Strategy:
    """Only what the trader reads of a strategy."""

    name = "s"
    allocated_capital = 1_000_000.0


class GatedStore:
    """The audit log in memory; decision lines wait at a gate the test opens."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    async def log_audit(
        self, kind: str, record: dict[str, Any], *, strategy: str | None, symbol: str | None
    ) -> None:
        if kind == AuditKind.DECISIONS:
            self.waiting.set()
            await self.gate.wait()
        self.records.append((kind, record))

    def decisions(self) -> list[tuple[str, str]]:
        """(decision id, outcome) of each decision line, in order."""
        return [
            (record["decision_id"], record["outcome"])
            for kind, record in self.records
            if kind == AuditKind.DECISIONS
        ]


def filled(order: Order) -> OrderResult:
    """The order, filled at 100."""
    return OrderResult(
        1,
        OrderStatus.FILLED,
        fill_price=100.0,
        fill_quantity=float(order.quantity),
        remaining=0.0,
        symbol=order.symbol,
        strategy_name=order.strategy_name,
        decision_id=order.decision_id,
        timestamp=NOW,
    )


class Sent:
    """An order the executor placed at once; its outcome is a fill."""

    def __init__(self, order: Order) -> None:
        self.order = order

    async def outcome(self, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109
        return filled(self.order)


class Placer:
    """An executor that places orders at once (or not, or fails to), and submits the others."""

    def __init__(self) -> None:
        self.placed: list[str] = []
        self.submitted: list[str] = []
        self.at_once = True
        self.failure: Exception | None = None

    def place_now(self, order: Order) -> Sent | None:
        if self.failure is not None:
            raise self.failure
        if not self.at_once:
            return None
        self.placed.append(order.decision_id)
        return Sent(order)

    async def submit(self, order: Order, *, timeout: float | None = None) -> OrderResult:  # noqa: ASYNC109
        self.submitted.append(order.decision_id)
        return filled(order)

    async def cancel(self, order_id: int, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        return False

    def open_orders(self) -> list[OrderResult]:
        return []

    async def flush(self) -> None:
        return None


class NoPositions:
    """Reconciliation is not exercised here."""

    async def positions(self) -> list[Position]:
        return []


class Desk:
    """A running trader, its gated audit log and its executor."""

    def __init__(self, tmp_path: Path) -> None:
        clock = SimulatedClock(NOW)
        self.store = GatedStore()
        self.orders = Placer()
        self.announced: list[str] = []
        self._changed = asyncio.Event()
        limits = RiskLimits(
            kill_switch_file=tmp_path / "KILL", max_open_orders=1_000, max_position_pct=1.0
        )
        self.trader = LiveTrader(
            store=self.store,  # type: ignore[arg-type]
            orders=self.orders,
            positions=NoPositions(),
            book=PositionBook(),
            gate=RiskGate(limits, monotonic=clock.monotonic, account="DU1"),
            price=lambda symbol: 100.0,
            clock=clock,
            wall=clock,
            lifecycle=LifecycleLog(self.store, clock),  # type: ignore[arg-type]
            publish=self.publish,
        )

    async def publish(self, event: Event) -> None:
        self.announced.append(event.payload["decision"].decision_id)
        self._changed.set()

    async def accept(self, ident: str, symbol: str = "AAPL", action: Action = Action.BUY) -> None:
        """Hand the trader one decision (BUY 10 shares of ``symbol``)."""
        decision = Decision(
            symbol,
            action,
            0.0,
            1.0,
            "because",
            decision_id=ident,
            timestamp=NOW,
            quantity=10 if action is Action.BUY else None,
        )
        await self.trader.accept(Strategy(), [decision], untraded=None)  # type: ignore[arg-type]

    async def announced_count(self, count: int) -> None:
        """Wait until ``count`` decisions have been announced."""
        async with asyncio.timeout(WAIT):
            while len(self.announced) < count:
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def idle_desk(tmp_path: Path) -> AsyncIterator[Desk]:
    """A desk whose trader runs and has handled one HOLD decision, so it is idle."""
    desk = Desk(tmp_path)
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(desk.trader.run())
        try:
            await desk.accept("warm", action=Action.HOLD)
            await desk.announced_count(1)
            yield desk
        finally:
            running.cancel()


async def test_an_idle_trader_sends_the_order_before_accept_returns(tmp_path: Path) -> None:
    """An idle trader plans in the caller's task: the order is placed when accept returns, and
    its audit and event follow from the trader's task."""
    async with idle_desk(tmp_path) as desk:
        await desk.accept("d1")
        assert desk.orders.placed == ["d1"]
        assert desk.store.decisions() == [("warm", "no_order")]  # the audit comes after
        await desk.announced_count(2)
        assert desk.store.decisions() == [("warm", "no_order"), ("d1", "sent")]
        assert desk.orders.submitted == []
        assert await desk.trader.settle(WAIT) == 0
        assert desk.trader.stats.sent == 1


async def test_a_decision_while_one_is_handled_waits_its_turn(tmp_path: Path) -> None:
    """While a decision is still being handled (its audit), the next ones are queued, not
    planned; they are planned in order once it is done, sized against the orders before them."""
    async with idle_desk(tmp_path) as desk:
        desk.store.gate.clear()
        desk.store.waiting.clear()
        await desk.accept("d1")
        await desk.accept("d2")  # the same target: already bought by d1
        await desk.accept("d3", symbol="MSFT")
        assert desk.orders.placed == ["d1"]
        desk.store.gate.set()
        await desk.announced_count(4)
        assert desk.announced == ["warm", "d1", "d2", "d3"]
        assert desk.store.decisions()[1:] == [("d1", "sent"), ("d2", "no_order"), ("d3", "sent")]
        assert desk.orders.placed == ["d1", "d3"]


async def test_a_full_decision_queue_holds_the_strategy_back_and_drops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the queue full behind a decision being handled, accept waits (BLOCK) until there is
    room; every decision is then handled, in order."""
    monkeypatch.setattr(trader_module, "DECISION_QUEUE", 2)
    async with idle_desk(tmp_path) as desk:
        desk.store.gate.clear()
        desk.store.waiting.clear()
        await desk.accept("d1")
        assert desk.orders.placed == ["d1"]
        async with asyncio.timeout(WAIT):
            await desk.store.waiting.wait()  # the trader's task is auditing d1
        await desk.accept("d2", symbol="MSFT")
        await desk.accept("d3", symbol="IBM")
        blocked = asyncio.ensure_future(desk.accept("d4", symbol="TSLA"))
        for _ in range(5):
            await asyncio.sleep(0)  # a turn of the loop for the accept, which has no room
        assert not blocked.done()
        desk.store.gate.set()
        async with asyncio.timeout(WAIT):
            await blocked
        await desk.announced_count(5)
        assert desk.announced == ["warm", "d1", "d2", "d3", "d4"]
        assert [ident for ident, _ in desk.store.decisions()] == ["warm", "d1", "d2", "d3", "d4"]
        assert desk.orders.placed == ["d1", "d2", "d3", "d4"]


async def test_an_order_that_cannot_be_placed_at_once_is_submitted(tmp_path: Path) -> None:
    """When the executor cannot place an order at once, the order's task submits it."""
    async with idle_desk(tmp_path) as desk:
        desk.orders.at_once = False
        await desk.accept("d1")
        await desk.announced_count(2)
        assert await desk.trader.settle(WAIT) == 0
        assert (desk.orders.placed, desk.orders.submitted) == ([], ["d1"])
        assert desk.store.decisions()[-1] == ("d1", "sent")


async def test_a_failed_placement_is_reported_and_the_desk_goes_on(tmp_path: Path) -> None:
    """A placement that raises is logged as the order's failure, the order stops working, and
    the next decision in the same symbol trades."""
    async with idle_desk(tmp_path) as desk:
        desk.orders.failure = BrokerError("the socket is gone")
        with capture_logs() as logs:
            await desk.accept("d1")
            await desk.announced_count(2)
            assert await desk.trader.settle(WAIT) == 0
        (failed,) = [e for e in logs if e["event"] == "trade.order_failed"]
        assert failed["error"] == "the socket is gone"
        desk.orders.failure = None
        await desk.accept("d2")
        await desk.announced_count(3)
        assert desk.orders.placed == ["d2"]
        assert desk.store.decisions()[1:] == [("d1", "sent"), ("d2", "sent")]
