"""One strategy in the live loop: its events in, its decisions out, its failures contained.

Each strategy consumes from its own bounded bus subscription (one consumer task per strategy, so a
slow one never stalls another) through :meth:`StrategyRunner.handle`. A strategy that raises is
isolated: the failure is logged with the event that caused it, that event is skipped, the others
keep running; after ``max_failures`` failures in a row the strategy is disabled (logged, audited,
unsubscribed).

Warm-up: before the live feed opens, stored history is replayed to the strategy
(:meth:`StrategyRunner.warm_up`) so its indicators are ready in the first minute. Decisions made on
history are recorded but never traded: an order placed now on a signal from yesterday's bars would
trade at today's price on a stale reason. The same rule holds for live bars that are already old
when they arrive (the gap a collector fills after an outage): a decision on a bar that closed more
than one bar length ago is recorded, not traded (:func:`stale_reason`). Fundamentals, ticks and
fills delivered live are always current, whatever their own timestamps say (a filing's date is
when it was filed, not when ibbot learnt of it).

Decision ids: a strategy numbers its decisions itself (from its inputs only, so a backtest repeats
them); the runner adds the run's id (``<decision id>@<run id>``, :mod:`ibbot.runs`) before anyone
else sees a decision, so the ids, and the ``orderRef`` made of them, are unique across runs, also
when a run repeats an earlier one's bars with a fresh counter (the embedded simulator's).
"""

from __future__ import annotations

import asyncio
import dataclasses
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import structlog

from ibbot.models import Event, EventType, PriceBar
from ibbot.runs import qualify_decision_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from ibbot.clock import Clock
    from ibbot.models import Decision
    from ibbot.strategies import Strategy

__all__ = ["DecisionSink", "RunnerState", "StrategyRunner", "stale_reason"]

log = structlog.get_logger(__name__)


class RunnerState(StrEnum):
    """Where a strategy stands in the live loop."""

    WARMING_UP = "warming_up"
    RUNNING = "running"
    DISABLED = "disabled"
    STOPPED = "stopped"


class DecisionSink(Protocol):
    """Where a runner hands its strategy's decisions (the live trader)."""

    async def accept(
        self, strategy: Strategy, decisions: list[Decision], *, untraded: str | None
    ) -> None:
        """Take ``decisions``; ``untraded`` says why they must be recorded but not traded."""
        ...


def stale_reason(event: Event, now: datetime) -> str | None:
    """Why a decision caused by ``event`` must not be traded at market time ``now``, or None.

    Only bars age: one that closed more than a bar length before ``now`` is history.
    """
    bar = event.payload
    if event.type is not EventType.PRICE_BAR or not isinstance(bar, PriceBar):
        return None
    age = (now - bar.end).total_seconds()
    if age <= bar.bar_size.seconds:
        return None
    return (
        f"decided on the {bar.bar_size.value} bar of {bar.timestamp.isoformat()}, which closed "
        f"{age:,.0f} s before now: history, not traded"
    )


class StrategyRunner:
    """Feeds one strategy, contains its failures, and passes its decisions to a sink.

    ``clock`` is the market clock (for the age of bars); ``on_disabled`` is told when the strategy
    is disabled after ``max_failures`` consecutive failures (the orchestrator unsubscribes it);
    ``run_id`` qualifies its decision ids (see the module docstring; "" leaves them as they are).
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        sink: DecisionSink,
        clock: Clock,
        max_failures: int,
        on_disabled: Callable[[StrategyRunner, str], None] | None = None,
        run_id: str = "",
    ) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures must be at least 1, got {max_failures}")
        self.strategy = strategy
        self._sink = sink
        self._clock = clock
        self._max_failures = max_failures
        self._on_disabled = on_disabled
        self._run_id = run_id
        self._live = asyncio.Event()
        self.state = RunnerState.WARMING_UP
        self.consecutive_failures = 0
        self.failures = 0
        self.events = 0
        self.decisions = 0

    @property
    def name(self) -> str:
        """The strategy's name."""
        return self.strategy.name

    @property
    def subscriptions(self) -> list[str]:
        """The event types the strategy wants."""
        return list(self.strategy.subscriptions)

    # --- warm-up ----------------------------------------------------------------------------------

    async def warm_up(self, history: Iterable[Event]) -> int:
        """Replay ``history`` (oldest first); its decisions are recorded, not traded. Returns them."""
        made = 0
        for event in history:
            if event.type not in self.strategy.subscriptions:
                continue
            decisions = self._call(event)
            if decisions:
                made += len(decisions)
                await self._sink.accept(
                    self.strategy,
                    decisions,
                    untraded="warm-up: decided on stored history before the start, not traded",
                )
            if self.state is RunnerState.DISABLED:
                break
        return made

    def go_live(self) -> None:
        """Open the live feed: events queued meanwhile (fills) are handled now, in order."""
        if self.state is RunnerState.WARMING_UP:
            self.state = RunnerState.RUNNING
        self._live.set()

    def disable(self) -> None:
        """Stop handling events (asked for, not after failures); :meth:`enable` resumes."""
        if self.state in (RunnerState.WARMING_UP, RunnerState.RUNNING):
            self.state = RunnerState.DISABLED

    def enable(self) -> None:
        """Resume a disabled strategy: handle live events again, its failure streak forgotten."""
        if self.state is RunnerState.DISABLED:
            self.consecutive_failures = 0
            self.state = RunnerState.RUNNING if self._live.is_set() else RunnerState.WARMING_UP

    def stop(self) -> None:
        """Mark the strategy stopped (removed at runtime); its subscription is ended by the owner."""
        if self.state is not RunnerState.DISABLED:
            self.state = RunnerState.STOPPED

    # --- live -------------------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """The bus callback: one event through the strategy, decisions to the sink."""
        if not self._live.is_set():
            await self._live.wait()
        if self.state is not RunnerState.RUNNING:
            return
        decisions = self._call(event)
        if decisions:
            await self._sink.accept(
                self.strategy, decisions, untraded=stale_reason(event, self._clock.now())
            )

    def deliver(self, event: Event) -> None:
        """Hand ``event`` to the strategy now, ignoring what it decides (replayed fills at start)."""
        self._call(event)

    def _call(self, event: Event) -> list[Decision]:
        self.events += 1
        try:
            decisions = self.strategy.on_event(event)
        except Exception as exc:  # noqa: BLE001 - a failing strategy must not stop the others
            self._failed(event, exc)
            return []
        self.consecutive_failures = 0
        self.decisions += len(decisions)
        if self._run_id:
            decisions = [
                dataclasses.replace(d, decision_id=qualify_decision_id(d.decision_id, self._run_id))
                for d in decisions
            ]
        return decisions

    def _failed(self, event: Event, exc: Exception) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        log.error(
            "strategy.failed",
            strategy=self.name,
            event_type=event.type.value,
            symbol=event.symbol,
            event_time=event.timestamp.isoformat(),
            consecutive=self.consecutive_failures,
            of=self._max_failures,
            error=f"{type(exc).__name__}: {exc}",
            exc_info=exc,
        )
        if self.consecutive_failures >= self._max_failures and self.state in (
            RunnerState.WARMING_UP,
            RunnerState.RUNNING,
        ):
            self.state = RunnerState.DISABLED
            reason = (
                f"{self.consecutive_failures} consecutive failures, the last on the "
                f"{event.type.value} event of {event.symbol or 'the system'} at "
                f"{event.timestamp.isoformat()}: {type(exc).__name__}: {exc}"
            )
            log.error("strategy.disabled", strategy=self.name, reason=reason)
            if self._on_disabled is not None:
                self._on_disabled(self, reason)
