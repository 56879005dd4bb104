"""One backtest of a sweep, as a pure function of its inputs: what a Ray task runs.

A :class:`Job` names a parameter set and a window of the sweep's bars (a row range of the one
:class:`~ibbot.backtest.BarFeed` every task shares); :func:`run_job` replays that slice with the
public backtest API (:class:`~ibbot.backtest.Backtest`, :func:`~ibbot.backtest.metrics.compute_metrics`)
and returns a flat row of figures. Nothing here imports Ray, so the same function runs in a test,
in this process or on any worker of a cluster.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from ibbot.backtest import Backtest, BacktestConfig, BarFeed, StrategySpec
from ibbot.backtest.metrics import compute_metrics
from ibbot.errors import IbbotError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ibbot.models import FundamentalData

__all__ = ["METRICS", "Job", "error_row", "run_job", "slice_feed", "window_fundamentals"]

METRICS: Final = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "annualized_volatility",
    "max_drawdown",
    "trade_count",
    "closed_trades",
    "win_rate",
    "profit_factor",
    "turnover",
    "exposure",
    "commissions",
    "final_equity",
)
"""The figures of every run, as columns of the results (see :mod:`ibbot.backtest.metrics`)."""


@dataclass(frozen=True, slots=True)
class Job:
    """One backtest: ``params`` over the feed rows ``lo:hi``, the bars of ``[start, end)``.

    ``index`` orders the results (never the order tasks finish in); ``phase`` is ``"sweep"``,
    or ``"train"``/``"test"`` of walk-forward fold ``fold``.
    """

    index: int
    params: Mapping[str, Any]
    start: datetime
    end: datetime
    lo: int
    hi: int
    phase: str = "sweep"
    fold: int | None = None


def slice_feed(feed: BarFeed, lo: int, hi: int) -> BarFeed:
    """The rows ``lo:hi`` of ``feed`` (still sorted by time, then symbol)."""
    if (lo, hi) == (0, len(feed)):
        return feed
    return BarFeed(
        bar_size=feed.bar_size,
        symbols=feed.symbols[lo:hi],
        micros=feed.micros[lo:hi],
        times=feed.times[lo:hi],
        open=feed.open[lo:hi],
        high=feed.high[lo:hi],
        low=feed.low[lo:hi],
        close=feed.close[lo:hi],
        volume=feed.volume[lo:hi],
        wap=feed.wap[lo:hi],
        bar_count=feed.bar_count[lo:hi],
    )


def window_fundamentals(
    records: Sequence[FundamentalData], start: datetime, end: datetime
) -> list[FundamentalData]:
    """What :func:`~ibbot.backtest.load_fundamentals` gives a run of ``[start, end)``, from every
    record loaded once: the latest of each (symbol, source, report type) before ``start``, then
    every record before ``end``, in delivery order."""
    latest: dict[tuple[str, str, str], FundamentalData] = {}
    during: list[FundamentalData] = []
    for record in records:
        if record.timestamp < start:
            latest[record.symbol, record.source, record.report_type] = record
        elif record.timestamp < end:
            during.append(record)
    chosen = [*during, *latest.values()]
    chosen.sort(key=lambda record: (record.timestamp, record.symbol))
    return chosen


def _figure(value: Any) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def error_row(job: Job, error: str | None) -> dict[str, Any]:
    """``job``'s row with no figures, and ``error`` saying why."""
    return {
        "index": job.index,
        "phase": job.phase,
        "fold": job.fold,
        "start": job.start,
        "end": job.end,
        "bars": job.hi - job.lo,
        **dict.fromkeys(METRICS),
        "error": error,
    }


def run_job(
    base: BacktestConfig,
    job: Job,
    feed: BarFeed,
    fundamentals: Sequence[FundamentalData] = (),
) -> dict[str, Any]:
    """Run ``job`` (the strategy of ``base`` with the job's params over its window) and return
    its row: the job's identity, ``bars``, every figure of :data:`METRICS`, and ``error`` (None,
    or the one line that says why the run failed; its figures are then None)."""
    row = error_row(job, None)
    [spec] = base.strategies
    config = dataclasses.replace(
        base,
        start=job.start,
        end=job.end,
        strategies=(
            StrategySpec(
                spec.name, spec.class_path, spec.allocated_capital, {**spec.params, **job.params}
            ),
        ),
    )
    if job.hi <= job.lo:
        row["error"] = "no bars in this window"
        return row
    try:
        backtest = Backtest(config)
        chosen = window_fundamentals(fundamentals, job.start, job.end) if fundamentals else []
        result = backtest.run(slice_feed(feed, job.lo, job.hi), chosen)
    except IbbotError as exc:  # a BacktestError, or a strategy's ConfigError
        row["error"] = str(exc)
        return row
    metrics = compute_metrics(result)
    for name in METRICS:
        value = metrics[name]
        row[name] = _figure(value["depth"] if name == "max_drawdown" else value)
    return row
