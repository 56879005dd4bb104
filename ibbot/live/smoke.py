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
   of the first watchlist symbol and sells it back once filled). Whatever happens, the smoke test
   then closes what its test order left (in a ``finally``: new decisions stop, orders on their way
   settle, working ones are cancelled, and a closing order goes straight to the executor for any
   difference between the account's position now and before the test), and the check fails
   unless the account holds in that symbol what it held before;
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
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    PriceBar,
    Tick,
)
from ibbot.settings import StrategySettings
from ibbot.store import AuditKind, ParquetStore
from ibbot.strategies.smoke_probe import SmokeProbe

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.broker.requests import IBRequests
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
# Positions closer to zero than this are flat (IB reports fractional quantities as floats).
_FLAT: Final = 1e-9
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


@dataclass(frozen=True, slots=True)
class _Closing:
    """What the clean-up after the test order found and did.

    ``before`` and ``after`` are the account's position in the symbol before the test and at the
    end; ``order`` is the closing order and ``result`` what became of it, when one was needed;
    ``problem`` why the position could not be checked or closed.
    """

    symbol: str
    before: float
    after: float | None
    order: Order | None = None
    result: OrderResult | None = None
    problem: str = ""

    @property
    def restored(self) -> bool:
        """True when the account holds what it held before the test."""
        return self.after is not None and abs(self.after - self.before) < _FLAT

    def line(self) -> str:
        """``the account holds no AAPL, as before the test`` (or what is wrong)."""
        sold = ""
        if self.order is not None and self.result is not None:
            price = self.result.fill_price
            sold = (
                f"the smoke test's closing order {self.order.action.value} {self.order.quantity} "
                f"{self.symbol} ended {self.result.status.value}"
                f"{'' if price is None else f' at {price:g}'}; "
            )
        if self.after is None:
            return f"{sold}the account's {self.symbol} position is unknown: {self.problem}"
        held = "no" if abs(self.after) < _FLAT else f"{self.after:g}"
        if self.restored:
            return f"{sold}the account holds {held} {self.symbol}, as before the test"
        return (
            f"{sold}the account still holds {held} {self.symbol} ({self.before:g} before the "
            f"test){f': {self.problem}' if self.problem else ''}; close it by hand"
        )


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
    requests = orchestrator.requests
    assert requests is not None
    held_before, unknown = 0.0, ""
    if order_symbol is not None:
        try:
            held_before = await _held(requests, order_symbol, timeout)
        except (IbbotError, TimeoutError) as exc:
            # Without the position before, the test could not tell whether it leaves one behind.
            order_symbol, unknown = None, str(exc) or "no answer in time"
    queue: asyncio.Queue[Event] = asyncio.Queue(100_000)
    subscription = bus.subscribe(list(_WATCHED), queue, name="smoke")
    evidence = _Evidence(connection.market_clock)
    closing: _Closing | None = None
    probe: SmokeProbe | None = None
    try:
        try:
            await orchestrator.add_strategy(
                StrategySettings(
                    name=PROBE,
                    class_path=f"{SmokeProbe.__module__}.SmokeProbe",
                    allocated_capital=10_000.0,
                    params={"order_symbol": order_symbol, "quantity": 1},
                )
            )
            added = orchestrator.strategies[PROBE].strategy
            assert isinstance(added, SmokeProbe)
            probe = added
            await _watch(
                orchestrator, probe, evidence, queue, (symbols, order_symbol), timeout=timeout
            )
        finally:
            if order_symbol is not None:
                closing = await _close_test_order(
                    orchestrator, probe, order_symbol, held_before, timeout
                )
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
        results[TEST_ORDER] = (
            Check(
                TEST_ORDER, CheckStatus.FAIL, f"not placed: the positions are unknown ({unknown})"
            )
            if unknown
            else _test_order(place_test_order, paper, order_symbol, evidence, closing)
        )
    finally:
        bus.unsubscribe(subscription)


