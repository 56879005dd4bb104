"""Broker support pieces: backoff, clock-based deadlines, the callback-to-bus outbox."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from datetime import timedelta

import pytest

from ibbot import broker
from ibbot.broker.backoff import Backoff
from ibbot.broker.collector import CollectorConfig
from ibbot.broker.connection import ConnectionConfig
from ibbot.broker.executor import ExecutorConfig
from ibbot.broker.outbox import Outbox
from ibbot.broker.requests import RequestPolicy
from ibbot.broker.timing import wait_event, within
from ibbot.clock import SimulatedClock
from ibbot.errors import IbbotError, StoreError
from ibbot.models import BarSize, ConnectionState, ConnectionStatus, Event, EventType
from ibbot.settings import Settings


def _event(n: int = 0) -> Event:
    status = ConnectionStatus(ConnectionState.CONNECTED, message=str(n))
    clock = SimulatedClock()
    return Event(EventType.CONNECTION, None, clock.now(), status, ingested_at=clock.now())


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    """Base delays double from ``initial`` and stop at ``maximum``."""
    backoff = Backoff(initial=1.0, maximum=10.0, multiplier=2.0, jitter=0.0)
    assert [backoff.base(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.base(10_000) == 10.0
    assert backoff.delay(3, random.Random(1)) == 8.0


def test_backoff_jitter_stays_within_bounds_and_is_reproducible() -> None:
    """Jittered delays lie in [base*(1-jitter), base] and repeat for the same seed."""
    backoff = Backoff(initial=2.0, maximum=30.0, jitter=0.5)
    first = [backoff.delay(n, random.Random(7)) for n in range(8)]
    again = [backoff.delay(n, random.Random(7)) for n in range(8)]
    assert first == again
    for n, delay in enumerate(first):
        base = backoff.base(n)
        assert base * 0.5 <= delay <= base


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": float("inf")},
        {"initial": 5, "maximum": 1},
        {"multiplier": 0.5},
        {"jitter": 1.5},
    ],
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    """Zero, infinite or inverted settings are refused at construction."""
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)


def test_backoff_refuses_negative_attempts() -> None:
    """A negative attempt number is a bug, reported as such."""
    with pytest.raises(ValueError, match="attempt"):
        Backoff().base(-1)


async def test_within_returns_the_result_in_time() -> None:
    """A result that arrives before the deadline is returned."""
    clock = SimulatedClock()

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await within(clock, 5.0, answer()) == 42


async def test_within_times_out_on_the_injected_clock_and_cancels() -> None:
    """The deadline is measured on the clock; the late work is cancelled."""
    clock = SimulatedClock()
    never = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(within(clock, 5.0, never))
    await clock.wait_for_sleepers(1)
    clock.advance(5.0)
    with pytest.raises(TimeoutError, match="within 5 s"):
        await task
    assert never.cancelled()


async def test_within_passes_errors_through() -> None:
    """An exception of the work is raised as is."""

    async def broken() -> None:
        raise StoreError("disk full")

    with pytest.raises(StoreError, match="disk full"):
        await within(SimulatedClock(), 1.0, broken())


async def test_wait_event_true_when_set_false_on_timeout() -> None:
    """wait_event reports whether the event was set before the deadline."""
    clock = SimulatedClock()
    event = asyncio.Event()
    event.set()
    assert await wait_event(clock, event, 1.0)
    event.clear()
    task = asyncio.ensure_future(wait_event(clock, event, 1.0))
    await clock.wait_for_sleepers(1)
    clock.advance(1.0)
    assert not await task


class _Recorder:
    def __init__(self, *, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    async def publish(self, event: Event) -> None:
        if self.fail:
            raise IbbotError("bus closed")
        self.events.append(event)


async def test_outbox_persists_then_publishes_in_order() -> None:
    """Events are persisted and then published, in the order they were put."""
    recorder = _Recorder()
    persisted: list[Event] = []

    async def persist(event: Event) -> None:
        persisted.append(event)

    outbox = Outbox(recorder, name="test", persist=persist)
    events = [_event(n) for n in range(3)]
    for event in events:
        assert outbox.put(event)
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(outbox.run())
        await outbox.flush()
        runner.cancel()
    assert persisted == events
    assert recorder.events == events
    assert outbox.pending == 0


async def test_outbox_overflow_is_counted_not_silent() -> None:
    """A full outbox refuses the event, counts it and says so."""
    outbox = Outbox(_Recorder(), name="tiny", maxsize=1)
    assert outbox.put(_event(1))
    assert not outbox.put(_event(2))
    assert outbox.dropped == 1


async def test_outbox_failures_are_logged_and_delivery_goes_on() -> None:
    """A failing persist still publishes; a failing publish does not stop the outbox."""
    published = _Recorder()

    async def persist(event: Event) -> None:
        raise StoreError("read-only file system")

    outbox = Outbox(published, name="test", persist=persist)
    outbox.put(_event(1))
    broken = Outbox(_Recorder(fail=True), name="broken")
    broken.put(_event(2))
    broken.put(_event(3))
    async with asyncio.TaskGroup() as tg:
        runners = [tg.create_task(outbox.run()), tg.create_task(broken.run())]
        await outbox.flush()
        await broken.flush()
        for runner in runners:
            runner.cancel()
    assert len(published.events) == 1
    assert broken.pending == 0


def test_package_exports_resolve_lazily() -> None:
    """Every name in ibbot.broker.__all__ resolves; unknown names raise AttributeError."""
    for name in broker.__all__:
        assert getattr(broker, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = broker.nope


def test_cli_start_does_not_load_ib_async() -> None:
    """`ibbot --help` stays fast: importing the CLI (and the broker's commands) skips ib_async."""
    code = "import sys, ibbot.cli; print('ib_async' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_configs_from_settings() -> None:
    """The broker's configs read ibbot's settings sections."""
    settings = Settings(
        ib={"port": 4001, "client_id": 9, "readonly": True, "request_timeout": 12.0},
        collector={"watchlist": ["KO"], "bar_size": "5 mins", "report_types": []},
    )
    connection = ConnectionConfig.from_settings(settings.ib, host="10.0.0.2")
    assert (connection.host, connection.port, connection.client_id) == ("10.0.0.2", 4001, 9)
    assert connection.readonly
    assert connection.backoff.maximum == settings.ib.reconnect_max_delay
    executor = ExecutorConfig.from_settings(settings.ib)
    assert (executor.readonly, executor.allow_live_trading, executor.submit_timeout) == (
        True,
        False,
        12.0,
    )
    assert RequestPolicy.from_settings(settings.ib).timeout == 12.0
    collector = CollectorConfig.from_settings(settings.collector)
    assert collector.watchlist == ("KO",)
    assert collector.streams.bar_size is BarSize.MIN_5
    assert collector.fundamentals is None
    with_reports = CollectorConfig.from_settings(Settings().collector)
    assert with_reports.fundamentals is not None
    assert with_reports.fundamentals.refresh == timedelta(hours=24)
