"""The paper-trading checklist of the user's plan (section 5.3), run against the configured gateway.

:func:`run_smoke` starts the real orchestrator (the same run loop as ``ibbot run``) with one
strategy, :class:`~ibbot.strategies.smoke_probe.SmokeProbe`, and watches the bus for the evidence
of each check:

1. connect to a paper account (refused otherwise: the smoke test never touches a live account);
2. market data arrives for every watchlist symbol (a tick or a bar);
3. fundamentals arrive, or are reported unavailable (IB's 430 since the 2026 de-support);
4. events reach a strategy (the probe counts the live events it is handed);
5. a decision is logged with its reasoning (the probe's HOLD, in the audit trail);
6. a test order is submitted and filled (only with ``place_test_order``: the probe buys one share
   of the first watchlist symbol and sells it back once filled);
7. the graceful shutdown preserves state (exit code 0, the probe's state and the position book
   saved and readable, the book matching the probe's own positions).

Each check ends PASS, FAIL or SKIP with its evidence in one line.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import structlog

from ibbot.app import EXIT_OK, Orchestrator
from ibbot.broker.backfill import HISTORY_SOURCE as IB_HISTORY_SOURCE
from ibbot.clock import Clock
from ibbot.errors import IbbotError
from ibbot.fundamentals import OutcomeStatus
from ibbot.live.history import SOURCE as REPLAY_SOURCE
from ibbot.live.runner import stale_reason
from ibbot.live.state import BOOK_STATE
from ibbot.models import (
    Event,
    EventType,
    Fill,
    OrderResult,
    OrderStatus,
    PriceBar,
    Tick,
)
from ibbot.settings import StrategySettings
from ibbot.store import AuditKind, ParquetStore
from ibbot.strategies.smoke_probe import SmokeProbe

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import Settings

__all__ = ["CHECKS", "PROBE", "Check", "CheckStatus", "run_smoke"]

log = structlog.get_logger(__name__)

PROBE: Final = "smoke-probe"
"""The probe strategy's name (its orders' orderRef starts with it)."""

CONNECT = "connect to a paper account"
MARKET_DATA = "market data for the watchlist"
FUNDAMENTALS = "fundamentals arrive or are reported unavailable"
EVENTS = "events reach a strategy"
DECISION = "a decision is logged with its reasoning"
TEST_ORDER = "a test order is submitted and filled"
SHUTDOWN = "graceful shutdown preserves state"
# Event sources of history: the warm-up replay, and bars fetched from IB's historical data (the
# startup backfill, holes in a live stream filled from history).
_HISTORY_SOURCES: Final = frozenset({REPLAY_SOURCE, IB_HISTORY_SOURCE})

CHECKS: Final = (CONNECT, MARKET_DATA, FUNDAMENTALS, EVENTS, DECISION, TEST_ORDER, SHUTDOWN)
"""The checks, in the order they are reported."""

# ib.client_id + this: the smoke test's own session, beside a running service (+100 is `check`'s).
CLIENT_ID_OFFSET: Final = 200
_WATCHED: Final = (
    EventType.TICK,
    EventType.PRICE_BAR,
    EventType.FUNDAMENTAL_DATA,
    EventType.DECISION,
    EventType.ORDER_STATUS,
    EventType.FILL,
)


class CheckStatus(StrEnum):
    """How a check ended."""

    PASS = "PASS"  # noqa: S105 - a check result, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: the check, how it ended, and the evidence."""

    name: str
    status: CheckStatus
    evidence: str

    @property
    def line(self) -> str:
        """``PASS  connect to a paper account: ...``."""
        return f"{self.status.value:<4}  {self.name}: {self.evidence}"


