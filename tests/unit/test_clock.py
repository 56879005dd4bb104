"""Clocks: the simulated clock wakes sleepers in order and only when advanced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ibbot.clock import Clock, ScaledClock, SimulatedClock, WallClock, ensure_utc, utc_now

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


async def test_simulated_clock_only_moves_when_advanced() -> None:
    """now() and monotonic() change only through advance()."""
    clock = SimulatedClock(T0)
    assert clock.now() == T0
    clock.advance(90)
    assert clock.now() == T0 + timedelta(seconds=90)
    assert clock.monotonic() == 90
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_sleepers_wake_in_deadline_order() -> None:
    """Sleepers wake when their deadline is reached, earliest first."""
    clock = SimulatedClock(T0)
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(nap("late", 10)), asyncio.create_task(nap("early", 5))]
    await clock.wait_for_sleepers(2)
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.1)
    await asyncio.sleep(0)
    assert woke == ["early"]
    clock.advance(5)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"]


async def test_cancelled_sleeper_drops_out() -> None:
    """A cancelled sleeper no longer counts and does not break advance()."""
    clock = SimulatedClock(T0)
    task = asyncio.create_task(clock.sleep(5))
    await clock.wait_for_sleepers(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleepers == 0
    assert clock.next_deadline() is None
    clock.advance(10)


async def test_run_until_idle_drives_loops() -> None:
    """run_until_idle jumps from deadline to deadline until nothing sleeps."""
    clock = SimulatedClock(T0)
    ticks: list[float] = []

    async def loop() -> None:
        for _ in range(3):
            await clock.sleep(2)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(loop())
    await clock.wait_for_sleepers(1)
    await clock.run_until_idle()
    await task
    assert ticks == [2, 4, 6]


async def test_zero_sleep_yields() -> None:
    """sleep(0) returns without advancing."""
    clock = SimulatedClock(T0)
    await clock.sleep(0)
    assert clock.monotonic() == 0


async def test_wall_and_scaled_clocks_satisfy_protocol() -> None:
    """The real clocks implement Clock and tell UTC time."""
    for clock in (WallClock(), ScaledClock(T0, 60.0), SimulatedClock()):
        assert isinstance(clock, Clock)
        assert clock.now().tzinfo == UTC
    wall = WallClock()
    before = wall.monotonic()
    await wall.sleep(0)
    assert wall.monotonic() >= before


async def test_scaled_clock_runs_faster() -> None:
    """A scaled clock starts at its start instant and counts scaled seconds."""
    clock = ScaledClock(T0, 1000.0)
    assert clock.scale == 1000.0
    assert clock.now() >= T0
    await clock.sleep(1.0)  # one simulated second = one real millisecond
    assert clock.monotonic() >= 1.0
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(T0, 0)


def test_ensure_utc() -> None:
    """ensure_utc converts aware datetimes and refuses naive ones."""
    assert ensure_utc(T0) == T0
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2026, 1, 1), field="x")
    assert utc_now().tzinfo == UTC
