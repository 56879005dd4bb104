"""Backfill benchmark against the simulated gateway: strict pacing vs its minimum, IB-like pacing vs
the strict-rule bound.

Run: ``uv run python benchmarks/backfill.py [--case strict|ib-like|all] [--quick] [--scale 100]``

Both cases run ibbot's :class:`~ibbot.broker.backfill.Backfill` through ib_async against a simulated
gateway, in a process of its own, whose clock runs ``--scale`` times faster (so IB's 10-minute
pacing window lasts 600/scale wall seconds), with fresh stores, and require zero pacing violations
and zero failed requests.

``strict``: ``--symbols`` securities, ``--days`` of 1-minute bars each (one request per symbol and
day), with IB's small-bar rules applied to every bar size on both sides (``strict_pacing``). The
baseline, computed for the same run, is the least time those rules allow for that many requests:
each request no sooner than the previous one plus 1/50 s (50 messages a second) and no sooner than
the one 60 before it plus the 10-minute window. The ratio is measured wall time / that minimum
(target <= 1.1). A second baseline, measured in this run, is the same backfill with pacing off on
both sides: the raw request throughput of the stack, for scale.

``ib-like``: the pacing IB documents now, on both sides (hard rules for bars of 30 s or less only;
50 open requests, the sim's soft throttle, ibbot's adaptive backoff): 500 symbols of 20 years of
daily bars, then 50 symbols of 1 year of 1-minute bars (``--quick``: 50 and 5). Printed: wall time,
requests, violations, failed requests, and the ratio of the wall time to the strict-rule bound: the
minimum above for the same number of requests (computed, not run), in wall seconds at this scale.
At 100x the soft throttle never binds: the run is bound by generating and parsing the bars (the
gateway computes every bar it serves), so the ratio measures the stack, and is an upper bound for a
real Gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ibbot.broker.backfill import Backfill
from ibbot.broker.connection import ConnectionConfig, IBConnection
from ibbot.broker.requests import IBRequests, RequestPolicy, safe_pacing_rules
from ibbot.clock import ScaledClock, WallClock
from ibbot.models import BarSize, ContractInfo
from ibbot.pacing import IBPacer, PacingRules
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.sim.universe import DEFAULT_UNIVERSE, Universe
from ibbot.store import AsyncStore, ParquetStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from multiprocessing.connection import Connection
    from multiprocessing.synchronize import Event as EventType

# Monday 2 March 2026, 10:00 US/Eastern; the backfill window ends at the previous Friday's close.
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 2, 27, 0, 0, tzinfo=UTC)
IB_WINDOW = 600.0  # seconds: "more than 60 requests within any ten minute period" is a violation
IB_WINDOW_REQUESTS = 60
IB_MESSAGES_PER_SECOND = 50.0
TARGET = 1.1
WORKERS = 16


@dataclass(frozen=True, slots=True)
class Leg:
    """One backfill of a run: the first ``symbols`` of the universe, ``bar_size`` bars from
    ``start`` to the window end."""

    symbols: int
    bar_size: BarSize
    start: datetime


@dataclass(frozen=True, slots=True)
class LegResult:
    """What one leg did: requests planned, bars stored, wall seconds."""

    leg: Leg
    requests: int
    bars: int
    wall: float


@dataclass(frozen=True, slots=True)
class Result:
    """What one run did: wall seconds, requests planned, failed, pacing violations, per leg."""

    wall: float
    requests: int
    failed: int
    violations: int
    legs: tuple[LegResult, ...]


def universe(count: int) -> Universe:
    """``count`` distinct securities, cloned from the default universe with new symbols and ids."""
    base = list(DEFAULT_UNIVERSE.values())
    return Universe(
        dataclasses.replace(base[i % len(base)], symbol=f"S{i:03d}", con_id=9_000_000 + i)
        for i in range(count)
    )


def minimum_seconds(requests: int, window: float) -> float:
    """The earliest the last of ``requests`` can be sent under IB's two rules (greedy schedule)."""
    sent: list[float] = []
    for i in range(requests):
        t = sent[-1] + 1 / IB_MESSAGES_PER_SECOND if sent else 0.0
        if i >= IB_WINDOW_REQUESTS:
            t = max(t, sent[i - IB_WINDOW_REQUESTS] + window)
        sent.append(t)
    return sent[-1] if sent else 0.0


