"""Helpers for the orchestrator's tests: settings for a run, a running orchestrator, event waits.

Runs use either the embedded simulator (``ib.simulate``) or a :class:`SimulatedGateway` the test
starts itself (``port=gateway.port``), whose faults and truth the test controls; its clock starts
on a Wednesday at 10:00 New York time and runs 60x faster than the wall clock. Waits are on bus
events with a deadline that fails the test, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import copy
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibbot.app import Orchestrator
from ibbot.models import Event, EventType
from ibbot.settings import Settings
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable
    from pathlib import Path

    from ibbot.bus import EventBus, Subscription

# Wednesday 4 March 2026, 10:00 US/Eastern: half an hour into a regular session.
TRADING_START = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
# Saturday 7 March 2026, 12:00 US/Eastern: the market is closed all day.
WEEKEND_START = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)
SCALE = 60.0
DEADLINE = 20.0
STRATEGIES = "tests.integration.app_strategies."


def strategy(
    name: str, class_name: str, capital: float = 100_000.0, **params: Any
) -> dict[str, Any]:
    """A ``[[strategies]]`` entry for a test strategy (or a shipped one, by its class path)."""
    if "." not in class_name:
        # a decision on history waits this many bars for a fill that never comes: keep it short
        params = {"retry_after_bars": 1, **params}
    path = class_name if "." in class_name else STRATEGIES + class_name
    return {"name": name, "class_path": path, "allocated_capital": capital, "params": params}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def app_settings(
    root: Path,
    *,
    strategies: Iterable[dict[str, Any]],
    port: int | None = None,
    watchlist: Iterable[str] = ("AAPL", "MSFT"),
    **sections: Any,
) -> Settings:
    """Settings for a test run under ``root``: the embedded simulator, or the gateway on ``port``."""
    data = root / "data"
    base: dict[str, Any] = {
        "ib": {
            "simulate": port is None,
            "port": port or 4002,
            "client_id": 7,
            "connect_timeout": 10.0,
            "request_timeout": 10.0,
        },
        "store": {"path": data},
        "collector": {
            "watchlist": list(watchlist),
            "history_duration": "1 D",
            "report_types": ["ReportSnapshot"],
        },
        "risk": {"kill_switch_file": data / "KILL_SWITCH"},
        "app": {
            "control_port": None,
            "strategy_packages": ["tests.integration"],
            "summary_interval": 1.0,
            "shutdown_timeout": 5.0,
            "state_save_interval": 60.0,
            "reconcile_interval": 60.0,
        },
        "sim": {"start": TRADING_START, "time_scale": SCALE, "control_port": None},
        "strategies": list(strategies),
    }
    return Settings(**_merge(base, sections))


def gateway_config(**overrides: Any) -> SimConfig:
    """A gateway a test runs itself: ephemeral port, market open, 60x, no control port."""
    values: dict[str, Any] = {
        "port": 0,
        "control_port": None,
        "start": TRADING_START,
        "time_scale": SCALE,
    }
    values.update(overrides)
    return SimConfig(**values)


@asynccontextmanager
async def running_gateway(**overrides: Any) -> AsyncIterator[SimulatedGateway]:
    """A started gateway, closed on exit."""
    async with SimulatedGateway(gateway_config(**overrides)) as gateway:
        yield gateway


@asynccontextmanager
async def running(
    settings: Settings, gateway: SimulatedGateway | None = None
) -> AsyncIterator[Orchestrator]:
    """An orchestrator whose live feed is open; stopped gracefully (and checked to exit 0) on exit.

    Pass the ``gateway`` the settings point at, so the orchestrator knows its market clock.
    """
    orchestrator = Orchestrator(settings, market_clock=gateway.clock if gateway else None)
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(orchestrator.run(handle_signals=False))
        started = tasks.create_task(orchestrator.started.wait())
        async with asyncio.timeout(DEADLINE):
            await asyncio.wait((run, started), return_when=asyncio.FIRST_COMPLETED)
        if run.done():
            started.cancel()
            run.result()  # the error that stopped the start
            raise AssertionError("the orchestrator ended before it started")
        try:
            yield orchestrator
        finally:
            orchestrator.stop("the test is done")
    assert run.result() == 0


class Watch:
    """Events of some types from the running bus, in order, until the ``async with`` block ends.

    The queue is large and the block short, so the bus never waits on a test (BLOCK policy).
    """

    def __init__(self, bus: EventBus | None, *types: EventType) -> None:
        assert bus is not None, "the orchestrator is not running"
        self._bus = bus
        self._types = types
        self._queue: asyncio.Queue[Event] = asyncio.Queue(100_000)
        self._subscription: Subscription | None = None
        self.seen: list[Event] = []

    async def __aenter__(self) -> Watch:
        self._subscription = self._bus.subscribe(list(self._types), self._queue, name="test-watch")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._subscription is not None:
            self._bus.unsubscribe(self._subscription)

    async def until(self, predicate: Callable[[Event], bool], *, what: str = "event") -> Event:
        """The next event satisfying ``predicate`` (fails the test after DEADLINE seconds)."""
        try:
            async with asyncio.timeout(DEADLINE):
                while True:
                    event = await self._queue.get()
                    self.seen.append(event)
                    if predicate(event):
                        return event
        except TimeoutError:
            kinds = [f"{e.type.value}:{e.symbol}" for e in self.seen[-10:]]
            raise AssertionError(f"no {what} within {DEADLINE} s (last seen: {kinds})") from None


async def until_all(
    watch: Watch, *predicates: Callable[[Event], bool], what: str = "events"
) -> None:
    """Wait until every predicate has matched an event, in any order."""
    waiting = list(predicates)
    await watch.until(lambda event: _strike(waiting, event), what=what)


def _strike(waiting: list[Callable[[Event], bool]], event: Event) -> bool:
    for predicate in waiting:
        if predicate(event):
            waiting.remove(predicate)
            break
    return not waiting


def fill_of(strategy_name: str, symbol: str | None = None) -> Callable[[Event], bool]:
    """A predicate: a fill of ``strategy_name`` (in ``symbol``)."""

    def matches(event: Event) -> bool:
        fill = event.payload
        return (
            event.type is EventType.FILL
            and getattr(fill, "strategy_name", None) == strategy_name
            and (symbol is None or event.symbol == symbol)
        )

    return matches


def decision_of(
    strategy_name: str, *, outcome: str, rule: str | None = None
) -> Callable[[Event], bool]:
    """A predicate: a handled decision of ``strategy_name`` with ``outcome`` (blocked by ``rule``)."""

    def matches(event: Event) -> bool:
        if event.type is not EventType.DECISION or not isinstance(event.payload, dict):
            return False
        payload = event.payload
        return (
            payload["decision"].strategy_name == strategy_name
            and payload["outcome"] == outcome
            and (rule is None or payload["rule"] == rule)
        )

    return matches


def sim_positions(gateway: SimulatedGateway) -> dict[str, float]:
    """The simulated account's positions (non-zero), by symbol."""
    return {
        p["symbol"]: p["quantity"]
        for p in gateway.truth()["exchange"]["positions"]
        if p["quantity"]
    }


def sim_orders(gateway: SimulatedGateway) -> list[dict[str, Any]]:
    """Every order the simulated exchange received (open and completed)."""
    exchange = gateway.truth()["exchange"]
    return [*exchange["open_orders"], *exchange["completed_orders"]]


def book_totals(quantities: dict[str, dict[str, float]]) -> dict[str, float]:
    """A book's quantities summed over strategies, by symbol (non-zero)."""
    totals: dict[str, float] = {}
    for positions in quantities.values():
        for symbol, quantity in positions.items():
            totals[symbol] = totals.get(symbol, 0.0) + quantity
    return {s: q for s, q in totals.items() if abs(q) > 1e-9}