async def _watch(
    orchestrator: Orchestrator,
    probe: SmokeProbe,
    evidence: _Evidence,
    queue: asyncio.Queue[Event],
    wanted: tuple[list[str], str | None],
    *,
    timeout: float,  # noqa: ASYNC109 - see run_smoke
) -> None:
    """Gather evidence until every check has it (prices of ``wanted``'s symbols, the test order in
    its symbol bought and sold) or ``timeout``."""
    symbols, order_symbol = wanted

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


async def _close_test_order(
    orchestrator: Orchestrator,
    probe: SmokeProbe | None,
    symbol: str,
    before: float,
    timeout: float,  # noqa: ASYNC109 - see run_smoke
) -> _Closing:
    """Leave the account as the test found it: see the module docstring (check 6)."""
    if probe is not None:
        probe.stand_down()
    trader, executor, requests = orchestrator.trader, orchestrator.executor, orchestrator.requests
    assert trader is not None
    assert executor is not None
    assert requests is not None
    # No decision trades from here on; what is on its way finishes, what still works is cancelled.
    trader.close_intake()
    try:
        await trader.settle(timeout)
        await trader.cancel_open_orders()
        left = await _held(requests, symbol, timeout) - before
    except (IbbotError, TimeoutError) as exc:
        return _Closing(symbol, before, None, problem=str(exc) or "no answer in time")
    if abs(left) < _FLAT:
        return _Closing(symbol, before, before)
    order = Order(
        PROBE,
        symbol,
        OrderSide.SELL if left > 0 else OrderSide.BUY,
        round(abs(left)),
        decision_id=f"{PROBE}-{symbol}-close-{orchestrator.settings.ib.client_id}",
    )
    log.warning("smoke.closing_test_position", symbol=symbol, side=order.action.value, left=left)
    try:
        result = await executor.submit(order, timeout=timeout)
        after = await _held(requests, symbol, timeout)
    except (IbbotError, TimeoutError) as exc:
        return _Closing(symbol, before, None, problem=str(exc) or "no answer in time")
    problem = "" if result.status is OrderStatus.FILLED else (result.message or "not filled")
    return _Closing(symbol, before, after, order, result, problem)


async def _held(requests: IBRequests, symbol: str, timeout: float) -> float:  # noqa: ASYNC109
    """The account's position in ``symbol`` now, as the broker reports it."""
    async with asyncio.timeout(timeout):
        positions = await requests.positions()
    return sum(p.quantity for p in positions if p.symbol == symbol)


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
    asked: bool,
    paper: bool,
    symbol: str | None,
    evidence: _Evidence,
    closing: _Closing | None,
) -> Check:
    if not asked:
        return Check(TEST_ORDER, CheckStatus.SKIP, "not asked (--place-test-order)")
    if not paper or symbol is None or closing is None:
        return Check(TEST_ORDER, CheckStatus.FAIL, "refused: not a paper account")
    bought = [f for f in evidence.fills if f.side is OrderSide.BUY and f.symbol == symbol]
    cleanup = None if closing.order is None else closing.order.decision_id
    sold = [
        f
        for f in evidence.fills
        if f.side is OrderSide.SELL and f.symbol == symbol and f.decision_id != cleanup
    ]
    refused = [
        o for o in evidence.orders if o.status in (OrderStatus.REJECTED, OrderStatus.BLOCKED)
    ]
    parts: list[str] = []
    if bought:
        fill = bought[0]
        parts.append(
            f"BUY {fill.quantity:g} {fill.symbol} filled at {fill.price:g} (exec {fill.exec_id})"
        )
        if sold:
            parts.append(f"sold back at {sold[0].price:g}")
    parts.extend(
        f"the order {order.decision_id} for {order.symbol} was {order.status.value}: "
        f"{order.message or 'no reason'}"
        for order in refused
    )
    if not bought and not refused:
        states = ", ".join(sorted({o.status.value for o in evidence.orders})) or "never sent"
        parts.append(f"{symbol}: not filled (order {states})")
    parts.append(closing.line())
    passed = bool(bought) and closing.restored
    return Check(TEST_ORDER, CheckStatus.PASS if passed else CheckStatus.FAIL, "; ".join(parts))


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
