"""``ibbot sweep``: one strategy's backtest over a grid or a random sample of its parameters, on Ray.

``--grid KEY=V1,V2,...`` or ``--grid KEY=LO..HI`` (repeatable) names the swept parameters of the
``--strategy`` (fixed ones with ``--param NAME.KEY=VALUE``); ``--samples N`` (with ``--seed``) draws
N sets instead of running the whole grid. ``--walk-forward TRAIN/TEST`` (e.g. ``3y/1y``) picks the
best set by ``--metric`` on each training window and reports it on the test window that follows.
``--workers N`` (default: every core) and ``--address`` (or ``RAY_ADDRESS``: an existing cluster)
choose where the backtests run; ``--heatmap X,Y`` the two parameters of the page's heatmap.
Period, capital, costs and bar size are ``ibbot backtest``'s. Outputs go to ``--out`` (default
``<store>/sweeps/<UTC time of the run>/``). Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ibbot.commands.usage import usage_error

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ibbot.settings import Settings
    from ibbot.sweep import SweepFiles, SweepPlan, SweepResult

__all__ = ["configure", "run"]

log = structlog.get_logger(__name__)

# ibbot.sweep.RANKING_METRICS, spelled here so that `ibbot --help` does not import the backtester
_METRICS = (
    "sharpe",
    "sortino",
    "total_return",
    "cagr",
    "max_drawdown",
    "profit_factor",
    "win_rate",
    "final_equity",
)


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the period, the strategy and its grid, the search, walk-forward and Ray options."""
    parser.add_argument("--start", required=True, metavar="YYYY-MM-DD", help="first day replayed")
    parser.add_argument("--end", required=True, metavar="YYYY-MM-DD", help="last day replayed")
    parser.add_argument(
        "--strategy", required=True, metavar="NAME", help="the configured or shipped strategy"
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="KEY=VALUES",
        help="a swept parameter: KEY=V1,V2,... or KEY=LO..HI (repeatable)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="a fixed parameter, e.g. sma_cross.weight=0.5 (repeatable)",
    )
    parser.add_argument(
        "--samples", type=_count, metavar="N", help="random search: N parameter sets"
    )
    parser.add_argument("--seed", type=int, default=0, help="random search seed (default 0)")
    parser.add_argument(
        "--metric", choices=_METRICS, default="sharpe", help="what ranks the runs (default sharpe)"
    )
    parser.add_argument(
        "--walk-forward",
        metavar="TRAIN/TEST",
        help="walk-forward folds, e.g. 3y/1y (lengths in y, m or d)",
    )
    parser.add_argument(
        "--heatmap", metavar="X,Y", help="the heatmap's two parameters (default: the first two)"
    )
    parser.add_argument(
        "--workers", type=_count, metavar="N", help="backtests at once (default: every core)"
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="an existing Ray cluster, e.g. ray://head:10001 (default: RAY_ADDRESS, else a "
        "local Ray started for the sweep)",
    )
    parser.add_argument("--capital", type=_amount, metavar="N", help="starting cash")
    parser.add_argument(
        "--commission", default="ib", metavar="ib|zero|per-share=X", help="commission schedule"
    )
    parser.add_argument(
        "--slippage-bps", type=_amount, metavar="N", help="default: sim.slippage_bps"
    )
    parser.add_argument("--bar-size", help='bar size, e.g. "1 day" (default: the one stored)')
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="default: <store>/sweeps/<UTC timestamp>/"
    )


