"""Time as an injected dependency.

Everything that waits or timestamps (token buckets, schedulers, reconnect backoff, the simulated
gateway's market) takes a :class:`Clock`. Live code gets :class:`WallClock`; tests and backtests get
:class:`SimulatedClock`, which only moves when told to, so timing rules are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ScaledClock", "SimulatedClock", "WallClock", "ensure_utc", "utc_now"]


def utc_now() -> datetime:
    """The current wall-clock time, timezone-aware in UTC."""
    return datetime.now(UTC)


def ensure_utc(value: datetime, *, field: str = "timestamp") -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes, whose meaning is a guess."""
    if value.tzinfo is UTC:  # already UTC (astimezone would return it as it is)
        return value
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{field} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """What time it is and how to wait for some of it to pass."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on this clock."""
        ...


class WallClock:
    """The real clock: ``datetime.now(UTC)``, ``time.monotonic`` and ``asyncio.sleep``."""

    __slots__ = ()

    def now(self) -> datetime:
        """Current wall-clock time in UTC."""
        return utc_now()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``; non-positive values still yield to the loop once."""
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Wall time running ``scale`` times faster, from a chosen starting instant.

    The simulated gateway uses it so a trading day can pass in minutes: ``now()`` is
    ``start + (wall elapsed) * scale`` and ``sleep(s)`` waits ``s / scale`` real seconds.
    """

    __slots__ = ("_origin", "_scale", "_start")

    def __init__(self, start: datetime | None = None, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self._start = ensure_utc(start) if start is not None else utc_now()
        self._scale = scale
        self._origin = time.monotonic()

    @property
    def scale(self) -> float:
        """How many simulated seconds pass per wall-clock second."""
        return self._scale

    def now(self) -> datetime:
        """The starting instant plus scaled wall time elapsed since."""
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        """Simulated seconds elapsed since the clock was created."""
        return (time.monotonic() - self._origin) * self._scale

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self._scale)


class SimulatedClock:
    """A clock that moves only when :meth:`advance` is called.

    Sleepers are futures kept in deadline order; advancing wakes every sleeper whose deadline has been
    reached, in deadline order (ties in the order they went to sleep). A cancelled sleeper simply drops
    out. :meth:`wait_for_sleepers` lets a test wait, on an event rather than a fixed delay, until the
    code under test is parked in ``sleep``.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._epoch = (
            ensure_utc(start) if start is not None else datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
        )
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()
        self._changed: asyncio.Event | None = None

    def now(self) -> datetime:
        """The start time plus everything advanced so far."""
        return self._epoch + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        """Seconds advanced since the clock was created."""
        return self._elapsed

    @property
    def sleepers(self) -> int:
        """How many tasks are currently waiting in :meth:`sleep`."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    async def sleep(self, seconds: float) -> None:
        """Park until the clock has been advanced by ``seconds`` (yield once if ``seconds <= 0``)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._sequence), fut))
        self._notify()
        await fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._elapsed += seconds
        while self._sleepers and self._sleepers[0][0] <= self._elapsed + 1e-12:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
        self._notify()

    def next_deadline(self) -> float | None:
        """Seconds until the earliest pending sleeper wakes, or None when nobody sleeps."""
        pending = [deadline for deadline, _, fut in self._sleepers if not fut.done()]
        return max(0.0, min(pending) - self._elapsed) if pending else None

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Return once at least ``count`` tasks are parked in :meth:`sleep`."""
        while self.sleepers < count:
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
            self._changed.clear()

    async def run_until_idle(self, *, limit: float = 1e9) -> None:
        """Advance straight to each next deadline until nobody sleeps (or ``limit`` seconds pass).

        Useful to drive code that sleeps in a loop to completion without real waiting. Between jumps
        the loop gets a turn, so woken tasks can run and schedule their next sleep.
        """
        start = self._elapsed
        while True:
            for _ in range(5):  # let woken tasks run and go back to sleep
                await asyncio.sleep(0)
            delay = self.next_deadline()
            if delay is None or self._elapsed - start + delay > limit:
                return
            self.advance(delay)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
