"""The orchestrator: wires settings -> store -> gateway -> connection -> collectors -> bus -> strategies
-> trading -> executor, owns every long-lived task, and runs the lifecycle.

It holds no business logic: strategies decide (:mod:`ibbot.strategies`), the trading layer sizes
and checks (:mod:`ibbot.trading`), the live desk submits and books (:class:`~ibbot.live.LiveTrader`),
the broker talks to IB (:mod:`ibbot.broker`). What happens here is order:

Start
    a new run id; the gateway (the embedded simulator on a free loopback port when
    ``ib.simulate``); the store, stamping in market time; the bus; the connection (failing fast);
    the store's world checked (a store of another world refuses the start with one line) or
    recorded. Then every configured strategy is built, its saved state
    restored when it belongs to this account (:class:`~ibbot.live.StateKeeper`), and subscribed to
    the bus (its events wait until it is warm); the executor starts and catches up with what IB did
    while ibbot was away; audited fills since the last save are replayed. The watchlist's history
    is backfilled into the store and replayed to every strategy (warm-up: decisions on history are
    recorded, never traded); the book is reconciled with the broker; then the live feed opens and
    the collectors, fundamentals, periodic state saves, reconciliation, the summary line and the
    control endpoint start.

Stop (SIGINT/SIGTERM, ``--duration`` seconds after the live feed opened, or ``POST /stop``)
    Two phases. First stop intake: the collectors stop and new decisions are recorded but not
    traded. Then settle: orders in flight get up to ``app.shutdown_timeout`` seconds to finish (any
    still working stay at IB; the next run picks up their fills), the executor delivers what it
    has and lets go of IB, the bus drains into the strategies and the book, every strategy's state
    and the book are saved, the store is flushed, and the resources close in reverse order. A
    second signal cancels everything at once (exit code 130).

Hot add and remove
    :meth:`Orchestrator.add_strategy` builds, restores and warms a strategy and subscribes it;
    :meth:`Orchestrator.remove_strategy` unsubscribes it and saves its state (its positions stay in
    the book). Both are reachable while running through the control endpoint
    (:mod:`ibbot.live.control`, ``ibbot strategies add|remove``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot import __version__
from ibbot.broker.backfill import Backfill
from ibbot.broker.bars import parse_duration
from ibbot.broker.collector import CollectorConfig, IBCollector
from ibbot.broker.connection import ConnectionConfig, HookPhase, IBConnection, SessionChange
from ibbot.broker.executor import ExecutorConfig, OrderExecutor
from ibbot.broker.fundamentals import REPORT_SNAPSHOT
from ibbot.broker.fundamentals_source import IBFundamentalsSource
from ibbot.broker.requests import IBRequests, RequestPolicy, safe_pacing_rules
from ibbot.bus import EventBus, OverflowPolicy, Subscription
from ibbot.clock import ScaledClock, WallClock
from ibbot.errors import ConfigError, IbbotError, SessionEnded
from ibbot.fundamentals import FundamentalsOutcome, FundamentalsService, open_sources
from ibbot.gateway import GatewayTarget, open_gateway
from ibbot.live.activity import Activity, summary_line
from ibbot.live.banner import RunFacts, banner_lines
from ibbot.live.control import ControlServer
from ibbot.live.dashboard import (
    FEED_EVENTS,
    DashboardFeed,
    book_view,
    dashboard_routes,
    load_assets,
    orders_view,
)
from ibbot.live.history import history_events
from ibbot.live.lifecycle import LifecycleLog
from ibbot.live.metrics import METRIC_EVENTS, ServiceMetrics
from ibbot.live.notify import NOTIFY_EVENTS, Notifier
from ibbot.live.runner import RunnerState, StrategyRunner
from ibbot.live.signals import shutdown_signals
from ibbot.live.state import BOOK_STATE, FreshAccountStore, StateKeeper
from ibbot.live.trader import LiveTrader
from ibbot.logs import market_time, mask_id, show_banner
from ibbot.models import ContractInfo, ErrorInfo, Event, EventType
from ibbot.pacing import IBPacer
from ibbot.runs import new_run_id
from ibbot.settings import StrategySettings
from ibbot.store import AsyncStore, InvalidStoreInput
from ibbot.store.atomic import remove_leftover_temp_files
from ibbot.store.factory import claim_store_world, open_store
from ibbot.store.layout import StoreLayout
from ibbot.strategies import create_strategy
from ibbot.trading import PositionBook, RiskGate, RiskLimits

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from pathlib import Path

    from ibbot.broker.ports import BrokerStore
    from ibbot.clock import Clock
    from ibbot.settings import Settings
    from ibbot.sim import SimulatedGateway
    from ibbot.store.world import World
    from ibbot.strategies import Strategy

__all__ = ["EXIT_FORCED", "EXIT_OK", "Orchestrator", "shutdown_budget"]

log = structlog.get_logger(__name__)

EXIT_OK: Final = 0
EXIT_FORCED: Final = 130  # a second signal: stopped without draining or saving

# Bounds of the shutdown steps after the orders have settled (app.shutdown_timeout): the executor's
# last deliveries, the bus draining into the strategies, the book catching up, the connection's
# last status events. Their sum plus app.shutdown_timeout is what a container must be given.
_EXECUTOR_FLUSH: Final = 5.0
_BUS_DRAIN: Final = 5.0
_FILLS_DRAIN: Final = 5.0
_DISCONNECT: Final = 5.0
_SAVE_AND_FLUSH: Final = 10.0
# Queue bounds: a strategy's events (BLOCK: a decision is never lost; strategies are synchronous
# and pure, so they cannot stall on I/O), the store's events (BLOCK, batched writes in a thread),
# the activity monitor (CONFLATE: the latest event per type and symbol).
_STRATEGY_QUEUE: Final = 1_024
_STORE_QUEUE: Final = 10_000
_ACTIVITY_QUEUE: Final = 4_096
# The dashboard, the metrics and the notifier follow the bus through queues that drop their
# oldest events when full: watching must never slow trading.
_WATCH_QUEUE: Final = 4_096
# IB's account values the dashboard and the metrics show.
_ACCOUNT_TAGS: Final = {
    "NetLiquidation": "net_liquidation",
    "TotalCashValue": "cash",
    "BuyingPower": "buying_power",
}
_STORE_FLUSH_SECONDS: Final = 5.0
_LEFTOVER_EXAMPLES: Final = 5


def shutdown_budget(settings: Settings) -> float:
    """The longest a graceful shutdown can take, in seconds (a container's stop grace must exceed it)."""
    return (
        settings.app.shutdown_timeout
        + _EXECUTOR_FLUSH
        + _BUS_DRAIN
        + _FILLS_DRAIN
        + _DISCONNECT
        + _SAVE_AND_FLUSH
    )


@dataclass(slots=True)
class _Running:
    """A strategy in the live loop: its runner, its bus subscription and its settings."""

    runner: StrategyRunner
    subscription: Subscription
    config: StrategySettings


@dataclass(slots=True)
class _Live:
    """What runs only once the live feed is open."""

    collector: IBCollector
    collector_task: asyncio.Task[None]
    fundamentals: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Watch:
    """Who watches the run: the dashboard's feed, the metrics, the notifier (when configured)."""

    feed: DashboardFeed
    metrics: ServiceMetrics
    notifier: Notifier | None


@dataclass(slots=True)
class _Parts:
    """What a run wires together (set once the connection is up)."""

    store: AsyncStore
    target: GatewayTarget
    bus: EventBus
    connection: IBConnection
    requests: IBRequests
    executor: OrderExecutor
    trader: LiveTrader
    keeper: StateKeeper
    lifecycle: LifecycleLog
    activity: Activity
    tasks: asyncio.TaskGroup
    watch: _Watch


class Orchestrator:
    """Runs ibbot's main job from validated settings (see the module docstring).

    ``await Orchestrator(settings).run(duration=60)`` returns an exit code. :attr:`started` is set
    once the live feed is open; :meth:`stop` begins the graceful shutdown from anywhere.
    :attr:`fundamentals` holds each symbol's latest fundamentals outcome; :attr:`run_id` and
    :attr:`world` are the run's id and world once it has started (:mod:`ibbot.runs`,
    :mod:`ibbot.store.world`).
    ``market_clock`` is the time at a gateway that is not embedded when it is not the wall clock
    (a simulated gateway run elsewhere with its own start and speed); an embedded simulator
    brings its own.
    """

    def __init__(self, settings: Settings, *, market_clock: Clock | None = None) -> None:
        self.settings = settings
        self._market_clock = market_clock
        self.started = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stop_reason = ""
        self._forced = False
        self._duration: float | None = None
        self._work: asyncio.Task[None] | None = None
        self._parts: _Parts | None = None
        self._running: dict[str, _Running] = {}
        self._contracts: dict[str, ContractInfo] = {}
        self._adding = asyncio.Lock()
        self._sources = settings.app.strategy_sources()
        self.fundamentals: dict[str, FundamentalsOutcome] = {}
        self.run_id = ""
        self.world: World | None = None

    # --- public API -------------------------------------------------------------------------------

    @property
    def simulator(self) -> SimulatedGateway | None:
        """The embedded simulated gateway of this run (None against a real gateway or before start)."""
        return None if self._parts is None else self._parts.target.simulator

    @property
    def bus(self) -> EventBus | None:
        """The event bus while running."""
        return None if self._parts is None else self._parts.bus

    @property
    def trader(self) -> LiveTrader | None:
        """The live trading desk while running."""
        return None if self._parts is None else self._parts.trader

    @property
    def strategies(self) -> dict[str, StrategyRunner]:
        """The strategies in the live loop (running, disabled or warming up), by name."""
        return {name: running.runner for name, running in self._running.items()}

    @property
    def connection(self) -> IBConnection | None:
        """The connection to the gateway while running."""
        return None if self._parts is None else self._parts.connection

    @property
    def requests(self) -> IBRequests | None:
        """The paced requests to the gateway (positions, contracts...) while running."""
        return None if self._parts is None else self._parts.requests

    @property
    def executor(self) -> OrderExecutor | None:
        """The order executor while running (orders sent here bypass the strategies' risk gate)."""
        return None if self._parts is None else self._parts.executor

    def stop(self, reason: str = "requested") -> None:
        """Begin the graceful shutdown (idempotent)."""
        if not self._stopping.is_set():
            self._stop_reason = reason
            self._stopping.set()

    def force(self, reason: str = "forced") -> None:
        """Stop at once: cancel everything, without draining or saving."""
        self._forced = True
        self._stop_reason = reason
        if self._work is not None:
            self._work.cancel()

    async def run(self, *, duration: float | None = None, handle_signals: bool = True) -> int:
        """Run until stopped (a signal, ``duration`` seconds, :meth:`stop`); return the exit code.

        ``duration`` counts from when the live feed opens (:attr:`started`), not from the call.

        Failures come out as themselves (a :class:`~ibbot.errors.ConfigError`, a
        :class:`~ibbot.errors.ConnectionFailed`...), not wrapped in exception groups.
        """
        self._duration = duration
        with (
            shutdown_signals(self._on_signal, self.force)
            if handle_signals
            else contextlib.nullcontext()
        ):
            try:
                async with asyncio.TaskGroup() as outer:
                    self._work = outer.create_task(self._serve(), name="ibbot-main")
                    timer = (
                        outer.create_task(self._stop_after(duration), name="ibbot-duration")
                        if duration is not None
                        else None
                    )
                    await asyncio.wait([self._work])
                    if timer is not None:
                        timer.cancel()
            except BaseExceptionGroup as group:
                raise _single(group) from None
        return EXIT_FORCED if self._forced else EXIT_OK

    def _fundamentals_seen(self, outcome: FundamentalsOutcome) -> None:
        """The latest fundamentals outcome of each symbol (which source answered, or why none)."""
        self.fundamentals[outcome.symbol] = outcome

    def _on_signal(self, name: str) -> None:
        self.stop(f"signal {name}")

    async def add_strategy(self, config: StrategySettings) -> None:
        """Start a strategy now: build it, restore its state, warm it up, subscribe it."""
        parts = self._require_running()
        async with self._adding:
            if config.name in self._running:
                raise ConfigError("strategies.name", config.name, "a strategy of that name runs")
            running = await self._start_strategy(parts, config, self._build(config))
            await self._warm_up(parts, [running])
            running.runner.go_live()
            parts.lifecycle.note(
                "app.strategy_added",
                strategy=config.name,
                class_path=config.class_path,
                allocated_capital=config.allocated_capital,
            )

    async def remove_strategy(self, name: str) -> None:
        """Stop a strategy now and save its state; its positions stay in the book."""
        parts = self._require_running()
        running = self._running.pop(name, None)
        if running is None:
            raise ConfigError("strategies.name", name, "no strategy of that name runs")
        running.runner.stop()
        parts.bus.unsubscribe(running.subscription)
        await parts.keeper.save_strategy(running.runner.strategy)
        parts.lifecycle.note(
            "app.strategy_removed",
            strategy=name,
            positions={s: p.quantity for s, p in parts.trader.book.positions(name).items()},
        )

    async def adopt_positions(self, symbols: list[str]) -> list[dict[str, Any]]:
        """Take the broker's positions in ``symbols`` into the book and lift their halts (audited).

        What ``ibbot reconcile --adopt SYMBOL`` asks the running service for (see
        :meth:`~ibbot.live.LiveTrader.adopt_broker`).
        """
        parts = self._require_running()
        for symbol in symbols:
            StoreLayout.symbol(symbol)  # InvalidStoreInput names the bad one
        with parts.connection.session_scope():
            return await parts.trader.adopt_broker(symbols)

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot: strategies, positions (with costs, values and P&L), orders,
        the account, the connection, the kill switch, the market time."""
        parts = self._parts
        if parts is None:
            return {"state": "starting"}
        trader = parts.trader
        target = parts.target
        now = target.market_clock.now()
        values = parts.connection.account_values(_ACCOUNT_TAGS)
        book = book_view(trader.book, parts.activity.prices, self._running, now)
        return {
            "state": "stopping" if self._stopping.is_set() else "running",
            "connection": parts.connection.state.value,
            "gateway": {"simulated": target.embedded, "host": target.host, "port": target.port},
            "market_time": now.isoformat(),
            "account": {name: values.get(tag) for tag, name in _ACCOUNT_TAGS.items()},
            "book": {"positions": book["positions"]},
            "pnl": book["pnl"],
            "orders": orders_view(parts.executor.open_orders()),
            "symbols": sorted(self._contracts),
            "strategies": {
                name: {
                    "state": running.runner.state.value,
                    "class_path": running.config.class_path,
                    "events": running.runner.events,
                    "decisions": running.runner.decisions,
                    "failures": running.runner.failures,
                }
                for name, running in self._running.items()
            },
            "positions": trader.book.quantities(),
            "open_orders": trader.open_order_count(),
            "halted": dict(trader.gate.halted_symbols),
            "kill_switch": trader.gate.kill_switch.reason or None,
            "stats": dataclasses.asdict(trader.stats),
        }

    # --- what the dashboard shows and steers -------------------------------------------------------

    @property
    def dashboard(self) -> DashboardFeed | None:
        """The dashboard's feed while running."""
        return None if self._parts is None else self._parts.watch.feed

    def metrics_exposition(self) -> bytes:
        """Every metric in Prometheus' text format (empty before the start)."""
        return b"" if self._parts is None else self._parts.watch.metrics.exposition()

    async def engage_kill_switch(self, reason: str, *, by: str) -> None:
        """Refuse every new order from now on (audited, ``by`` saying who)."""
        await self._require_running().trader.engage_kill_switch(reason, by=by)

    async def release_kill_switch(self, *, by: str) -> bool:
        """Release the kill switch (and remove its file); True when orders may go again."""
        return await self._require_running().trader.release_kill_switch(by=by)

    async def disable_strategy(self, name: str, *, by: str) -> None:
        """Stop feeding a strategy (it keeps its positions and state; enable resumes it)."""
        parts = self._require_running()
        running = self._running.get(name)
        if running is None:
            raise ConfigError("strategies.name", name, "no strategy of that name runs")
        if running.runner.state is RunnerState.DISABLED:
            return
        running.runner.disable()
        parts.bus.unsubscribe(running.subscription)
        parts.lifecycle.note(
            "app.strategy_disabled", strategy=name, warning=True, reason=f"disabled by {by}", by=by
        )

    async def enable_strategy(self, name: str, *, by: str) -> None:
        """Feed a disabled strategy again, from the next event on (what it missed is not replayed)."""
        parts = self._require_running()
        running = self._running.get(name)
        if running is None:
            raise ConfigError("strategies.name", name, "no strategy of that name runs")
        if running.runner.state is not RunnerState.DISABLED:
            raise IbbotError(f"strategy {name} is {running.runner.state.value}, not disabled")
        running.runner.enable()
        running.subscription = parts.bus.subscribe(
            running.runner.subscriptions,
            running.runner.handle,
            name=f"strategy:{name}",
            maxsize=_STRATEGY_QUEUE,
        )
        parts.lifecycle.note("app.strategy_enabled", strategy=name, by=by)

    # --- the run ----------------------------------------------------------------------------------

    async def _serve(self) -> None:
        settings = self.settings
        # Every configured strategy is built before anything starts: one that cannot be (not an
        # allowed class, bad params, a failing constructor) refuses the start, naming it.
        for config in settings.strategies:
            _check_name(config.name)
        built = {c.name: self._build(c) for c in settings.strategies if c.enabled}
        wall = WallClock()
        run_id = self.run_id = new_run_id(wall.now())
        root = settings.store.path
        await _remove_leftovers(root)
        async with AsyncExitStack() as stack:
            target = await stack.enter_async_context(
                open_gateway(settings, control=True, session=run_id)
            )
            if self._market_clock is not None and not target.embedded:
                # A simulator elsewhere counts IB's pacing windows in its own (scaled) time.
                scale = (
                    self._market_clock.scale if isinstance(self._market_clock, ScaledClock) else 1.0
                )
                target = GatewayTarget(
                    target.host, target.port, self._market_clock, time_scale=scale
                )
            market = target.market_clock
            stack.enter_context(market_time(market))  # the console's times are the market's
            # Audit lines and saved state are stamped in market time, as events are filed.
            store = await stack.enter_async_context(
                AsyncStore(open_store(settings.store, clock=market, run_id=run_id))
            )
            self._announce(target)
            bus = await stack.enter_async_context(EventBus())
            connection = IBConnection(
                ConnectionConfig.from_settings(settings.ib, host=target.host, port=target.port),
                clock=wall,
                market_clock=market,
                publisher=bus,
            )
            await stack.enter_async_context(connection)
            self._banner(target, connection)
            requests = IBRequests(
                connection,
                IBPacer(
                    wall,
                    safe_pacing_rules(scale=target.time_scale, strict=settings.ib.strict_pacing),
                ),
                policy=RequestPolicy.from_settings(settings.ib),
            )
            sources = await stack.enter_async_context(
                open_sources(
                    settings.fundamentals,
                    store=store,
                    clock=wall,
                    provided={"ib": IBFundamentalsSource(requests, store, market)},
                )
            )
            account = connection.account
            embedded = target.embedded
            # Nothing of this run reaches the store before it is known to be this world's.
            self.world = await asyncio.to_thread(
                claim_store_world,
                settings,
                store.store,
                simulated=embedded,
                seed=settings.sim.seed,
                account=account,
                run_id=run_id,
                now=market.now(),
            )
            keeper = StateKeeper(
                store, account=account, embedded=embedded, clock=market, run_id=run_id
            )
            executor_store: BrokerStore = (
                FreshAccountStore(store.store, run_id=run_id) if embedded else store
            )
            executor = OrderExecutor(
                connection,
                requests,
                executor_store,
                bus,
                config=ExecutorConfig.from_settings(settings.ib),
            )
            lifecycle = LifecycleLog(store, market)
            book = await keeper.load_book() or PositionBook()
            activity = Activity()
            trader = LiveTrader(
                store=store,
                orders=executor,
                positions=requests,
                book=book,
                gate=RiskGate(
                    RiskLimits(**settings.risk.model_dump()),
                    monotonic=wall.monotonic,
                    account=account,
                    allow_live=settings.ib.allow_live_trading,
                    read_only=settings.ib.readonly,
                ),
                price=activity.price,
                clock=market,
                wall=wall,
                lifecycle=lifecycle,
                publish=bus.publish,
            )
            self._subscribe_services(bus, store, trader, activity)
            watch = self._watchers(
                bus,
                requests=requests,
                trader=trader,
                connection=connection,
                lifecycle=lifecycle,
                market=market,
            )
            try:
                async with asyncio.TaskGroup() as tasks:
                    parts = _Parts(
                        store,
                        target,
                        bus,
                        connection,
                        requests,
                        executor,
                        trader,
                        keeper,
                        lifecycle,
                        activity,
                        tasks,
                        watch,
                    )
                    self._parts = parts
                    await self._lifetime(parts, sources, built)
            finally:
                self._parts = None

    async def _lifetime(
        self, parts: _Parts, sources: list[Any], built: dict[str, Strategy]
    ) -> None:
        settings = self.settings
        tasks = parts.tasks
        background: list[asyncio.Task[None]] = []

        def start(name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
            task = tasks.create_task(work, name=f"ibbot-{name}")
            background.append(task)
            return task

        start("lifecycle", parts.lifecycle.run())
        start("trader", parts.trader.run())
        executor_task = start("executor", parts.executor.run())
        start("store-flush", parts.store.flush_periodically(WallClock(), _STORE_FLUSH_SECONDS))
        start("dashboard", parts.watch.feed.run())
        if parts.watch.notifier is not None:
            start("notify", parts.watch.notifier.run())
        parts.lifecycle.note(
            "app.starting",
            run_id=self.run_id,
            world=None if self.world is None else self.world.key,
            store=str(settings.store.path),
            simulated=parts.target.embedded,
            watchlist=list(settings.collector.watchlist),
            strategies=[s.name for s in settings.strategies if s.enabled],
            restoring=parts.keeper.restoring,
        )
        live: _Live | None = None
        try:
            if await _unless(self._stopping, self._start(parts, built)):
                live = await self._go_live(parts, sources, start)
            await self._stopping.wait()
            await self._shutdown(parts, live, executor_task)
        finally:
            gc.unfreeze()
            for task in background:
                task.cancel()

    async def _go_live(
        self,
        parts: _Parts,
        sources: list[Any],
        start: Callable[[str, Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> _Live:
        """Start the collectors and the periodic work; the live feed is open."""
        settings = self.settings
        collector = self._collector(parts)
        live = _Live(collector, start("collector", collector.run()))
        if sources and self._contracts:
            service = FundamentalsService(
                sources, parts.store, clock=parts.target.market_clock, publish=parts.bus.publish
            )
            interval = settings.collector.fundamental_refresh_hours * 3_600
            live.fundamentals = start(
                "fundamentals",
                service.run(
                    sorted(self._contracts), interval=interval, on_outcome=self._fundamentals_seen
                ),
            )
        start("state-saver", self._every(settings.app.state_save_interval, self._save_all))
        start("reconciler", self._every(settings.app.reconcile_interval, self._reconcile))
        start("summary", self._every(settings.app.summary_interval, self._summarize))
        if settings.app.control_port is not None:
            assets = await asyncio.to_thread(load_assets)
            remote = settings.app.control_remote
            server = ControlServer(
                self,
                port=settings.app.control_port,
                directory=settings.store.path,
                host=settings.app.control_host,
                remote=remote,
                pages=lambda token, port: dashboard_routes(
                    self, token=token, port=port, remote=remote, assets=assets
                ),
            )
            serving = start("control", server.serve())
            await _either(server.ready, serving)  # a server that cannot listen fails the group
        # What start-up built (modules, settings, contracts, history) lives for the whole run: out
        # of the collector's sight, a full collection while trading scans only what trading made
        # (it stalled the loop ~50 ms otherwise: a tick arriving then waits as long).
        gc.collect()
        gc.freeze()
        self.started.set()
        parts.lifecycle.note(
            "app.started",
            strategies=sorted(self._running),
            symbols=sorted(self._contracts),
            paper=parts.connection.is_paper,
        )
        return live

    async def _start(self, parts: _Parts, built: dict[str, Strategy]) -> None:
        """Everything between the connection and the open live feed (see the module docstring)."""
        for config in self.settings.strategies:
            if config.enabled:
                await self._start_strategy(parts, config, built[config.name])
        await self._replay_fills(parts)
        collector = IBCollector(
            parts.connection,
            parts.requests,
            parts.store,
            None,
            config=CollectorConfig(tuple(self.settings.collector.watchlist), fundamentals=None),
        )
        self._contracts = await collector.qualify()
        await self._backfill(parts)
        await self._warm_up(parts, list(self._running.values()))
        # From here every new session reconciles the book; the start's own reconciliation covers
        # the current one (and is skipped if it ends on the way: the next one's hooks run).
        parts.connection.add_session_hook(self._on_session_change, phase=HookPhase.POSITIONS)
        await self._reconcile_book(parts, "start", recover=True)
        for running in self._running.values():
            running.runner.go_live()

    def _collector(self, parts: _Parts) -> IBCollector:
        """The live collector: ticks and bars and, of IB's reports, only those no source gives.

        ReportSnapshot comes through the fundamentals service (the configured sources in priority
        order, "ib" among them when configured); asking the collector's refresher for it too would
        fetch it twice. IB's statement reports have no other source, so the refresher keeps them
        while "ib" is a configured source.
        """
        settings = self.settings
        config = CollectorConfig.from_settings(settings.collector)
        refresh = config.fundamentals
        extra = tuple(r for r in settings.collector.report_types if r != REPORT_SNAPSHOT)
        if refresh is not None:
            refresh = (
                dataclasses.replace(refresh, report_types=extra)
                if extra and "ib" in settings.fundamentals.sources
                else None
            )
        return IBCollector(
            parts.connection,
            parts.requests,
            parts.store,
            parts.bus,
            config=dataclasses.replace(config, fundamentals=refresh),
        )

    def _subscribe_services(
        self, bus: EventBus, store: AsyncStore, trader: LiveTrader, activity: Activity
    ) -> None:
        # Statuses too: an order works until its last fill is booked, whichever comes first.
        bus.subscribe([EventType.FILL, EventType.ORDER_STATUS], trader.fills, name="trader-fills")
        activity.subscription = bus.subscribe(
            "*",
            activity.observe,
            name="activity",
            maxsize=_ACTIVITY_QUEUE,
            overflow=OverflowPolicy.CONFLATE,
        )
        kept = [t for t in EventType if t is not EventType.TICK]
        bus.subscribe(kept, store.write_event, name="store-events", maxsize=_STORE_QUEUE)
        if self.settings.app.store_ticks:
            bus.subscribe(
                [EventType.TICK],
                store.write_event,
                name="store-ticks",
                maxsize=_STORE_QUEUE,
                overflow=OverflowPolicy.CONFLATE,
            )

    def _watchers(
        self,
        bus: EventBus,
        *,
        requests: IBRequests,
        trader: LiveTrader,
        connection: IBConnection,
        lifecycle: LifecycleLog,
        market: Clock,
    ) -> _Watch:
        """The dashboard's feed, the metrics and the notifier, each on its own dropping queue."""
        wall = WallClock()
        feed = DashboardFeed(status=self.status, wall=wall)
        metrics = ServiceMetrics(
            bus=bus,
            pacer=requests.pacer,
            pacing_violations=lambda: requests.pacing_violations,
            strategies=lambda: self.strategies,
            open_orders=trader.open_order_count,
            status=self.status,
            connected=lambda: connection.is_ready,
            wall=wall,
        )
        notify = self.settings.notify
        notifier = None
        if notify.urls or notify.urls_file is not None:
            notifier = Notifier(notify, market=market, wall=wall, summary=self.status)
        watchers: list[tuple[str, tuple[EventType, ...], Callable[[Event], None]]] = [
            ("dashboard", FEED_EVENTS, feed.observe),
            ("metrics", METRIC_EVENTS, metrics.observe),
        ]
        lifecycle.listen(feed.on_lifecycle)
        if notifier is not None:
            watchers.append(("notify", NOTIFY_EVENTS, notifier.observe))
            lifecycle.listen(notifier.on_lifecycle)
        for name, types, handler in watchers:
            bus.subscribe(
                list(types),
                handler,
                name=name,
                maxsize=_WATCH_QUEUE,
                overflow=OverflowPolicy.DROP_OLDEST,
            )
        return _Watch(feed, metrics, notifier)

    # --- strategies -------------------------------------------------------------------------------

    def _build(self, config: StrategySettings) -> Strategy:
        """The strategy ``config`` describes; :class:`ConfigError` when it cannot be built."""
        _check_name(config.name)
        return create_strategy(
            config.class_path,
            name=config.name,
            allocated_capital=config.allocated_capital,
            params=config.params,
            sources=self._sources,
        )

    async def _start_strategy(
        self, parts: _Parts, config: StrategySettings, strategy: Strategy
    ) -> _Running:
        """Restore and subscribe one built strategy (its events wait until it goes live)."""
        try:
            restored = await parts.keeper.restore(strategy)
        except IbbotError as exc:
            raise ConfigError(
                f"state of strategy {config.name}",
                "state/" + config.name + ".json",
                f"cannot be restored ({exc}); fix or move the file to start it afresh",
            ) from exc
        runner = StrategyRunner(
            strategy,
            sink=parts.trader,
            clock=parts.target.market_clock,
            max_failures=self.settings.app.max_strategy_failures,
            on_disabled=self._on_disabled,
            run_id=self.run_id,
        )
        try:
            subscription = parts.bus.subscribe(
                runner.subscriptions,
                runner.handle,
                name=f"strategy:{config.name}",
                maxsize=_STRATEGY_QUEUE,
            )
        except ValueError as exc:
            raise ConfigError(f"strategies.{config.name}", config.class_path, str(exc)) from exc
        running = _Running(runner, subscription, config)
        self._running[config.name] = running
        positions = {s: p.quantity for s, p in strategy.get_positions().items()}
        if restored and not parts.trader.book.positions(config.name) and positions:
            parts.trader.book.seed(config.name, strategy.get_positions().values())
        log.info(
            "app.strategy_ready",
            strategy=config.name,
            restored=restored,
            positions=positions,
            subscriptions=runner.subscriptions,
        )
        return running

    def _on_disabled(self, runner: StrategyRunner, reason: str) -> None:
        parts = self._parts
        running = self._running.get(runner.name)
        if parts is None or running is None:
            return
        parts.lifecycle.note(
            "app.strategy_disabled", strategy=runner.name, warning=True, reason=reason
        )
        parts.bus.unsubscribe(running.subscription)
        now = parts.target.market_clock.now()
        error = ErrorInfo(f"strategy {runner.name} disabled: {reason}", request="strategy")
        try:
            parts.bus.publish_nowait(Event(EventType.ERROR, None, now, error, "app"))
        except IbbotError as exc:  # a full or closing bus: the lifecycle audit has it
            log.debug("app.error_not_published", error=str(exc))

    async def _replay_fills(self, parts: _Parts) -> None:
        """Audited fills since the last save into the restored book and strategies (idempotent)."""
        fills = await parts.keeper.fills_since_save()
        for fill in fills:
            parts.trader.book_fill(fill)
            event = Event(EventType.FILL, fill.symbol, fill.timestamp, fill, "audit")
            running = self._running.get(fill.strategy_name)
            if running is not None:
                running.runner.deliver(event)
        if fills:
            log.info("app.fills_replayed", fills=len(fills))

    async def _backfill(self, parts: _Parts) -> None:
        """The history window of the watchlist into the store, before the strategies warm up."""
        collector = self.settings.collector
        if not self._contracts:
            return
        report = await Backfill(parts.requests, parts.store, parts.target.market_clock).run(
            list(self._contracts.values()),
            bar_size=collector.bar_size,
            duration=collector.history_duration,
            what_to_show=collector.what_to_show,
            use_rth=collector.use_rth,
        )
        log.info(
            "app.history_ready",
            bars=report.bars,
            requests=report.planned,
            failed=report.failed,
            duration=collector.history_duration,
        )

    async def _warm_up(self, parts: _Parts, strategies: list[_Running]) -> None:
        """Replay the stored history window to ``strategies``; their decisions are not traded."""
        collector = self.settings.collector
        now = parts.target.market_clock.now()
        history = await history_events(
            parts.store,
            sorted(self._contracts) or list(collector.watchlist),
            start=now - parse_duration(collector.history_duration),
            end=now,
            bar_size=collector.bar_size,
        )
        for running in strategies:
            runner = running.runner
            made = await runner.warm_up(history)
            log.info(
                "app.warmed_up",
                strategy=runner.name,
                events=len(history),
                decisions_not_traded=made,
            )

    # --- periodic work ----------------------------------------------------------------------------

    async def _every(self, seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        clock = WallClock()
        while True:
            await clock.sleep(seconds)
            await work()

    async def _stop_after(self, seconds: float) -> None:
        # Counted from when the live feed opens: start-up (connect, backfill, warm-up) takes as long
        # as the gateway and the machine make it, and a one-minute demo should trade for a minute.
        await self.started.wait()
        await WallClock().sleep(seconds)
        self.stop(f"--duration {seconds:g} s elapsed")

    async def _save_all(self) -> None:
        parts = self._parts
        if parts is None:
            return
        strategies = [r.runner.strategy for r in self._running.values()]
        failure = ""
        try:
            await parts.keeper.save(strategies, parts.trader.book)
        except IbbotError as exc:
            failure = str(exc)
        if failure:
            log.error("app.state_not_saved", error=failure)
            return
        log.debug("app.state_saved", strategies=len(strategies))

    async def _reconcile(self) -> None:
        parts = self._parts
        if parts is not None and parts.connection.is_ready:
            # Normally the session's hooks have recovered its executions; if that failed (a
            # timeout), this round asks IB for them itself.
            recovered = parts.executor.reconciled_session == parts.connection.session
            await self._reconcile_book(parts, "periodic", recover=not recovered)

    async def _reconcile_book(self, parts: _Parts, reason: str, *, recover: bool) -> None:
        """Compare the book with IB's positions once the session's executions are booked.

        Bound to the current session: the executions IB reported in it (fetched first when
        ``recover``) are booked before the positions are asked for, and a drop on the way ends
        the reconciliation (the next session's hooks reconcile again) instead of comparing the
        book with positions of a session whose fills it has not seen.
        """
        skipped = ""
        try:
            with parts.connection.session_scope() as session:
                if recover:
                    await parts.executor.reconcile()
                if parts.executor.reconciled_session == session:
                    await parts.trader.reconcile(reason)
                else:
                    skipped = f"the executions of session {session} are not reconciled"
        except SessionEnded as exc:
            skipped = str(exc)
        if skipped:
            log.warning("reconciliation.skipped", reason=reason, error=skipped)

    async def _summarize(self) -> None:
        parts = self._parts
        if parts is None:
            return
        trader = parts.trader
        positions, realized, unrealized = summary_line(
            trader.book, parts.activity.prices, self._running
        )
        stats = trader.stats
        log.info(
            "app.summary",
            positions=positions,
            realized_pnl=round(realized, 2),
            unrealized_pnl=round(unrealized, 2),
            events_per_s=round(
                parts.activity.events_since_last_call() / self.settings.app.summary_interval, 1
            ),
            decisions=stats.decisions,
            orders=stats.sent,
            fills=stats.fills,
            blocked=stats.blocked,
            open_orders=trader.open_order_count(),
            connection=parts.connection.state.value,
        )

    async def _on_session_change(self, change: SessionChange) -> None:
        parts = self._parts
        if parts is None:
            return
        parts.trader.gate.account = parts.connection.account
        # The executor's hook (an earlier phase) has recovered this session's executions.
        await self._reconcile_book(parts, f"after {change.value}", recover=False)

    # --- shutdown ---------------------------------------------------------------------------------

    async def _shutdown(
        self, parts: _Parts, live: _Live | None, executor_task: asyncio.Task[None]
    ) -> None:
        settings = self.settings
        parts.lifecycle.note("app.stopping", reason=self._stop_reason)
        # Phase 1: stop intake.
        parts.trader.close_intake()
        if parts.watch.notifier is not None:
            parts.watch.notifier.closing()
        if live is not None:
            live.collector.stop()
            if live.fundamentals is not None:
                live.fundamentals.cancel()
            await asyncio.wait([live.collector_task])
        # Phase 2: settle, deliver, save, flush.
        unsettled = await parts.trader.settle(settings.app.shutdown_timeout)
        await _bounded(_EXECUTOR_FLUSH, parts.executor.flush(), "executor flush")
        executor_task.cancel()  # no more fills taken from IB now: the next run asks for them
        await asyncio.wait([executor_task])
        await _bounded(_DISCONNECT, parts.connection.close(), "disconnect")
        await parts.bus.close(drain=True, timeout=_BUS_DRAIN)
        await _bounded(_FILLS_DRAIN, parts.trader.fills.join(), "fills")
        await self._save_all()
        parts.lifecycle.note(
            "app.stopped",
            reason=self._stop_reason,
            orders_still_working=unsettled,
            positions=parts.trader.book.quantities(),
        )
        await _bounded(_SAVE_AND_FLUSH, parts.lifecycle.flush(), "lifecycle audit")
        await parts.store.flush()

    # --- helpers ----------------------------------------------------------------------------------

    def _require_running(self) -> _Parts:
        parts = self._parts
        if parts is None or not self.started.is_set() or self._stopping.is_set():
            raise IbbotError("ibbot is not running (starting or stopping): try again")
        return parts

    def _banner(self, target: GatewayTarget, connection: IBConnection) -> None:
        settings = self.settings
        simulator = target.simulator
        show_banner(
            banner_lines(
                RunFacts(
                    version=__version__,
                    simulator=None
                    if simulator is None
                    else (
                        f"the embedded simulator (seed {settings.sim.seed}, {target.time_scale:g}x"
                        f" time; a new paper account every run) on port {target.port}"
                    ),
                    gateway=f"{target.host}:{target.port}",
                    paper=connection.is_paper,
                    allow_live=settings.ib.allow_live_trading,
                    read_only=settings.ib.readonly,
                    account=mask_id(connection.account) if connection.account else "(none named)",
                    market_now=target.market_clock.now(),
                    store=settings.store.path,
                    strategies=[s.name for s in settings.strategies if s.enabled],
                    duration=self._duration,
                )
            )
        )

    def _announce(self, target: GatewayTarget) -> None:
        simulator = target.simulator
        if simulator is None:
            log.info("app.gateway", host=target.host, port=target.port, run_id=self.run_id)
            return
        log.info(
            "app.embedded_simulator",
            run_id=self.run_id,
            port=target.port,
            control_port=simulator.control_port,
            time_scale=target.time_scale,
            market_time=target.market_clock.now().isoformat(),
            note="a new simulated paper account every run",
        )


def _check_name(name: str) -> None:
    if name == BOOK_STATE:
        raise ConfigError("strategies.name", name, "is reserved for the position book's state")
    try:
        StoreLayout.strategy(name)
    except InvalidStoreInput as exc:
        raise ConfigError("strategies.name", name, str(exc)) from exc


async def _unless(stopping: asyncio.Event, work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` unless ``stopping`` is set first (then cancel it); True if it completed."""
    job = asyncio.ensure_future(work)
    halt = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((job, halt), return_when=asyncio.FIRST_COMPLETED)
    finally:
        halt.cancel()
        if not job.done():
            job.cancel()
        await asyncio.wait((job, halt))
    if job.cancelled():
        log.warning("app.start_interrupted", detail="stopped before the live feed opened")
        return False
    job.result()
    return True


async def _either(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait until ``event`` is set or ``task`` has ended."""
    waiting = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((waiting, task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        await asyncio.wait([waiting])


async def _remove_leftovers(root: Path) -> None:
    """Remove the temporary files of writes an earlier, killed run left in the store (one line)."""
    removed, failed = await asyncio.to_thread(remove_leftover_temp_files, root)
    if removed:
        log.info(
            "store.leftovers_removed",
            files=len(removed),
            examples=[str(path.relative_to(root)) for path in removed[:_LEFTOVER_EXAMPLES]],
            detail="temporary files of writes killed before they completed",
        )
    if failed:
        log.warning("store.leftovers_kept", files=len(failed), errors=failed[:_LEFTOVER_EXAMPLES])


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-member groups, or the group itself."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup) and len(found.exceptions) == 1:
        found = found.exceptions[0]
    return found


async def _bounded(seconds: float, work: Awaitable[None], what: str) -> None:
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        log.warning("app.shutdown_step_timed_out", step=what, seconds=seconds)