@dataclass(slots=True)
class _Evidence:
    """What the bus showed, gathered while the checks wait (``clock``: the market's)."""

    clock: Clock
    prices: dict[str, str] = dataclasses.field(default_factory=dict)
    decision: str = ""
    orders: list[OrderResult] = dataclasses.field(default_factory=list)
    fills: list[Fill] = dataclasses.field(default_factory=list)

    def see(self, event: Event) -> None:
        payload = event.payload
        symbol = event.symbol or ""
        if isinstance(payload, Tick | PriceBar) and event.source in _HISTORY_SOURCES:
            return  # history proves nothing about live market data
        if isinstance(payload, Tick) and payload.price is not None:
            self.prices.setdefault(symbol, f"{symbol} {payload.price:g} (tick)")
        elif isinstance(payload, PriceBar) and stale_reason(event, self.clock.now()) is None:
            self.prices.setdefault(symbol, f"{symbol} {payload.close:g} (bar)")
        elif isinstance(payload, OrderResult) and payload.strategy_name == PROBE:
            self.orders.append(payload)
        elif isinstance(payload, Fill) and payload.strategy_name == PROBE:
            self.fills.append(payload)
        elif event.type is EventType.DECISION and isinstance(payload, dict):
            decision = payload["decision"]
            if decision.strategy_name == PROBE and not self.decision:
                self.decision = f"{decision.symbol} {decision.action.value}: {decision.reasoning}"


def smoke_settings(settings: Settings, store: Path) -> Settings:
    """The user's settings for the smoke run: own store and client id, no strategies, no control."""
    return settings.model_copy(
        update={
            "strategies": [],
            "store": settings.store.model_copy(update={"path": store}),
            "ib": settings.ib.model_copy(
                update={"client_id": settings.ib.client_id + CLIENT_ID_OFFSET}
            ),
            "app": settings.app.model_copy(update={"control_port": None}),
        }
    )


async def run_smoke(
    settings: Settings,
    *,
    store: Path,
    place_test_order: bool,
    timeout: float,  # noqa: ASYNC109 - each check's own deadline, not one for the call
    market_clock: Clock | None = None,
) -> list[Check]:
    """Run every check (see the module docstring) and return the results in :data:`CHECKS` order.

    ``store`` is where the run keeps its data (not the service's store); ``timeout`` bounds the
    wait for each kind of evidence.
    """
    orchestrator = Orchestrator(smoke_settings(settings, store), market_clock=market_clock)
    results: dict[str, Check] = {}
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(_run(orchestrator))
        started = tasks.create_task(orchestrator.started.wait())
        await asyncio.wait((run, started), return_when=asyncio.FIRST_COMPLETED)
        if run.done():
            started.cancel()
            outcome = run.result()
            reason = (
                f"{type(outcome).__name__}: {outcome}"
                if isinstance(outcome, BaseException)
                else f"the run ended before it started (exit code {outcome})"
            )
            results[CONNECT] = Check(CONNECT, CheckStatus.FAIL, reason)
            return _complete(results, "not connected")
        try:
            await _observe(
                orchestrator, results, place_test_order=place_test_order, timeout=timeout
            )
        finally:
            orchestrator.stop("smoke test done")
    outcome = run.result()
    results[SHUTDOWN] = _shutdown_check(store, outcome)
    return _complete(results, "")


async def _run(orchestrator: Orchestrator) -> int | Exception:
    """The run's exit code, or the error that ended it (reported as a check, not raised)."""
    try:
        return await orchestrator.run(handle_signals=False)
    except Exception as exc:  # noqa: BLE001 - every failure of the run is a check's evidence
        return exc


