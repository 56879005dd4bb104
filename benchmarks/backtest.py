"""Backtest throughput: sma_cross(10, 30), in process and as a whole ``ibbot backtest`` process
beside backtrader, on synthetic daily bars written to a temporary store.

Run: ``uv run python benchmarks/backtest.py [--repeat N] [--case a|b]``

Two workloads (issue 16): (a) 1 symbol x 100,000 daily bars, (b) 100 symbols x 20 years of weekday
daily bars (5,040 each, 504,000 bars). Prices are seeded random walks that revert to a level, in
whole cents as a broker sends them. A child process writes them through ``ParquetStore.write_bars``
and, for backtrader, as one CSV file per symbol. Then, each in a fresh process (so each peak memory
is its own):

- **in process**: ``load`` (``read_bars_table`` for every symbol and the columnar feed), ``replay``
  (``Backtest.run``: bars through the strategy, the trading layer and the simulated broker, fills
  back to the strategy, the equity curve; best of ``--repeat``), ``outputs`` (trades.csv,
  equity.csv, metrics.json, decisions.jsonl, report.html, report.png), and a **baseline**: a bare
  loop over the same closes keeping the two running sums (the least any SMA crossover can do);
- **whole process**, side by side: ``ibbot backtest`` (the console command: start-up, settings,
  load, replay, every output file) against ``benchmarks/backtrader_sma.py`` (backtrader's
  ``Cerebro`` over the CSV files with the same rule: start-up, CSV parsing, the run), each best of
  ``--repeat``, wall time, bars/s and peak resident set (``wait4``, the largest of the runs), and
  the ratio of their bars/s. Both run with their bytecode cached, as installed programs do (in a
  directory of the run; an untimed run of each on a few bars fills it). ibbot's run is split by
  its own log lines (start-up and load, replay, outputs, exit), and a run on two months of the
  bars gives its fixed cost.

Targets: whole-process bars/s >= 10x backtrader's on both workloads; replay >= 150,000 bars/s;
peak RSS of ``ibbot backtest`` < 300 MB for (a) and < 600 MB for (b).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

FAST, SLOW, WEIGHT = 10, 30, 0.04
CASES: dict[str, tuple[int, int, date]] = {
    "a": (1, 100_000, date(1800, 1, 1)),  # every calendar day from 1800 on
    "b": (100, 5_040, date(2000, 1, 3)),  # weekdays from 2000 on: 20 years
}
TARGET_RATIO = 10.0
TARGET_BARS_PER_SECOND = 150_000
TARGET_PEAK_MB = {"a": 300, "b": 600}
BACKTRADER = Path(__file__).with_name("backtrader_sma.py")
# The libraries of the design card an ``ibbot backtest`` imports, alone (structlog without rich, as
# ``ibbot`` imports it): the least start-up any process of it can have.
LIBRARIES = (
    "import sys; sys.modules['rich'] = None; import structlog; del sys.modules['rich']; "
    "import pydantic, pydantic_settings, numpy, pyarrow.parquet"
)


def days(case: str) -> list[date]:
    symbols, n, first = CASES[case]
    found: list[date] = []
    current = first
    while len(found) < n:
        if symbols == 1 or current.weekday() < 5:
            found.append(current)
        current += timedelta(days=1)
    return found


def synthetic_rows(
    k: int, dates: list[date]
) -> list[tuple[date, float, float, float, float, float]]:
    """Daily OHLCV in cents of a log price reverting to its level with 1.5% daily noise."""
    rng = random.Random(1_000 + k)
    level = math.log(20 + 5 * (k % 40))
    log_price = level
    rows = []
    for day in dates:
        open_ = round(math.exp(log_price), 2)
        log_price += 0.02 * (level - log_price) + rng.gauss(0.0, 0.015)
        close = round(math.exp(log_price), 2)
        high = round(max(open_, close) * (1 + abs(rng.gauss(0, 0.004))), 2)
        low = round(min(open_, close) * (1 - abs(rng.gauss(0, 0.004))), 2)
        rows.append((day, open_, high, low, close, float(rng.randint(500_000, 5_000_000))))
    return rows


def write_inputs(root: Path, case: str) -> None:
    """The store (through its API) and backtrader's CSV files, one per symbol."""
    from ibbot.models import BarSize, PriceBar  # noqa: PLC0415
    from ibbot.store import ParquetStore  # noqa: PLC0415

    store = ParquetStore(root / "store")
    (root / "csv").mkdir()
    dates = days(case)
    for k in range(CASES[case][0]):
        symbol = f"S{k:03d}"
        rows = synthetic_rows(k, dates)
        store.write_bars(
            symbol,
            [
                PriceBar(
                    symbol,
                    datetime(d.year, d.month, d.day, tzinfo=UTC),
                    o,
                    h,
                    lo,
                    c,
                    v,
                    BarSize.DAY_1,
                )
                for d, o, h, lo, c, v in rows
            ],
        )
        lines = ["date,open,high,low,close,volume"]
        lines.extend(f"{d},{o!r},{h!r},{lo!r},{c!r},{v:.0f}" for d, o, h, lo, c, v in rows)
        (root / "csv" / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def period(case: str) -> tuple[date, date]:
    dates = days(case)
    return dates[0], dates[-1]


def config(case: str) -> Any:
    from ibbot.backtest import BacktestConfig, CommissionModel, StrategySpec  # noqa: PLC0415
    from ibbot.models import BarSize  # noqa: PLC0415
    from ibbot.trading import RiskLimits  # noqa: PLC0415

    first, last = period(case)
    return BacktestConfig(
        start=datetime(first.year, first.month, first.day, tzinfo=UTC),
        end=datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
        strategies=(
            StrategySpec(
                "sma_cross",
                "sma_cross",
                1_000_000.0,
                {"fast": FAST, "slow": SLOW, "weight": WEIGHT},
            ),
        ),
        starting_cash=1_000_000.0,
        commission=CommissionModel.parse("ib"),
        slippage_bps=1.0,
        # every symbol may take its weight; the defaults would cap orders at 25,000
        risk=RiskLimits(max_order_notional=1e9, max_open_orders=1_000),
        bar_size=BarSize.DAY_1,
    )


def baseline(symbols: list[str], closes: list[float]) -> int:
    """Two running sums per symbol over the feed's closes and the crossing test, nothing else."""
    state: dict[str, list[Any]] = {}
    crossings = 0
    for symbol, close in zip(symbols, closes, strict=True):
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


def undecided_strategy(cfg: Any) -> Any:
    """sma_cross as configured, keeping its averages on every bar but never deciding: the replay's
    cost without the decisions (the rest of a decision's cost is the trading layer's)."""
    from ibbot.strategies.sma_cross.strategy import SmaCrossStrategy  # noqa: PLC0415

    class Undecided(SmaCrossStrategy):
        def on_bar(self, state: Any, bar: Any) -> bool:
            super().on_bar(state, bar)
            return False

    spec = cfg.strategies[0]
    return Undecided(name=spec.name, allocated_capital=spec.allocated_capital, params=spec.params)


def measure(root: Path, case: str, repeat: int) -> dict[str, Any]:
    """One workload in this process, stage by stage (called in a fresh process)."""
    import logging  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    from ibbot.backtest import Backtest, load_bars  # noqa: PLC0415
    from ibbot.backtest.outputs import write_outputs  # noqa: PLC0415
    from ibbot.store import ParquetStore  # noqa: PLC0415

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    cfg = config(case)
    store = ParquetStore(root / "store")
    started = time.perf_counter()
    for symbol in store.symbols():  # the store's share of the load, measured apart (untimed)
        store.read_bars_table(symbol, cfg.start, cfg.end, cfg.bar_size)
    read_s = time.perf_counter() - started
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
    undecided_s = math.inf
    for _ in range(repeat):  # the same replay with a strategy that never decides
        backtest = Backtest(cfg, strategies=[undecided_strategy(cfg)])
        started = time.perf_counter()
        backtest.run(feed)
        undecided_s = min(undecided_s, time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="ibbot-bt-out-") as out:
        started = time.perf_counter()
        write_outputs(result, Path(out))
        outputs_s = time.perf_counter() - started
    symbols, closes = list(feed.symbols), list(feed.close)
    base_s = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        baseline(symbols, closes)
        base_s = min(base_s, time.perf_counter() - started)
    return {
        "bars": len(feed),
        "fills": len(result.fills),
        "load_s": load_s,
        "read_s": read_s,
        "replay_s": replay_s,
        "undecided_s": undecided_s,
        "decisions": len(result.decisions),
        "outputs_s": outputs_s,
        "baseline_s": base_s,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Wall seconds, peak RSS (MB), stdout and stderr of one process run to its end, and when it
    was launched (wall clock, to place its log lines)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        launched = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited {process.returncode}: {errors[-2000:]}")
    return {
        "seconds": seconds,
        "rss_mb": usage.ru_maxrss / 1024,
        "stdout": text,
        "stderr": errors,
        "launched": launched,
    }


def stages(run: dict[str, Any]) -> dict[str, float]:
    """Where an ``ibbot backtest`` process spent its time, from its JSON log lines' timestamps:
    start-up and load (to ``backtest.loaded``), replay (to ``backtest.replayed``), outputs (to
    ``backtest.written``) and the rest (the summary, the interpreter's exit)."""
    at = {}
    for line in run["stderr"].splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            stamp = datetime.fromisoformat(record["timestamp"])
            at[record["event"]] = stamp.timestamp()
    marks = [run["launched"], at["backtest.loaded"], at["backtest.replayed"]]
    marks += [at["backtest.written"], run["launched"] + run["seconds"]]
    names = ("start-up + load", "replay", "outputs", "exit")
    return {
        name: end - begin for name, begin, end in zip(names, marks[:-1], marks[1:], strict=True)
    }


def ibbot_command(root: Path, case: str, out: Path, end: date | None = None) -> list[str]:
    first, last = period(case)
    last = end or last
    script = Path(sys.executable).with_name("ibbot")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "ibbot"]
    return [
        *head,
        "--log-level",
        "info",  # three JSON lines: when the bars were loaded, replayed and written
        "--log-format",
        "json",
        "--set",
        f"store.path={root / 'store'}",
        "--set",
        "risk.max_order_notional=1000000000",
        "--set",
        "risk.max_open_orders=1000",
        "backtest",
        "--start",
        first.isoformat(),
        "--end",
        last.isoformat(),
        "--strategy",
        "sma_cross",
        "--param",
        f"sma_cross.fast={FAST}",
        "--param",
        f"sma_cross.slow={SLOW}",
        "--param",
        f"sma_cross.weight={WEIGHT}",
        "--capital",
        "1000000",
        "--slippage-bps",
        "1",
        "--out",
        str(out),
    ]


def backtrader_command(root: Path, case: str, end: date | None = None) -> list[str]:
    first, last = period(case)
    last = end or last
    files = sorted(str(p) for p in (root / "csv").glob("*.csv"))
    return [sys.executable, str(BACKTRADER), first.isoformat(), last.isoformat(), *files]


def program_env(root: Path) -> dict[str, str]:
    """This environment without IBBOT_ settings, with bytecode cached under ``root``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("IBBOT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def whole(root: Path, case: str, repeat: int) -> dict[str, Any]:
    """Best of ``repeat`` whole processes of each, alternating ibbot and backtrader.

    Both run as an installed program does, with their modules' bytecode cached (in a directory
    of the run, so nothing is written beside the sources): one untimed run of each, on a few
    bars, fills the cache first.
    """
    env = program_env(root)
    first, _ = period(case)
    warm = first + timedelta(days=60)
    for command in (
        ibbot_command(root, case, root / "warm", end=warm),
        backtrader_command(root, case, end=warm)[:5],  # one file
    ):
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    fixed = timed(ibbot_command(root, case, root / "warm", end=warm), root, env)
    bars = CASES[case][0] * CASES[case][1]
    best: dict[str, dict[str, Any]] = {}
    for attempt in range(repeat):
        out = root / f"out-{attempt}"
        for name, command in (
            ("ibbot", ibbot_command(root, case, out)),
            ("backtrader", backtrader_command(root, case)),
        ):
            run = timed(command, root, env)
            if name == "backtrader":
                counted = int(run["stdout"].split()[0].split("=")[1])
                assert counted == bars, f"backtrader replayed {counted} bars, not {bars}"
            else:
                run["stages"] = stages(run)
            previous = best.get(name)
            if previous is not None:
                run["rss_mb"] = max(run["rss_mb"], previous["rss_mb"])
            if previous is None or run["seconds"] < previous["seconds"]:
                best[name] = run
            else:
                previous["rss_mb"] = run["rss_mb"]
        shutil.rmtree(out)
    best["fixed"] = fixed
    best["libraries"] = min(
        (timed([sys.executable, "-c", LIBRARIES], root, env) for _ in range(max(repeat, 3))),
        key=lambda run: run["seconds"],
    )
    return best


def report(case: str, inner: dict[str, Any], outer: dict[str, Any]) -> None:
    bars = inner["bars"]
    symbols, n, _ = CASES[case]
    print(
        f"({case}) {symbols} x {n:,} = {bars:,} daily bars, sma_cross({FAST}, {SLOW}), "
        f"{inner['fills']:,} fills"
    )
    print("  in process:")
    for label, key in (
        ("load (read_bars_table + feed)", "load_s"),
        ("  of which read_bars_table", "read_s"),
        ("replay (hot loop)", "replay_s"),
        ("outputs (6 files)", "outputs_s"),
        ("baseline (bare SMA loop)", "baseline_s"),
    ):
        print(f"    {label:30s} {inner[key]:8.3f} s  {bars / inner[key]:>12,.0f} bars/s")
    print(
        f"    replay / baseline {inner['replay_s'] / inner['baseline_s']:.1f}x; "
        f"peak RSS {inner['rss_peak_mb']:.0f} MB"
    )
    print("  whole process (best of runs; start-up, load, run, outputs):")
    rates = {}
    for name in ("ibbot", "backtrader"):
        figures = outer[name]
        rates[name] = bars / figures["seconds"]
        print(
            f"    {name:11s} {figures['seconds']:8.3f} s  {rates[name]:>10,.0f} bars/s  "
            f"peak RSS {figures['rss_mb']:5.0f} MB"
        )
    ratio = rates["ibbot"] / rates["backtrader"]
    split = ", ".join(
        f"{name} {seconds:.3f} s" for name, seconds in outer["ibbot"]["stages"].items()
    )
    print(f"    ibbot's run: {split}")
    print(
        f"    ibbot on two months of the bars (start-up and fixed costs): "
        f"{outer['fixed']['seconds']:.3f} s, peak RSS {outer['fixed']['rss_mb']:.0f} MB"
    )
    budget = outer["backtrader"]["seconds"] / TARGET_RATIO
    decisions = inner["decisions"]
    per_decision = (inner["replay_s"] - inner["undecided_s"]) / max(decisions, 1)
    print(
        f"    {TARGET_RATIO:.0f}x backtrader leaves {budget:.3f} s for all of ibbot's run; of it "
        f"the libraries' imports alone take {outer['libraries']['seconds']:.3f} s "
        f"({outer['libraries']['seconds'] / budget:.0%}), the fixed cost "
        f"{outer['fixed']['seconds']:.3f} s ({outer['fixed']['seconds'] / budget:.0%})"
    )
    print(
        f"    replay with no decision {inner['undecided_s']:.3f} s "
        f"({inner['undecided_s'] / bars * 1e6:.2f} us per bar); {decisions:,} decisions "
        f"{inner['replay_s'] - inner['undecided_s']:.3f} s ({per_decision * 1e6:.0f} us each)"
    )
    replay = bars / inner["replay_s"]
    limit = TARGET_PEAK_MB[case]
    print(
        f"  ratio ibbot / backtrader {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}); replay {replay:,.0f} bars/s (target "
        f">= {TARGET_BARS_PER_SECOND:,}: {'met' if replay >= TARGET_BARS_PER_SECOND else 'NOT met'}"
        f"); ibbot peak RSS < {limit} MB: "
        f"{'met' if outer['ibbot']['rss_mb'] < limit else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cases = args.case or sorted(CASES)
    if args.root is not None:  # a child process: write the inputs, or measure in process
        if args.write:
            write_inputs(args.root, cases[0])
        else:
            print(json.dumps(measure(args.root, cases[0], args.repeat)))
        return
    print(f"Backtest benchmark (best of {args.repeat}; each measured in a fresh process)")
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="ibbot-bt-bench-") as tmp:
            root = Path(tmp)
            # Linux keeps a process's peak RSS across fork + exec: the parent stays small, and the
            # synthetic bars are made and written by a child of their own.
            started = time.perf_counter()
            child(case, root, "--write")
            print(f"\n[{case}] inputs written in {time.perf_counter() - started:.1f} s")
            inner = json.loads(child(case, root, "--measure", "--repeat", str(args.repeat)))
            report(case, inner, whole(root, case, args.repeat))


def child(case: str, root: Path, *extra: str) -> str:
    command = [sys.executable, "-m", "benchmarks.backtest", "--case", case, "--root", str(root)]
    done = subprocess.run(
        [*command, *extra], check=True, capture_output=True, text=True, env=program_env(root)
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


if __name__ == "__main__":
    main()