def _heatmap(text: str | None, keys: tuple[str, ...]) -> tuple[str, str | None] | None:
    from ibbot.backtest import BacktestInputError  # noqa: PLC0415

    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not 1 <= len(names) <= 2 or any(name not in keys for name in names):
        raise BacktestInputError(
            f"--heatmap: expected one or two swept parameters X,Y ({', '.join(keys)}), got {text!r}"
        )
    return names[0], names[1] if len(names) == 2 else None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse the options, run the sweep, write the outputs and print where they are."""
    from ibbot.backtest import (  # noqa: PLC0415 - keeps `ibbot --help` fast
        BacktestConfig,
        BacktestError,
        BacktestInputError,
        CommissionModel,
        risk_limits,
        select_strategies,
    )
    from ibbot.backtest.inputs import parse_bar_size, parse_date, parse_param  # noqa: PLC0415
    from ibbot.sweep import (  # noqa: PLC0415
        ParameterSpace,
        RayUnavailable,
        SweepPlan,
        parse_dimension,
        parse_walk_forward,
    )

    try:
        start = parse_date(args.start, option="--start")
        last = parse_date(args.end, option="--end")
        specs, cash = select_strategies(
            settings, [args.strategy], [parse_param(text) for text in args.param], args.capital
        )
        space = ParameterSpace(tuple(parse_dimension(text) for text in args.grid))
        plan = SweepPlan(
            base=BacktestConfig(
                start=start,
                end=last + timedelta(days=1),
                strategies=specs,
                starting_cash=cash,
                commission=CommissionModel.parse(args.commission),
                slippage_bps=(
                    settings.sim.slippage_bps if args.slippage_bps is None else args.slippage_bps
                ),
                risk=risk_limits(settings.risk),
                bar_size=None if args.bar_size is None else parse_bar_size(args.bar_size),
                sources=settings.app.strategy_sources(),
            ),
            space=space,
            metric=args.metric,
            samples=args.samples,
            seed=args.seed,
            walk_forward=None
            if args.walk_forward is None
            else parse_walk_forward(args.walk_forward),
        )
        heatmap = _heatmap(args.heatmap, space.keys)
        return _run(plan, settings, args, heatmap)
    except (BacktestInputError, RayUnavailable) as exc:
        return usage_error(exc)
    except BacktestError as exc:
        sys.stderr.write(f"ibbot: {exc}\n")
        return 1


def _run(
    plan: SweepPlan,
    settings: Settings,
    args: argparse.Namespace,
    heatmap: tuple[str, str | None] | None,
) -> int:
    from ibbot.backtest import load_bars, load_fundamentals  # noqa: PLC0415
    from ibbot.clock import utc_now  # noqa: PLC0415
    from ibbot.models import EventType  # noqa: PLC0415
    from ibbot.store.factory import open_store  # noqa: PLC0415
    from ibbot.strategies import create_strategy  # noqa: PLC0415
    from ibbot.sweep import RayRunner, ray_session, run_sweep, write_sweep  # noqa: PLC0415

    began = time.perf_counter()
    spec = plan.strategy
    probe = create_strategy(
        spec.class_path,
        name=spec.name,
        allocated_capital=spec.allocated_capital,
        params=spec.params,
        sources=plan.base.sources,
    )
    wants_fundamentals = bool(
        {EventType.FUNDAMENTAL_DATA, EventType.FINANCIAL_STATEMENTS} & set(probe.subscriptions)
    )
    base = plan.base
    with open_store(settings.store) as store:
        feed = load_bars(store, base.start, base.end, bar_size=base.bar_size, symbols=base.symbols)
        fundamentals = (
            load_fundamentals(store, feed.universe, base.start, base.end)
            if wants_fundamentals
            else []
        )
    directory = args.out or _out_dir(settings.store.path, f"{utc_now():%Y%m%dT%H%M%SZ}")
    with ray_session(args.address, args.workers) as ray, _progress() as progress:
        runner = RayRunner(ray, base, feed, fundamentals, workers=args.workers)
        result = run_sweep(plan, feed, lambda jobs: runner.run(jobs, progress))
        workers = runner.workers
    files = write_sweep(result, directory, heatmap=heatmap)
    seconds = time.perf_counter() - began
    log.info(
        "sweep.written",
        directory=str(directory),
        runs=len(result.rows),
        workers=workers,
        seconds=round(seconds, 1),
    )
    sys.stdout.write(_summary(result, files, len(feed), workers, seconds))
    return 0


def _out_dir(root: Path, stamp: str) -> Path:
    base = root / "sweeps" / stamp
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{stamp}-{number}")
    return candidate


def _summary(
    result: SweepResult, files: SweepFiles, bars: int, workers: int, seconds: float
) -> str:
    plan = result.plan
    keys = plan.space.keys
    metric = plan.metric
    failed = sum(1 for row in result.rows if row["error"])
    lines = [
        f"sweep {plan.strategy.name}: {len(result.rows)} backtests of {bars:,} bars "
        f"({len(result.combinations)} parameter sets, {len(result.skipped)} refused, {failed} "
        f"failed) on {workers} worker(s) in {seconds:.1f} s"
    ]
    if result.folds:
        for fold in result.folds:
            picked = ", ".join(f"{k}={fold[k]}" for k in keys)
            ret = fold["oos_total_return"]
            lines.append(
                f"  fold {fold['fold']}: {picked or 'none'}; out-of-sample return "
                f"{'n/a' if ret is None else f'{ret * 100:.2f}%'}"
            )
    else:
        best = result.best
        if best is None:
            lines.append(f"  no run produced the {metric}")
        else:
            picked = ", ".join(f"{k}={best[k]}" for k in keys)
            lines.append(f"  best by {metric}: {picked} ({metric} {best[metric]:.4g})")
    lines.append(f"  results: {files.results_csv}")
    lines.append(f"  report: {files.report_html}")
    return "\n".join(lines) + "\n"


class _ProgressBar:
    """A rich progress bar on stderr while the backtests run (only on a terminal)."""

    def __init__(self) -> None:
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("backtests"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self.progress.add_task("sweep", total=total)
        self.progress.update(self._task, completed=done, total=total)


@contextmanager
def _progress() -> Iterator[_ProgressBar]:
    bar = _ProgressBar()
    with bar.progress:
        yield bar