def _unpaced_rules() -> PacingRules:
    return dataclasses.replace(
        PacingRules(),
        messages_per_second=1e6,
        message_burst=1e6,
        historical_requests=1_000_000,
        same_contract_requests=1_000,
        historical_window=1e-6,
        identical_request_interval=1e-6,
        same_contract_window=1e-6,
    )


def sim_config(symbols: int, scale: float, pacing: str) -> SimConfig:
    """The gateway of a run; ``pacing`` is ``strict``, ``ib`` (IB's rules now) or ``off``."""
    return SimConfig(
        port=0,
        control_port=None,
        start=START,
        time_scale=scale,
        universe=universe(symbols),
        pacing=pacing != "off",
        strict_pacing=pacing == "strict",
        max_messages_per_second=0 if pacing == "off" else int(IB_MESSAGES_PER_SECOND),
    )


def _serve(symbols: int, scale: float, pacing: str, port: Connection, stop: EventType) -> None:
    """The gateway process: serve until ``stop`` is set, after sending the API port."""
    _quiet()

    async def serve() -> None:
        async with SimulatedGateway(sim_config(symbols, scale, pacing)) as gateway:
            port.send(gateway.port)
            await asyncio.to_thread(stop.wait)

    asyncio.run(serve())


@asynccontextmanager
async def gateway_process(symbols: int, scale: float, pacing: str) -> AsyncIterator[int]:
    """A simulated gateway in its own process (as IB's serving is not on the client's cores)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    stop = context.Event()
    process = context.Process(target=_serve, args=(symbols, scale, pacing, theirs, stop))
    process.start()
    try:
        if not await asyncio.to_thread(ours.poll, 60.0):
            raise RuntimeError("the simulated gateway did not start within 60 s")
        yield int(ours.recv())
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 60.0)
        if process.is_alive():
            process.kill()


async def run(legs: list[Leg], scale: float, *, pacing: str) -> Result:
    """Backfill every leg in turn; ``pacing`` is ``strict``, ``ib`` (IB's rules now) or ``off``."""
    symbols = max(leg.symbols for leg in legs)
    clock = WallClock()
    market = ScaledClock(START, scale)  # the gateway's clock, started a moment later
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            gateway_process(symbols, scale, pacing) as port,
            AsyncStore(ParquetStore(Path(tmp))) as store,
            IBConnection(
                ConnectionConfig(port=port, connect_timeout=10.0), clock=clock, market_clock=market
            ) as connection,
        ):
            if pacing == "off":
                connection.ib.client.MaxRequests = 0  # ib_async's own throttle off too
                rules = _unpaced_rules()
            else:
                rules = safe_pacing_rules(scale=scale, margin=0.05, strict=pacing == "strict")
            requests = IBRequests(
                connection, IBPacer(clock, rules), policy=RequestPolicy(timeout=60.0)
            )
            infos: list[ContractInfo] = list(
                await asyncio.gather(*(requests.qualify(f"S{i:03d}") for i in range(symbols)))
            )
            backfill = Backfill(requests, store, market, workers=WORKERS)
            done: list[LegResult] = []
            failed = 0
            started = time.perf_counter()
            for leg in legs:
                leg_started = time.perf_counter()
                report = await backfill.fill(
                    infos[: leg.symbols], bar_size=leg.bar_size, start=leg.start, end=WINDOW_END
                )
                wall = time.perf_counter() - leg_started
                done.append(LegResult(leg, report.planned, report.bars, wall))
                failed += report.failed
            elapsed = time.perf_counter() - started
    planned = sum(leg.requests for leg in done)
    return Result(elapsed, planned, failed, requests.pacing_violations, tuple(done))


