"""``ibbot backtest``: replay stored bars through the configured strategies and write a report.

Options: ``--start``/``--end`` (dates, both included), ``--strategy NAME`` (repeatable; default:
every enabled configured strategy), ``--param NAME.KEY=VALUE`` (repeatable), ``--capital N``,
``--commission ib|zero|per-share=X``, ``--slippage-bps N`` (default: the simulator's
``sim.slippage_bps``), ``--bar-size`` (default: the one size stored in the period), ``--benchmark
SYMBOL`` (buy and hold it; default: the traded symbols, equal weight), ``--out DIR``
(default ``<store>/backtests/<UTC time of the run>/``). A progress bar runs on a terminal.
Bad input: one line, exit 2. See :mod:`ibbot.backtest` for what is replayed and how.
"""

from __future__ import annotations

import argparse
import math
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ibbot.commands.usage import usage_error

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

    from ibbot.backtest import BacktestConfig, BacktestResult
    from ibbot.backtest.outputs import OutputFiles
    from ibbot.settings import Settings

__all__ = ["configure", "default_out_dir", "run"]

log = structlog.get_logger(__name__)


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the period, strategy selection, capital, costs, bar size and output directory."""
    parser.add_argument("--start", required=True, metavar="YYYY-MM-DD", help="first day replayed")
    parser.add_argument("--end", required=True, metavar="YYYY-MM-DD", help="last day replayed")
    parser.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="NAME",
        help="a configured strategy or a shipped one (repeatable; default: every enabled "
        "configured strategy)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="override a strategy parameter, e.g. sma_cross.fast=10 (repeatable)",
    )
    parser.add_argument(
        "--capital",
        type=_amount,
        metavar="N",
        help="starting cash; the strategies' allocations are scaled to add up to it "
        "(default: the sum of their allocated capital)",
    )
    parser.add_argument(
        "--commission",
        default="ib",
        metavar="ib|zero|per-share=X",
        help="commission schedule (default ib: IB's fixed US-stock schedule)",
    )
    parser.add_argument(
        "--slippage-bps",
        type=_amount,
        metavar="N",
        help="market and stop fills worsened by N basis points (default: sim.slippage_bps)",
    )
    parser.add_argument(
        "--bar-size", help='bar size to replay, e.g. "1 day" (default: the one size stored)'
    )
    parser.add_argument(
        "--benchmark",
        metavar="SYMBOL",
        help="compare with buying and holding SYMBOL (its bars must be stored; default: the "
        "traded symbols, equal weight)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output directory (default: <store>/backtests/<UTC timestamp>/)",
    )


def default_out_dir(root: Path, stamp: str) -> Path:
    """``root/backtests/<stamp>``, with ``-2``, ``-3``... when that directory exists already."""
    base = root / "backtests" / stamp
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{stamp}-{number}")
    return candidate


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse the options, run the backtest, write the outputs and print where they are."""
    from ibbot.backtest import (  # noqa: PLC0415 - keeps `ibbot --help` fast
        BacktestConfig,
        BacktestInputError,
        CommissionModel,
        risk_limits,
        select_strategies,
    )
    from ibbot.backtest.inputs import (  # noqa: PLC0415
        parse_bar_size,
        parse_date,
        parse_param,
        parse_symbol,
    )

    try:
        start = parse_date(args.start, option="--start")
        last = parse_date(args.end, option="--end")
        specs, cash = select_strategies(
            settings, args.strategy, [parse_param(text) for text in args.param], args.capital
        )
        config = BacktestConfig(
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
        )
        benchmark = None if args.benchmark is None else parse_symbol(args.benchmark)
        return _run(config, settings, args.out, benchmark)
    except BacktestInputError as exc:
        return usage_error(exc)


def _run(
    config: BacktestConfig, settings: Settings, out: Path | None, benchmark_symbol: str | None
) -> int:
    from ibbot.backtest import (  # noqa: PLC0415
        BacktestError,
        BacktestInputError,
        load_bars,
        run_backtest,
    )
    from ibbot.clock import utc_now  # noqa: PLC0415
    from ibbot.store.factory import open_store  # noqa: PLC0415

    directory = out or default_out_dir(settings.store.path, f"{utc_now():%Y%m%dT%H%M%SZ}")
    benchmark = None
    with open_store(settings.store) as store, _progress() as progress:
        result = run_backtest(config, store, progress=progress)
        if benchmark_symbol is not None:
            try:
                bars = load_bars(
                    store,
                    config.start,
                    config.end,
                    bar_size=result.bar_size,
                    symbols=[benchmark_symbol],
                )
            except BacktestError as exc:
                raise BacktestInputError(f"--benchmark {benchmark_symbol}: {exc}") from exc
            from ibbot.backtest.benchmark import buy_and_hold  # noqa: PLC0415

            benchmark = buy_and_hold(bars, result.starting_cash)
    # imported once the replay is done (the report's libraries, PIL among them): a run that
    # fails on its input says so without loading them
    from ibbot.backtest.outputs import write_outputs  # noqa: PLC0415

    files = write_outputs(result, directory, benchmark=benchmark)
    log.info(
        "backtest.written",
        directory=str(directory),
        bars=result.bars,
        trades=len(result.fills),
        final_equity=result.final_equity,
    )
    sys.stdout.write(_summary(result, files))
    return 0


def _summary(result: BacktestResult, files: OutputFiles) -> str:
    from ibbot.backtest.metrics import CAGR_NOT_MEANINGFUL  # noqa: PLC0415

    figures = files.figures

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.2f}%"

    def cagr(of: dict[str, Any]) -> str:  # marked as the report marks it
        marked = of["cagr"] is not None and not of.get("cagr_meaningful", True)
        return pct(of["cagr"]) + (f" ({CAGR_NOT_MEANINGFUL})" if marked else "")

    def sharpe(of: dict[str, Any]) -> str:
        return "n/a" if of["sharpe"] is None else f"{of['sharpe']:.2f}"

    bench = figures.get("benchmark")
    return (
        f"backtest {', '.join(s.name for s in result.config.strategies)}: {result.bars:,} "
        f"{result.bar_size.value} bars of {len(result.symbols)} symbol(s), "
        f"{figures['trade_count']} trades\n"
        f"  total return {pct(figures['total_return'])}, CAGR {cagr(figures)}, "
        f"Sharpe {sharpe(figures)}, max drawdown {pct(figures['max_drawdown']['depth'])}\n"
        + (
            ""
            if bench is None
            else f"  benchmark ({bench['label']}): total return {pct(bench['total_return'])}, "
            f"CAGR {cagr(bench)}, Sharpe {sharpe(bench)}, "
            f"max drawdown {pct(bench['max_drawdown'])}\n"
        )
        + f"  report: {files.report_html}\n"
        + "".join(f"  warning: {line}\n" for line in result.warnings)
    )


class _ProgressBar:
    """A rich progress bar on stderr while the replay runs (only on a terminal)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bars"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self.progress.add_task("replay", total=total)
        self.progress.update(self._task, completed=done)


@contextmanager
def _progress() -> Iterator[_ProgressBar | None]:
    from ibbot.logs import progress_console  # noqa: PLC0415

    console = progress_console()  # log lines scroll above the bar instead of overwriting it
    if console is None:  # no terminal, no bar: rich is not even imported
        yield None
        return
    bar = _ProgressBar(console)
    with bar.progress:
        yield bar
