"""Event bus throughput and latency, beside a bare ``asyncio.Queue`` fan-out measured in the same run.

Shape: 1 publisher, 4 subscribers, queues bounded at the bus default (BLOCK, i.e. backpressure, the
same as ``await queue.put``). Scenarios, each on asyncio's default loop and on uvloop:

- baseline: the publisher ``await``s ``put`` on 4 bounded queues; 4 consumers ``await get()``;
- EventBus with 4 callback subscribers (the bus's own queues and consumer tasks);
- EventBus with 4 queue targets (the bus fills the callers' queues; they ``await get()`` as above).

Throughput is events published per second until every subscriber has received them all. Latency is
from just before ``publish`` to the subscriber's receipt, at a paced rate: the publisher follows a
schedule on the loop's clock (event i is due at start + i/rate) and yields to the loop while waiting,
instead of sleeping once per event.

Run: ``uv run python -m benchmarks.bus`` (``--events 100000`` for a quick run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from ibbot.bus import DEFAULT_MAXSIZE, EventBus
from ibbot.models import Event, EventType, Tick

SUBSCRIBERS = 4
MAXSIZE = DEFAULT_MAXSIZE
THROUGHPUT_TARGET = 0.8  # of the bare-queue baseline
P99_TARGET_US = 200.0

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def make_events(count: int) -> list[Event]:
    """Distinct tick events over a few symbols, each carrying its sequence number."""
    start = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    symbols = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM")
    events = []
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        tick = Tick(symbol, start, bid=100.0 + i % 100 / 100, ask=100.02 + i % 100 / 100)
        events.append(
            Event(EventType.TICK, symbol, start, {"seq": i, "tick": tick}, ingested_at=start)
        )
    return events


# -- throughput ----------------------------------------------------------------------------------


class Counter:
    """A subscriber callback that counts and signals when it has seen ``target`` events."""

    __slots__ = ("count", "done", "target")

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


async def count_from(queue: asyncio.Queue[Event], target: int) -> None:
    """A consumer task of the baseline shape: one ``await get()`` per event."""
    get = queue.get
    for _ in range(target):
        await get()


async def baseline_fanout(pool: Sequence[Event], n: int) -> float:
    queues: list[asyncio.Queue[Event]] = [asyncio.Queue(MAXSIZE) for _ in range(SUBSCRIBERS)]
    puts = [q.put for q in queues]
    async with asyncio.TaskGroup() as tg:
        for q in queues:
            tg.create_task(count_from(q, n))
        start = time.perf_counter()
        for event in itertools.islice(itertools.cycle(pool), n):
            for put in puts:
                await put(event)
    return time.perf_counter() - start


async def bus_callbacks(pool: Sequence[Event], n: int) -> float:
    counters = [Counter(n) for _ in range(SUBSCRIBERS)]
    async with EventBus() as bus:
        for i, counter in enumerate(counters):
            bus.subscribe([EventType.TICK], counter, name=f"sub{i}")
        publish = bus.publish
        start = time.perf_counter()
        for event in itertools.islice(itertools.cycle(pool), n):
            await publish(event)
        for counter in counters:
            await counter.done.wait()
        return time.perf_counter() - start


async def bus_queue_targets(pool: Sequence[Event], n: int) -> float:
    queues: list[asyncio.Queue[Event]] = [asyncio.Queue(MAXSIZE) for _ in range(SUBSCRIBERS)]
    async with EventBus() as bus, asyncio.TaskGroup() as tg:
        for i, q in enumerate(queues):
            bus.subscribe([EventType.TICK], q, name=f"queue{i}")
            tg.create_task(count_from(q, n))
        publish = bus.publish
        start = time.perf_counter()
        for event in itertools.islice(itertools.cycle(pool), n):
            await publish(event)
    return time.perf_counter() - start


# -- latency -------------------------------------------------------------------------------------


class Recorder:
    """Records receive time minus publish time (ns) for each event, until ``target`` are seen."""

    __slots__ = ("done", "latencies", "stamps", "target")

    def __init__(self, stamps: list[int], target: int) -> None:
        self.stamps = stamps
        self.target = target
        self.latencies: list[int] = []
        self.done = asyncio.Event()

    def __call__(self, event: Event) -> None:
        now = time.perf_counter_ns()
        payload: Any = event.payload
        self.latencies.append(now - self.stamps[payload["seq"]])
        if len(self.latencies) == self.target:
            self.done.set()


async def paced(
    events: Sequence[Event],
    stamps: list[int],
    rate: float,
    publish: Callable[[Event], Coroutine[Any, Any, None]],
) -> None:
    """Publish event i at start + i/rate on the loop clock, stamping each just before it goes."""
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    start = loop.time() + 0.01
    for i, event in enumerate(events):
        due = start + i * interval
        # Far from due: one real sleep; close to it: yield so consumers run, then look again (the
        # selector's timeout granularity is 1 ms, too coarse to space events 100 µs apart).
        while (now := loop.time()) < due:  # noqa: ASYNC110  a deadline, not an event, is awaited
            await asyncio.sleep(due - now - 0.001 if due - now > 0.002 else 0)
        stamps[i] = time.perf_counter_ns()
        await publish(event)


async def latency_baseline(events: Sequence[Event], rate: float) -> list[int]:
    stamps = [0] * len(events)
    recorders = [Recorder(stamps, len(events)) for _ in range(SUBSCRIBERS)]
    queues: list[asyncio.Queue[Event]] = [asyncio.Queue(MAXSIZE) for _ in range(SUBSCRIBERS)]

    async def consume(queue: asyncio.Queue[Event], recorder: Recorder) -> None:
        for _ in range(recorder.target):
            recorder(await queue.get())

    async def publish(event: Event) -> None:
        for q in queues:
            await q.put(event)

    async with asyncio.TaskGroup() as tg:
        for q, r in zip(queues, recorders, strict=True):
            tg.create_task(consume(q, r))
        await paced(events, stamps, rate, publish)
    return [x for r in recorders for x in r.latencies]


async def latency_bus(events: Sequence[Event], rate: float) -> list[int]:
    stamps = [0] * len(events)
    recorders = [Recorder(stamps, len(events)) for _ in range(SUBSCRIBERS)]
    async with EventBus() as bus:
        for i, recorder in enumerate(recorders):
            bus.subscribe([EventType.TICK], recorder, name=f"sub{i}")
        await paced(events, stamps, rate, bus.publish)
        for recorder in recorders:
            await recorder.done.wait()
    return [x for r in recorders for x in r.latencies]


# -- running and reporting -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Latency:
        ordered = sorted(samples_ns)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1000

        return cls(pct(0.50), pct(0.99), pct(0.999), ordered[-1] / 1000)


def loops() -> list[tuple[str, LoopFactory]]:
    found: list[tuple[str, LoopFactory]] = [("asyncio", asyncio.new_event_loop)]
    try:
        import uvloop  # noqa: PLC0415  optional: absent on Windows
    except ImportError:
        print("uvloop is not installed: measuring asyncio's default loop only")
    else:
        found.append(("uvloop", uvloop.new_event_loop))
    return found


def run(factory: LoopFactory, coro: Coroutine[Any, Any, Any]) -> Any:
    gc.collect()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per throughput run")
    parser.add_argument("--repeat", type=int, default=1, help="throughput runs; the best is shown")
    parser.add_argument("--rate", type=float, default=10_000.0, help="paced rate for latency")
    parser.add_argument("--latency-events", type=int, default=20_000, help="events per latency run")
    args = parser.parse_args(argv)
    # the bus logs start/stop at debug; keep the table clean
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = args.events
    pool = make_events(1024)
    paced_events = make_events(args.latency_events)

    print(
        f"ibbot event bus: 1 publisher -> {SUBSCRIBERS} subscribers, queue bound {MAXSIZE}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(f"\nthroughput, {n:,} events (best of {args.repeat}); ratio = events/s / baseline")
    print(f"{'loop':<9}{'scenario':<34}{'events/s':>12}{'ratio':>8}")
    scenarios = (
        ("bare asyncio.Queue fan-out (baseline)", baseline_fanout),
        ("EventBus, callback subscribers", bus_callbacks),
        ("EventBus, queue-target subscribers", bus_queue_targets),
    )
    verdicts: list[str] = []
    for loop_name, factory in loops():
        rates: dict[str, float] = {}
        for label, scenario in scenarios:
            best = min(run(factory, scenario(pool, n)) for _ in range(args.repeat))
            rates[label] = n / best
            ratio = rates[label] / rates[scenarios[0][0]]
            print(f"{loop_name:<9}{label:<34}{rates[label]:>12,.0f}{ratio:>8.2f}")
            if scenario is bus_callbacks:
                verdicts.append(
                    f"{loop_name}: bus/baseline {ratio:.2f} "
                    f"({'meets' if ratio >= THROUGHPUT_TARGET else 'MISSES'} >= {THROUGHPUT_TARGET})"
                )

    total = args.latency_events * SUBSCRIBERS
    print(
        f"\nlatency, publish -> receive, paced at {args.rate:,.0f} events/s "
        f"({args.latency_events:,} events x {SUBSCRIBERS} subscribers = {total:,} samples), µs"
    )
    print(f"{'loop':<9}{'scenario':<34}{'p50':>8}{'p99':>8}{'p99.9':>8}{'max':>9}")
    for loop_name, factory in loops():
        for label, measure in (
            ("bare asyncio.Queue fan-out", latency_baseline),
            ("EventBus, callback subscribers", latency_bus),
        ):
            lat = Latency.of(run(factory, measure(paced_events, args.rate)))
            print(
                f"{loop_name:<9}{label:<34}{lat.p50_us:>8.1f}{lat.p99_us:>8.1f}"
                f"{lat.p999_us:>8.1f}{lat.max_us:>9.1f}"
            )
            if measure is latency_bus:
                verdicts.append(
                    f"{loop_name}: bus p99 {lat.p99_us:.1f} µs "
                    f"({'meets' if lat.p99_us < P99_TARGET_US else 'MISSES'} < {P99_TARGET_US:.0f} µs)"
                )
    print("\ntargets:")
    for verdict in verdicts:
        print(f"  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