async def _observe(
    orchestrator: Orchestrator,
    results: dict[str, Check],
    *,
    place_test_order: bool,
    timeout: float,  # noqa: ASYNC109 - see run_smoke
) -> None:
    connection = orchestrator.connection
    bus = orchestrator.bus
    assert connection is not None
    assert bus is not None
    paper = connection.is_paper
    where = f"{connection.config.host}:{connection.config.port}"
    account = "paper account" if paper else "LIVE account"
    results[CONNECT] = Check(
        CONNECT,
        CheckStatus.PASS if paper else CheckStatus.FAIL,
        f"{account} at {where}, server version {connection.ib.client.serverVersion()}, "
        f"state {connection.state.value}"
        + ("" if paper else "; the smoke test runs on paper accounts only"),
    )
    watchlist = list(orchestrator.settings.collector.watchlist)
    symbols = sorted(orchestrator.status().get("symbols", []))
    order_symbol = symbols[0] if place_test_order and paper and symbols else None
    queue: asyncio.Queue[Event] = asyncio.Queue(100_000)
    subscription = bus.subscribe(list(_WATCHED), queue, name="smoke")
    evidence = _Evidence(connection.market_clock)
    try:
        await orchestrator.add_strategy(
            StrategySettings(
                name=PROBE,
                class_path=f"{SmokeProbe.__module__}.SmokeProbe",
                allocated_capital=10_000.0,
                params={"order_symbol": order_symbol, "quantity": 1},
            )
        )
        probe = orchestrator.strategies[PROBE].strategy
        assert isinstance(probe, SmokeProbe)

        def done() -> bool:
            priced = set(evidence.prices) >= set(symbols)
            outcomes = set(orchestrator.fundamentals) >= set(symbols)
            traded = order_symbol is None or probe.finished or _rejected(evidence)
            return priced and outcomes and bool(evidence.decision) and traded

        try:
            async with asyncio.timeout(timeout):
                while not done():
                    evidence.see(await queue.get())
        except TimeoutError:
            log.warning("smoke.timed_out", seconds=timeout)
        while not queue.empty():
            evidence.see(queue.get_nowait())
        results[MARKET_DATA] = _market_data(watchlist, symbols, evidence, timeout)
        results[FUNDAMENTALS] = _fundamentals(orchestrator, symbols, timeout)
        results[EVENTS] = Check(
            EVENTS,
            CheckStatus.PASS if probe.live_events else CheckStatus.FAIL,
            f"{PROBE} was handed {probe.live_events} live event(s) and "
            f"{orchestrator.strategies[PROBE].events - probe.live_events} of warm-up history",
        )
        results[DECISION] = _decision(orchestrator, evidence)
        results[TEST_ORDER] = _test_order(place_test_order, paper, order_symbol, probe, evidence)
    finally:
        bus.unsubscribe(subscription)


def _rejected(evidence: _Evidence) -> bool:
    return any(o.status in (OrderStatus.REJECTED, OrderStatus.BLOCKED) for o in evidence.orders)


def _market_data(
    watchlist: list[str], symbols: list[str], evidence: _Evidence, timeout: float
) -> Check:
    unknown = [s for s in watchlist if s not in symbols]
    silent = [s for s in symbols if s not in evidence.prices]
    got = ", ".join(evidence.prices.values()) or "none"
    problems = []
    if unknown:
        problems.append(f"the gateway describes no contract for {', '.join(unknown)}")
    if silent:
        problems.append(
            f"no live tick or bar within {timeout:g} s for {', '.join(silent)} (no market data "
            "subscription, or nothing trading?)"
        )
    if problems:
        return Check(MARKET_DATA, CheckStatus.FAIL, "; ".join(problems) + f"; got: {got}")
    return Check(MARKET_DATA, CheckStatus.PASS, got)


def _fundamentals(orchestrator: Orchestrator, symbols: list[str], timeout: float) -> Check:
    outcomes = orchestrator.fundamentals
    missing = [s for s in symbols if s not in outcomes]
    failed = [o for o in outcomes.values() if o.status is OutcomeStatus.FAILED]
    parts = []
    for symbol in symbols:
        outcome = outcomes.get(symbol)
        if outcome is None:
            continue
        if outcome.status is OutcomeStatus.FETCHED:
            parts.append(f"{symbol} from {outcome.source}")
        else:
            parts.append(f"{symbol} {outcome.status.value} ({outcome.reason})")
    evidence = "; ".join(parts)
    if missing:
        return Check(
            FUNDAMENTALS,
            CheckStatus.FAIL,
            f"no answer within {timeout:g} s for {', '.join(missing)}"
            + (f"; {evidence}" if evidence else ""),
        )
    if failed:
        return Check(FUNDAMENTALS, CheckStatus.FAIL, evidence)
    return Check(FUNDAMENTALS, CheckStatus.PASS, evidence)