async def strict_case(symbols: int, days: int, scale: float) -> bool:
    """The strict case: measured / minimum the strict rules allow, and the unpaced baseline."""
    legs = [Leg(symbols, BarSize.MIN_1, WINDOW_END - timedelta(days=days))]
    window = IB_WINDOW / scale
    unpaced = await run(legs, scale, pacing="off")
    paced = await run(legs, scale, pacing="strict")
    minimum = minimum_seconds(paced.requests, window)
    ratio = paced.wall / minimum if minimum else float("inf")
    print(f"[strict] {symbols} symbols x {days} day(s) of 1-minute bars: {paced.requests} requests")
    print(f"simulated clock {scale:g}x: IB's 10-minute pacing window = {window:.2f} s wall")
    print(
        f"unpaced baseline (pacing off on both sides): {unpaced.wall:7.2f} s  "
        f"({unpaced.requests / unpaced.wall:,.0f} requests/s)"
    )
    print(f"minimum the strict rules allow             : {minimum:7.2f} s")
    print(f"measured, strict pacing on both sides      : {paced.wall:7.2f} s")
    print(f"ratio measured / minimum                   : {ratio:7.3f}  (target <= {TARGET})")
    print(f"pacing violations: {paced.violations}, failed requests: {paced.failed}")
    ok = ratio <= TARGET and paced.violations == 0 and paced.failed == 0
    print("target met" if ok else "target NOT met")
    return ok


async def ib_like_case(daily: int, minute: int, scale: float) -> bool:
    """The IB-like case: 20 years of daily bars, then 1 year of 1-minute bars, at IB's pacing now."""
    legs = [
        Leg(daily, BarSize.DAY_1, WINDOW_END.replace(year=WINDOW_END.year - 20)),
        Leg(minute, BarSize.MIN_1, WINDOW_END.replace(year=WINDOW_END.year - 1)),
    ]
    result = await run(legs, scale, pacing="ib")
    bound = minimum_seconds(result.requests, IB_WINDOW)  # IB seconds
    ratio = result.wall / (bound / scale)
    print(
        f"[ib-like] {daily} symbols x 20 years of daily bars + {minute} symbols x 1 year of "
        f"1-minute bars: {result.requests} requests"
    )
    print(f"simulated clock {scale:g}x; IB's pacing now on both sides (strict for <= 30 s bars)")
    for leg in result.legs:
        print(
            f"  {leg.leg.symbols} x {leg.leg.bar_size.value}: {leg.requests} requests, "
            f"{leg.bars:,} bars in {leg.wall:.2f} s ({leg.requests / leg.wall:,.1f} requests/s, "
            f"{leg.bars / leg.wall:,.0f} bars/s)"
        )
    print(f"measured wall time                    : {result.wall:9.2f} s")
    print(
        f"strict-rule bound (60 per 10 minutes) : {bound / scale:9.2f} s wall at {scale:g}x "
        f"({bound / 3600:,.1f} h at IB's speed)"
    )
    print(f"ratio measured / strict-rule bound    : {ratio:9.4f}")
    print(f"pacing violations: {result.violations}, failed requests: {result.failed}")
    ok = result.violations == 0 and result.failed == 0
    print("no violations, nothing failed" if ok else "violations or failures: NOT met")
    return ok


async def main(options: argparse.Namespace) -> int:
    ok = True
    if options.case in ("strict", "all"):
        ok &= await strict_case(options.symbols, options.days, options.scale)
    if options.case in ("ib-like", "all"):
        daily, minute = (50, 5) if options.quick else (500, 50)
        ok &= await ib_like_case(daily, minute, options.scale)
    return 0 if ok else 1


def _quiet() -> None:
    logging.basicConfig(level=logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("strict", "ib-like", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="ib-like with 50 and 5 symbols")
    parser.add_argument("--symbols", type=int, default=50, help="strict case: symbols")
    parser.add_argument("--days", type=int, default=3, help="strict case: days before 27 Feb 2026")
    parser.add_argument("--scale", type=float, default=100.0, help="simulated clock speed-up")
    _quiet()
    raise SystemExit(asyncio.run(main(parser.parse_args())))
