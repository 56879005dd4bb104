"""Sweep throughput on Ray: 64 sma_cross backtests of 100 symbols x 20 years of daily bars.

Run: ``uv run python benchmarks/sweep.py [--quick]``

Workload (b) of issue 16: 100 symbols x 5,040 weekday daily bars (about 504,000 bars, seeded random
walks in whole cents, built in memory), an 8 x 8 grid of ``fast`` x ``slow``: 64 backtests. The
same sweep runs on a local Ray started with 1 worker, then with 2 (each instance started, its worker processes
warmed up with a few small backtests, used and shut down in turn; start-up is reported apart and
not timed in the sweep). Printed per run: the
wall time of the 64 backtests, backtests/s and bars/s, and the scaling ratio (1-worker time /
2-worker time; 2.0 is perfect). The baseline is one backtest of the same bars in this process
(``run_job``, no Ray) times 64: the ratio of the 1-worker time to it is what Ray costs per task
(putting nothing but the job: the bars are put in the object store once per instance).
``--quick``: 8 backtests (4 x 2 grid) of 20 symbols x 5 years.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import time
from datetime import UTC, datetime, timedelta

import structlog

from ibbot.backtest import BacktestConfig, BarFeed, CommissionModel, StrategySpec
from ibbot.models import BarSize
from ibbot.store import bars_to_table
from ibbot.sweep import Job, RayRunner, ray_session, run_job
from ibbot.trading import RiskLimits

START = datetime(2000, 1, 3, tzinfo=UTC)


def synthetic_feed(symbols: int, days: int) -> BarFeed:
    """``symbols`` x ``days`` weekday daily bars of mean-reverting random walks, in cents."""
    from ibbot.models import PriceBar  # noqa: PLC0415

    bars = []
    weekdays = []
    moment = START
    while len(weekdays) < days:
        if moment.weekday() < 5:
            weekdays.append(moment)
        moment += timedelta(days=1)
    for k in range(symbols):
        rng = random.Random(k)
        level = math.log(20 + 5 * k)
        log_price = level
        for when in weekdays:
            open_ = round(math.exp(log_price), 2)
            log_price += 0.02 * (level - log_price) + rng.gauss(0.0, 0.015)
            close = round(math.exp(log_price), 2)
            high = round(max(open_, close) * 1.004, 2)
            low = round(min(open_, close) * 0.996, 2)
            bars.append(PriceBar(f"S{k:03d}", when, open_, high, low, close, 1e6, BarSize.DAY_1))
    return BarFeed.from_table(bars_to_table(bars), BarSize.DAY_1)


def config(feed: BarFeed) -> BacktestConfig:
    return BacktestConfig(
        start=feed.times[0],
        end=feed.times[-1] + timedelta(days=1),
        strategies=(StrategySpec("sma_cross", "sma_cross", 1_000_000.0, {"weight": 0.01}),),
        starting_cash=1_000_000.0,
        commission=CommissionModel.parse("ib"),
        risk=RiskLimits(max_order_notional=1e9, max_open_orders=1_000),
        bar_size=BarSize.DAY_1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 backtests of 20 x 1,260 bars")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    symbols, days = (20, 1_260) if args.quick else (100, 5_040)
    fasts = [5, 10] if args.quick else [3, 5, 8, 10, 13, 15, 20, 25]
    slows = [30, 60, 90, 120] if args.quick else [30, 40, 50, 60, 80, 100, 150, 200]
    began = time.perf_counter()
    feed = synthetic_feed(symbols, days)
    print(
        f"workload: {symbols} symbols x {days:,} daily bars = {len(feed):,} bars "
        f"(built in {time.perf_counter() - began:.1f} s)"
    )
    base = config(feed)
    jobs = [
        Job(i, {"fast": f, "slow": s}, base.start, base.end, 0, len(feed))
        for i, (f, s) in enumerate((f, s) for f in fasts for s in slows)
    ]
    began = time.perf_counter()
    reference = run_job(base, jobs[0], feed)
    one = time.perf_counter() - began
    assert reference["error"] is None, reference["error"]
    print(
        f"baseline: one backtest in this process {one:.2f} s ({len(feed) / one:,.0f} bars/s); "
        f"x {len(jobs)} = {one * len(jobs):.1f} s"
    )
    timings: dict[int, float] = {}
    rows: dict[int, list[dict[str, object]]] = {}
    for workers in (1, 2):
        began = time.perf_counter()
        with ray_session(workers=workers) as ray:
            started = time.perf_counter() - began
            began = time.perf_counter()
            runner = RayRunner(ray, base, feed, workers=workers)
            put = time.perf_counter() - began
            # start every worker process (and its imports) before the clock runs
            warm = [Job(i, {}, base.start, base.end, 0, min(len(feed), 2_000)) for i in range(4)]
            runner.run(warm)
            began = time.perf_counter()
            rows[workers] = runner.run(jobs)
            timings[workers] = seconds = time.perf_counter() - began
        failed = [row["error"] for row in rows[workers] if row["error"]]
        assert not failed, failed[0]
        print(
            f"{workers} worker(s): {len(jobs)} backtests in {seconds:.1f} s "
            f"({len(jobs) / seconds:.2f} backtests/s, {len(jobs) * len(feed) / seconds:,.0f} "
            f"bars/s); Ray start-up {started:.1f} s, bars put in {put:.2f} s"
        )
    print(f"scaling 1 -> 2 workers: {timings[1] / timings[2]:.2f}x (2.00 is perfect)")
    print(f"Ray overhead on 1 worker: {timings[1] / (one * len(jobs)):.2f}x the in-process time")
    print(f"results identical on 1 and 2 workers: {rows[1] == rows[2]}")


if __name__ == "__main__":
    main()