def _decision(orchestrator: Orchestrator, evidence: _Evidence) -> Check:
    if not evidence.decision:
        return Check(
            DECISION, CheckStatus.FAIL, f"{PROBE} made no live decision (it decides on live ticks)"
        )
    store = orchestrator.settings.store.path
    return Check(DECISION, CheckStatus.PASS, f"{evidence.decision} (audited in {store / 'audit'})")


def _test_order(
    asked: bool, paper: bool, symbol: str | None, probe: SmokeProbe, evidence: _Evidence
) -> Check:
    if not asked:
        return Check(TEST_ORDER, CheckStatus.SKIP, "not asked (--place-test-order)")
    if not paper:
        return Check(TEST_ORDER, CheckStatus.FAIL, "refused: not a paper account")
    refused = [
        o for o in evidence.orders if o.status in (OrderStatus.REJECTED, OrderStatus.BLOCKED)
    ]
    if refused:
        first = refused[0]
        return Check(
            TEST_ORDER,
            CheckStatus.FAIL,
            f"the order for {first.symbol} was {first.status.value}: {first.message or 'no reason'}",
        )
    bought = [f for f in evidence.fills if f.side.value == "BUY"]
    sold = [f for f in evidence.fills if f.side.value == "SELL"]
    if not bought:
        states = ", ".join(sorted({o.status.value for o in evidence.orders})) or "never sent"
        return Check(TEST_ORDER, CheckStatus.FAIL, f"{symbol}: not filled (order {states})")
    fill = bought[0]
    evidence_line = (
        f"BUY {fill.quantity:g} {fill.symbol} filled at {fill.price:g} (exec {fill.exec_id})"
    )
    if sold:
        evidence_line += f", sold back at {sold[0].price:g}"
    elif probe.get_positions():
        evidence_line += "; the closing SELL did not fill in time: 1 share is still held"
    return Check(TEST_ORDER, CheckStatus.PASS, evidence_line)


def _shutdown_check(store: Path, outcome: int | Exception) -> Check:
    if isinstance(outcome, Exception):
        return Check(
            SHUTDOWN, CheckStatus.FAIL, f"the run failed: {type(outcome).__name__}: {outcome}"
        )
    if outcome != EXIT_OK:
        return Check(SHUTDOWN, CheckStatus.FAIL, f"the run ended with exit code {outcome}")
    try:
        with ParquetStore(store) as saved:
            probe_state = saved.load_strategy_state(PROBE)
            book = saved.load_strategy_state(BOOK_STATE)
            stopped = [e.record for e in saved.read_audit(AuditKind.LIFECYCLE)]
    except IbbotError as exc:
        return Check(SHUTDOWN, CheckStatus.FAIL, f"the saved state cannot be read: {exc}")
    if probe_state is None or book is None:
        return Check(SHUTDOWN, CheckStatus.FAIL, "no saved state after the shutdown")
    restored = SmokeProbe(name=PROBE, allocated_capital=10_000.0)
    restored.load_state(probe_state)
    held = {s: p.quantity for s, p in restored.get_positions().items()}
    in_book = {
        p["symbol"]: p["quantity"]
        for p in book["book"]["positions"].get(PROBE, [])
        if p["quantity"]
    }
    if held != in_book:
        return Check(
            SHUTDOWN, CheckStatus.FAIL, f"restored positions {held} differ from the book {in_book}"
        )
    last = stopped[-1]["event"] if stopped else "none"
    return Check(
        SHUTDOWN,
        CheckStatus.PASS,
        f"exit code 0, last lifecycle event {last}; state of {PROBE} and the position book "
        f"saved and restored (positions {held or 'flat'})",
    )


def _complete(results: dict[str, Check], why: str) -> list[Check]:
    return [
        results.get(name) or Check(name, CheckStatus.FAIL, why or "not reached") for name in CHECKS
    ]
