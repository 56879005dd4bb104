"""Backfill benchmark: 50 symbols against the simulated gateway, wall time vs the pacing minimum.

Run: ``uv run python benchmarks/backfill.py [--symbols 50] [--days 3] [--scale 100]``

A simulated gateway (its clock ``--scale`` times faster, so IB's 10-minute pacing window lasts
600/scale wall seconds, and enforcing IB's historical pacing rules) serves ``--symbols`` securities;
the broker's :class:`~ibbot.broker.backfill.Backfill` fetches ``--days`` of 1-minute bars for each
(one request per symbol and day) through ib_async.

The baseline, computed for the same run, is the least time IB's rules allow for that many requests:
each request goes out no sooner than the previous one plus 1/50 s (50 messages a second) and no
sooner than the one 60 before it plus the 10-minute window. The ratio is measured wall time divided
by that minimum (target <= 1.1), and the run must see zero pacing violations. A second baseline,
also measured in this run, is the same backfill with pacing switched off on both sides: the raw
request throughput of the stack, for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from ibbot.broker.backfill import Backfill
from ibbot.broker.connection import ConnectionConfig, IBConnection
from ibbot.broker.requests import IBRequests, RequestPolicy, safe_pacing_rules
from ibbot.clock import WallClock
from ibbot.models import BarSize, ContractInfo
from ibbot.pacing import IBPacer, PacingRules
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.sim.universe import DEFAULT_UNIVERSE, Universe
from ibbot.store import AsyncStore, ParquetStore

# Monday 2 March 2026, 10:00 US/Eastern; the backfill window ends at the previous Friday's close.
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 2, 27, 0, 0, tzinfo=UTC)
IB_WINDOW = 600.0  # seconds: "more than 60 requests within any ten minute period" is a violation
IB_WINDOW_REQUESTS = 60
IB_MESSAGES_PER_SECOND = 50.0
TARGET = 1.1


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


async def run(symbols: int, days: int, scale: float, *, paced: bool) -> tuple[float, int, int, int]:
    """Backfill once; return (wall seconds, requests planned, failed, pacing violations)."""
    config = SimConfig(
        port=0,
        control_port=None,
        start=START,
        time_scale=scale,
        universe=universe(symbols),
        pacing=paced,
        max_messages_per_second=int(IB_MESSAGES_PER_SECOND) if paced else 0,
    )
    clock = WallClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            SimulatedGateway(config) as gateway,
            AsyncStore(ParquetStore(Path(tmp))) as store,
            IBConnection(
                ConnectionConfig(port=gateway.port, connect_timeout=10.0),
                clock=clock,
                market_clock=gateway.clock,
            ) as connection,
        ):
            if paced:
                rules = safe_pacing_rules(scale=scale, margin=0.05)
            else:
                connection.ib.client.MaxRequests = 0  # ib_async's own throttle off too
                rules = dataclasses.replace(
                    PacingRules(),
                    messages_per_second=1e6,
                    message_burst=1e6,
                    historical_requests=1_000_000,
                    same_contract_requests=1_000,
                    historical_window=1e-6,
                    identical_request_interval=1e-6,
                    same_contract_window=1e-6,
                )
            requests = IBRequests(
                connection, IBPacer(clock, rules), policy=RequestPolicy(timeout=30.0)
            )
            infos: list[ContractInfo] = [await requests.qualify(s) for s in config.universe]
            backfill = Backfill(requests, store, gateway.clock, workers=16)
            started = time.perf_counter()
            report = await backfill.fill(
                infos,
                bar_size=BarSize.MIN_1,
                start=WINDOW_END - timedelta(days=days),
                end=WINDOW_END,
            )
            elapsed = time.perf_counter() - started
    return elapsed, report.planned, report.failed, requests.pacing_violations


async def main(symbols: int, days: int, scale: float) -> int:
    window = IB_WINDOW / scale
    unpaced, n_free, _, _ = await run(symbols, days, scale, paced=False)
    wall, n, failed, violations = await run(symbols, days, scale, paced=True)
    minimum = minimum_seconds(n, window)
    ratio = wall / minimum if minimum else float("inf")
    print(f"backfill of {symbols} symbols x {days} day(s) of 1-minute bars: {n} requests")
    print(f"simulated clock {scale:g}x: IB's 10-minute pacing window = {window:.2f} s wall")
    print(
        f"unpaced baseline (pacing off on both sides): {unpaced:7.2f} s  ({n_free / unpaced:,.0f} requests/s)"
    )
    print(f"minimum the pacing rules allow            : {minimum:7.2f} s")
    print(f"measured, paced                           : {wall:7.2f} s")
    print(f"ratio measured / minimum                  : {ratio:7.3f}  (target <= {TARGET})")
    print(f"pacing violations: {violations}, failed requests: {failed}")
    ok = ratio <= TARGET and violations == 0 and failed == 0
    print("target met" if ok else "target NOT met")
    return 0 if ok else 1


def _quiet() -> None:
    logging.basicConfig(level=logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=3, help="trading days before 27 Feb 2026")
    parser.add_argument("--scale", type=float, default=100.0, help="simulated clock speed-up")
    options = parser.parse_args()
    _quiet()
    raise SystemExit(asyncio.run(main(options.symbols, options.days, options.scale)))
