"""StrategyRunner: failures contained and counted, warm-up decisions recorded untraded, stale bars."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ibbot.clock import SimulatedClock
from ibbot.live import RunnerState, StrategyRunner, stale_reason
from ibbot.models import Action, BarSize, Decision, Event, EventType, Position, PriceBar, Tick

NOW = datetime(2026, 3, 4, 15, 10, tzinfo=UTC)


def bar_event(start: datetime, *, source: str = "ib") -> Event:
    """A 1-minute AAPL bar starting at ``start``."""
    bar = PriceBar("AAPL", start, 1, 1, 1, 1, 100, BarSize.MIN_1)
    return Event(EventType.PRICE_BAR, "AAPL", start, bar, source)


class Sink:
    """Records what the runner hands over."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, list[Decision], str | None]] = []

    async def accept(
        self, strategy: Any, decisions: list[Decision], *, untraded: str | None
    ) -> None:
        self.accepted.append((strategy.name, decisions, untraded))


class Scripted:
    """A strategy that fails on bars while ``failing``, else decides BUY on each bar."""

    def __init__(self) -> None:
        self.name = "scripted"
        self.allocated_capital = 1_000.0
        self.subscriptions = [EventType.PRICE_BAR.value]
        self.failing = False

    def on_event(self, event: Event) -> list[Decision]:
        if self.failing:
            raise ValueError("scripted failure")
        return [Decision("AAPL", Action.BUY, 0.1, 1.0, "bar", timestamp=event.timestamp)]

    def get_positions(self) -> dict[str, Position]:
        return {}

    def get_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        del state


def runner(
    strategy: Scripted, sink: Sink, disabled: list[str] | None = None, **options: Any
) -> StrategyRunner:
    clock = SimulatedClock(NOW)
    return StrategyRunner(
        strategy,  # type: ignore[arg-type]
        sink=sink,
        clock=clock,
        max_failures=options.get("max_failures", 3),
        on_disabled=(lambda r, reason: disabled.append(reason)) if disabled is not None else None,
    )


def test_a_bar_is_stale_once_a_bar_length_has_passed_since_it_closed() -> None:
    """A fresh bar can be traded; an old one (history, a filled gap) cannot; ticks never age."""
    assert stale_reason(bar_event(NOW - timedelta(minutes=1)), NOW) is None
    assert stale_reason(bar_event(NOW - timedelta(minutes=2)), NOW) is None
    reason = stale_reason(bar_event(NOW - timedelta(minutes=3)), NOW)
    assert reason is not None
    assert "closed 120 s before now: history, not traded" in reason
    tick = Event(EventType.TICK, "AAPL", NOW - timedelta(days=1), Tick("AAPL", NOW, last=1.0))
    assert stale_reason(tick, NOW) is None


async def test_failures_are_contained_counted_and_disable_after_the_limit() -> None:
    """A raising strategy skips the event; a success resets the count; N in a row disable it."""
    strategy, sink, disabled = Scripted(), Sink(), []
    feed = runner(strategy, sink, disabled)
    feed.go_live()
    strategy.failing = True
    await feed.handle(bar_event(NOW - timedelta(minutes=1)))
    await feed.handle(bar_event(NOW - timedelta(minutes=1)))
    assert (feed.consecutive_failures, feed.state) == (2, RunnerState.RUNNING)
    strategy.failing = False
    await feed.handle(bar_event(NOW - timedelta(minutes=1)))
    assert feed.consecutive_failures == 0
    assert [untraded for _, _, untraded in sink.accepted] == [None]
    strategy.failing = True
    for _ in range(3):
        await feed.handle(bar_event(NOW - timedelta(minutes=1)))
    assert feed.state is RunnerState.DISABLED
    assert (feed.failures, len(disabled)) == (5, 1)
    assert "3 consecutive failures" in disabled[0]
    assert "ValueError: scripted failure" in disabled[0]
    strategy.failing = False
    await feed.handle(bar_event(NOW - timedelta(minutes=1)))
    assert len(sink.accepted) == 1  # a disabled strategy gets nothing more


async def test_warm_up_decisions_are_recorded_but_not_traded() -> None:
    """History replayed before the start: every decision goes to the sink marked untraded."""
    strategy, sink = Scripted(), Sink()
    feed = runner(strategy, sink)
    history = [
        bar_event(NOW - timedelta(minutes=30), source="history"),
        Event(EventType.TICK, "AAPL", NOW, Tick("AAPL", NOW, last=1.0), "history"),
        bar_event(NOW - timedelta(minutes=29), source="history"),
    ]
    assert await feed.warm_up(history) == 2
    assert feed.state is RunnerState.WARMING_UP
    assert all(untraded and untraded.startswith("warm-up") for _, _, untraded in sink.accepted)
    feed.go_live()
    await feed.handle(bar_event(NOW - timedelta(minutes=20)))
    assert "history, not traded" in str(sink.accepted[-1][2])


async def test_live_events_wait_for_the_warm_up_and_stop_after_removal() -> None:
    """handle() holds events until go_live(); a stopped runner hands nothing over."""
    strategy, sink = Scripted(), Sink()
    feed = runner(strategy, sink)
    waiting = asyncio.ensure_future(feed.handle(bar_event(NOW - timedelta(minutes=1))))
    await asyncio.sleep(0)
    assert not waiting.done()
    feed.go_live()
    await waiting
    assert len(sink.accepted) == 1
    feed.stop()
    await feed.handle(bar_event(NOW - timedelta(minutes=1)))
    assert (feed.state, len(sink.accepted)) == (RunnerState.STOPPED, 1)


async def test_a_strategy_failing_through_its_warm_up_is_disabled_there() -> None:
    """Failures during the warm-up count too, and the replay stops once it is disabled."""
    strategy, sink, disabled = Scripted(), Sink(), []
    strategy.failing = True
    feed = runner(strategy, sink, disabled, max_failures=2)
    history = [bar_event(NOW - timedelta(minutes=m), source="history") for m in (9, 8, 7, 6)]
    assert await feed.warm_up(history) == 0
    assert feed.state is RunnerState.DISABLED
    assert feed.events == 2
    feed.go_live()
    assert feed.state is RunnerState.DISABLED


def test_max_failures_must_be_positive() -> None:
    """At least one failure is allowed before disabling."""
    with pytest.raises(ValueError, match="max_failures"):
        runner(Scripted(), Sink(), max_failures=0)
