"""Backtest throughput: sma_cross(10, 30) over synthetic daily bars read from a temporary store.

Run: ``uv run python benchmarks/backtest.py [--repeat N]``

Two cases: 1 symbol x 100,000 daily bars, and 20 symbols x 5,000 daily bars (seeded random walks
that revert to a level, so prices stay in a tradable range; written to a temporary ParquetStore
first). Each case runs in a fresh process, so its peak memory is its own:

- **load**: ``read_bars_table`` for every symbol and the columnar feed (once per run);
- **replay**: ``Backtest.run``, the hot loop: bars through the strategy, the trading layer and the
  simulated broker, fills back to the strategy, the equity curve (best of ``--repeat``);
- **outputs**: trades.csv, equity.csv, metrics.json, decisions.jsonl, report.html, report.png;
- **baseline**: in the same process, a bare loop over the same close prices keeping the two running
  sums (the least any SMA crossover can do); the ratio is replay time / baseline time;
- **peak memory**: the process's peak resident set (``ru_maxrss``) after the run, and its growth
  over the interpreter with everything imported; ``tracemalloc``'s peak of Python allocations during
  one extra (untimed) load + replay.

Targets for the 100,000-bar case: >= 150,000 bars/s replayed, peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ibbot.backtest import (
    Backtest,
    BacktestConfig,
    BarFeed,
    CommissionModel,
    StrategySpec,
    load_bars,
)
from ibbot.backtest.outputs import write_outputs
from ibbot.models import BarSize, PriceBar
from ibbot.store import ParquetStore
from ibbot.trading import RiskLimits

FAST, SLOW = 10, 30
START = datetime(1800, 1, 1, tzinfo=UTC)
CASES = {"1x100000": (1, 100_000), "20x5000": (20, 5_000)}
TARGET_BARS_PER_SECOND = 150_000
TARGET_PEAK_MB = 300


def synthetic_bars(symbol: str, n: int, seed: int) -> list[PriceBar]:
    """Daily bars of a log price reverting to log(100) with 1.5% daily noise."""
    rng = random.Random(seed)
    level = math.log(100.0)
    log_price = level
    bars = []
    for i in range(n):
        open_ = math.exp(log_price)
        log_price += 0.02 * (level - log_price) + rng.gauss(0.0, 0.015)
        close = math.exp(log_price)
        high = max(open_, close) * (1 + abs(rng.gauss(0, 0.004)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.004)))
        volume = float(rng.randint(500_000, 5_000_000))
        bars.append(
            PriceBar(
                symbol, START + timedelta(days=i), open_, high, low, close, volume, BarSize.DAY_1
            )
        )
    return bars


def write_store(root: Path, symbols: int, n: int) -> None:
    store = ParquetStore(root)
    for k in range(symbols):
        symbol = f"SYN{k:02d}"
        store.write_bars(symbol, synthetic_bars(symbol, n, seed=1_000 + k))


def config(symbols: int, n: int) -> BacktestConfig:
    return BacktestConfig(
        start=START,
        end=START + timedelta(days=n + 1),
        strategies=(
            StrategySpec(
                "sma_cross", "sma_cross", 1_000_000.0, {"fast": FAST, "slow": SLOW, "weight": 0.04}
            ),
        ),
        starting_cash=1_000_000.0,
        commission=CommissionModel.parse("ib"),
        slippage_bps=1.0,
        # every symbol may take its 4% weight; the defaults would cap orders at 25,000
        risk=RiskLimits(max_order_notional=1e9, max_open_orders=100),
        bar_size=BarSize.DAY_1,
    )


def baseline(feed: BarFeed) -> int:
    """Two running sums per symbol over the feed's closes and the crossing test, nothing else."""
    state: dict[str, list[Any]] = {}
    crossings = 0
    for symbol, close in zip(feed.symbols, feed.close, strict=True):
        s = state.get(symbol)
        if s is None:
            s = state[symbol] = [deque(), deque(), 0.0, 0.0, 0]
        fast_w, slow_w = s[0], s[1]
        fast_w.append(close)
        slow_w.append(close)
        s[2] += close
        s[3] += close
        if len(fast_w) > FAST:
            s[2] -= fast_w.popleft()
        if len(slow_w) > SLOW:
            s[3] -= slow_w.popleft()
        if len(slow_w) == SLOW:
            fast, slow = s[2] / FAST, s[3] / SLOW
            side = (fast > slow) - (fast < slow)
            if side and side != s[4]:
                crossings += s[4] != 0
                s[4] = side
    return crossings


