"""Helpers for the broker's integration tests: a simulated gateway, a real bus and store, waits.

Every test runs its own :class:`SimulatedGateway` on an ephemeral loopback port, with the market open
(Monday 10:00 US/Eastern) and simulated time running 60x faster than the wall clock, and talks to it
through the broker and unmodified ``ib_async``. Waits are on events (with a generous deadline that
fails the test), never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibbot.broker.backoff import Backoff
from ibbot.broker.connection import ConnectionConfig, IBConnection
from ibbot.broker.requests import IBRequests, RequestPolicy, safe_pacing_rules
from ibbot.bus import EventBus
from ibbot.clock import Clock, WallClock
from ibbot.pacing import IBPacer
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.store import AsyncStore, ParquetStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from ibbot.models import Event, EventType

# Monday 2 March 2026, 10:00 US/Eastern: half an hour into a regular session.
TRADING_START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SCALE = 60.0
DEADLINE = 10.0


def sim_config(**overrides: Any) -> SimConfig:
    """A test gateway: ephemeral ports, market open, time 60x faster, no control port."""
    values: dict[str, Any] = {
        "port": 0,
        "control_port": None,
        "start": TRADING_START,
        "time_scale": SCALE,
    }
    values.update(overrides)
    return SimConfig(**values)


def connection_config(
    gateway: SimulatedGateway, client_id: int = 1, **overrides: Any
) -> ConnectionConfig:
    """Fast reconnects and short grace periods, for tests."""
    config = ConnectionConfig(
        host="127.0.0.1",
        port=gateway.port,
        client_id=client_id,
        connect_timeout=5.0,
        backoff=Backoff(initial=0.05, maximum=0.4),
        farm_grace=0.5,
    )
    return dataclasses.replace(config, **overrides)


class Recorder:
    """A bus subscriber that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: EventType, symbol: str | None = None) -> list[Event]:
        """Recorded events of ``kind`` (for ``symbol`` when given)."""
        return [e for e in self.events if e.type is kind and (symbol is None or e.symbol == symbol)]

    async def wait_for(self, predicate: Callable[[], bool], *, seconds: float = DEADLINE) -> None:
        """Return once ``predicate()`` holds; fail the test after ``seconds``."""
        async with asyncio.timeout(seconds):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Harness:
    """A running gateway with a connected broker, a real bus, a real store and a recorder."""

    gateway: SimulatedGateway
    connection: IBConnection
    requests: IBRequests
    pacer: IBPacer
    bus: EventBus
    store: AsyncStore
    recorder: Recorder
    clock: WallClock

    @property
    def market_clock(self) -> Clock:
        """The simulated gateway's clock (the market's "now")."""
        return self.gateway.clock


@asynccontextmanager
async def harness(
    tmp_path: Path,
    *,
    client_id: int = 1,
    sim: dict[str, Any] | None = None,
    connection: dict[str, Any] | None = None,
    policy: RequestPolicy | None = None,
) -> AsyncIterator[Harness]:
    """Everything a broker test needs, torn down in reverse order."""
    clock = WallClock()
    recorder = Recorder()
    async with AsyncExitStack() as stack:
        gateway = await stack.enter_async_context(SimulatedGateway(sim_config(**(sim or {}))))
        store = await stack.enter_async_context(AsyncStore(ParquetStore(tmp_path / "data")))
        bus = EventBus(clock=clock)
        bus.subscribe("*", recorder, name="recorder", maxsize=100_000)
        await stack.enter_async_context(bus)
        conn = IBConnection(
            connection_config(gateway, client_id, **(connection or {})),
            clock=clock,
            market_clock=gateway.clock,
            publisher=bus,
        )
        await stack.enter_async_context(conn)
        # The gateway counts its pacing windows in simulated time, 60x faster than the wall clock.
        pacer = IBPacer(clock, safe_pacing_rules(scale=SCALE, margin=0.5))
        requests = IBRequests(
            conn,
            pacer,
            policy=policy or RequestPolicy(timeout=5.0, pacing_backoff=Backoff(0.1, 0.5)),
        )
        yield Harness(gateway, conn, requests, pacer, bus, store, recorder, clock)


@asynccontextmanager
async def background(*coroutines: Any) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run long-lived coroutines in a task group for the block's duration, then cancel them."""
    async with asyncio.TaskGroup() as tasks:
        running = [tasks.create_task(c) for c in coroutines]
        try:
            yield running
        finally:
            for task in running:
                task.cancel()
