"""The live desk on the real executor against the simulated gateway, with fills in flight: the
sale's Filled status is in, its fill not yet booked, and the next bar's EXIT must not sell again."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ibbot.broker.executor import ExecutorConfig, OrderExecutor
from ibbot.live import LifecycleLog, LiveTrader
from ibbot.models import Action, Decision, Event, EventType
from ibbot.store import AuditKind
from ibbot.trading import PositionBook, RiskGate, RiskLimits
from tests.integration.app_support import sim_orders, sim_positions
from tests.integration.broker_support import DEADLINE, background, harness

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.broker_support import Harness

STRATEGY = "s"


class Strategy:
    """Only what the trader reads of a strategy."""

    name = STRATEGY
    allocated_capital = 100_000.0


class Relay:
    """Brings the bus's fills and statuses to the desk, holding fills back while told to: the time
    a fill spends between IB and the book (its commission report, its audit) made as long as the
    test needs."""

    def __init__(self, queue: asyncio.Queue[Event]) -> None:
        self.queue = queue
        self.holding = False
        self.held: list[Event] = []
        self.fills = 0
        self._changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        if event.type is EventType.FILL:
            self.fills += 1
            if self.holding:
                self.held.append(event)
                self._changed.set()
                return
        await self.queue.put(event)
        self._changed.set()

    async def seen(self, fills: int) -> None:
        """Return once ``fills`` fills have come from the executor."""
        async with asyncio.timeout(DEADLINE):
            while self.fills < fills:
                self._changed.clear()
                await self._changed.wait()

    async def release(self) -> None:
        """Hand the held fills over and stop holding."""
        self.holding = False
        for event in self.held:
            await self.queue.put(event)
        self.held.clear()


def desk(h: Harness, tmp_path: Path) -> tuple[LiveTrader, OrderExecutor]:
    """A trader on a real executor, connected to the harness's gateway."""
    executor = OrderExecutor(
        h.connection, h.requests, h.store, h.bus, config=ExecutorConfig(submit_timeout=DEADLINE)
    )
    trader = LiveTrader(
        store=h.store,
        orders=executor,
        positions=h.requests,
        book=PositionBook(),
        gate=RiskGate(
            RiskLimits(kill_switch_file=tmp_path / "KILL"),
            monotonic=h.clock.monotonic,
            account=h.connection.account,
        ),
        price=lambda symbol: None,
        clock=h.market_clock,
        wall=h.clock,
        lifecycle=LifecycleLog(h.store, h.market_clock),
    )
    return trader, executor


async def bar(trader: LiveTrader, action: Action, ident: str) -> None:
    """A catch-up bar's decision (10 AAPL, or close it): handled, and its order (if any) answered."""
    decision = Decision(
        "AAPL",
        action,
        0.0,
        1.0,
        "a catch-up bar",
        decision_id=ident,
        quantity=10 if action is Action.BUY else None,
        price=100.0,
    )
    await trader.accept(Strategy(), [decision], untraded=None)  # type: ignore[arg-type]
    await trader.settle(DEADLINE)  # the decision handled; its order may be on its way
    assert await trader.settle(DEADLINE) == 0  # and back with a terminal status


async def test_an_exit_while_the_sales_fill_is_in_flight_sends_no_second_sale(
    tmp_path: Path,
) -> None:
    """The oversell of issue 19 on the wire: after the SELL is Filled at the gateway and its fill
    is not yet booked, the next EXIT sends nothing; the account ends flat, never short."""
    async with harness(tmp_path) as h:
        trader, executor = desk(h, tmp_path)
        relay = Relay(trader.fills)
        h.bus.subscribe([EventType.FILL, EventType.ORDER_STATUS], relay, name="relay")
        async with background(executor.run(), trader.run()):
            await bar(trader, Action.BUY, "d1")
            await relay.seen(1)
            await trader.fills.join()
            assert trader.book.quantity(STRATEGY, "AAPL") == 10
            relay.holding = True
            await bar(trader, Action.EXIT, "d2")  # submit returned: the sale is Filled
            await relay.seen(2)  # and its fill is on its way, held before the book
            assert sim_positions(h.gateway) == {}
            assert trader.book.quantity(STRATEGY, "AAPL") == 10
            await bar(trader, Action.EXIT, "d3")
            assert sim_positions(h.gateway) == {}, "a second SELL went out: the account is short"
            assert [o["action"] for o in sim_orders(h.gateway)] == ["BUY", "SELL"]
            await relay.release()
            await trader.fills.join()
            assert trader.book.quantity(STRATEGY, "AAPL") == 0
        decisions = [e.record for e in await h.store.read_audit(AuditKind.DECISIONS)]
        assert [d["outcome"] for d in decisions] == ["sent", "sent", "no_order"]
        assert decisions[2]["detail"] == (
            "EXIT AAPL: nothing to close (holding 10, working s:d2 may still sell 10)"
        )