def measure(root: Path, case: str, repeat: int) -> dict[str, Any]:
    """Run one case in this process and return its figures (called in a fresh process)."""
    symbols, n = CASES[case]
    cfg = config(symbols, n)
    store = ParquetStore(root)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    feed = load_bars(store, cfg.start, cfg.end, bar_size=cfg.bar_size)
    load_s = time.perf_counter() - started
    replay_s = math.inf
    result = None
    for _ in range(repeat):
        backtest = Backtest(cfg)
        started = time.perf_counter()
        result = backtest.run(feed)
        replay_s = min(replay_s, time.perf_counter() - started)
    assert result is not None
    with tempfile.TemporaryDirectory(prefix="ibbot-bt-out-") as out:
        started = time.perf_counter()
        write_outputs(result, Path(out))
        outputs_s = time.perf_counter() - started
    base_s = math.inf
    crossings = 0
    for _ in range(repeat):
        started = time.perf_counter()
        crossings = baseline(feed)
        base_s = min(base_s, time.perf_counter() - started)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fills = len(result.fills)
    del feed, result, backtest
    tracemalloc.start()
    traced_feed = load_bars(store, cfg.start, cfg.end, bar_size=cfg.bar_size)
    Backtest(cfg).run(traced_feed)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "case": case,
        "fills": fills,
        "bars": symbols * n,
        "load_s": load_s,
        "replay_s": replay_s,
        "outputs_s": outputs_s,
        "baseline_s": base_s,
        "crossings": crossings,
        "rss_peak_mb": rss_after / 1024,
        "rss_growth_mb": (rss_after - rss_before) / 1024,
        "traced_peak_mb": traced_peak / 2**20,
    }


def report(figures: dict[str, Any]) -> None:
    bars = figures["bars"]
    replay = bars / figures["replay_s"]
    print(
        f"{figures['case']}: {bars:,} daily bars, sma_cross({FAST}, {SLOW}), "
        f"{figures['fills']:,} fills"
    )
    load = bars / figures["load_s"]
    print(f"  load (read_bars_table + feed) {figures['load_s']:8.3f} s  {load:>12,.0f} bars/s")
    print(
        f"  replay (hot loop)             {figures['replay_s']:8.3f} s  {replay:>12,.0f} bars/s  "
        f"{figures['replay_s'] / bars * 1e9:6.0f} ns/bar"
    )
    print(f"  outputs (6 files)             {figures['outputs_s']:8.3f} s")
    total = figures["load_s"] + figures["replay_s"] + figures["outputs_s"]
    print(f"  end to end                    {total:8.3f} s  {bars / total:>12,.0f} bars/s")
    print(
        f"  baseline (bare SMA loop)      {figures['baseline_s']:8.3f} s  "
        f"{bars / figures['baseline_s']:>12,.0f} bars/s  ratio replay/baseline "
        f"{figures['replay_s'] / figures['baseline_s']:.1f}x"
    )
    print(
        f"  peak memory: RSS {figures['rss_peak_mb']:.0f} MB (+{figures['rss_growth_mb']:.0f} MB "
        f"over the loaded interpreter), Python allocations {figures['traced_peak_mb']:.0f} MB"
    )
    if figures["bars"] == 100_000:
        ok_speed = replay >= TARGET_BARS_PER_SECOND
        ok_memory = figures["rss_peak_mb"] < TARGET_PEAK_MB
        print(
            f"  target >= {TARGET_BARS_PER_SECOND:,} bars/s: {'met' if ok_speed else 'NOT met'}; "
            f"peak < {TARGET_PEAK_MB} MB: {'met' if ok_memory else 'NOT met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:  # a child process: write the store, or measure one case
        if args.write:
            write_store(args.store, *CASES[args.case])
        else:
            print(json.dumps(measure(args.store, args.case, args.repeat)))
        return
    print(f"Backtest benchmark (best of {args.repeat}; each case measured in a fresh process)")
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="ibbot-bt-bench-") as tmp:
            # Linux keeps a process's peak RSS across fork + exec: the parent must stay small, so
            # the synthetic bars are made and written by a child of their own.
            started = time.perf_counter()
            child(case, tmp, "--write")
            print(f"\n[{case}] synthetic store written in {time.perf_counter() - started:.1f} s")
            output = child(case, tmp, "--repeat", str(args.repeat))
            report(json.loads(output.strip().splitlines()[-1]))


def child(case: str, store: str, *extra: str) -> str:
    command = [sys.executable, "-m", "benchmarks.backtest", "--case", case, "--store", store]
    return subprocess.run([*command, *extra], check=True, capture_output=True, text=True).stdout


if __name__ == "__main__":
    main()
