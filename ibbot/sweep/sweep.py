"""A sweep from start to end: the parameter sets, the jobs, the ranking and the walk-forward picks.

Without walk-forward every parameter set runs over the whole period and the rows are ranked by the
chosen metric. With walk-forward (:mod:`ibbot.sweep.windows`) every set runs on each fold's
training window, the best one by the metric is picked per fold, and only that one runs on the
fold's test window that follows: its out-of-sample figures are the honest estimate. Every test
window starts afresh (no position, indicators warming up on the test bars themselves).

Ranking: higher is better for every metric offered (drawdowns are negative, so the shallowest
ranks first); a run without the figure (failed, or too short for it) ranks last; ties keep the
order of the parameter sets, so the ranking is a function of the inputs alone.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ibbot.backtest import BacktestConfig, BacktestInputError, BarFeed, StrategySpec
from ibbot.errors import ConfigError
from ibbot.strategies import create_strategy
from ibbot.sweep.space import ParameterSpace
from ibbot.sweep.task import METRICS, Job
from ibbot.sweep.windows import Fold, Span, folds

__all__ = [
    "RANKING_METRICS",
    "Executor",
    "SweepPlan",
    "SweepResult",
    "rank_rows",
    "run_sweep",
]

RANKING_METRICS: Final = (
    "sharpe",
    "sortino",
    "total_return",
    "cagr",
    "max_drawdown",
    "profit_factor",
    "win_rate",
    "final_equity",
)
"""The figures a sweep can rank by (all higher-is-better)."""

Executor = Callable[[Sequence[Job]], list[dict[str, Any]]]
"""Runs jobs and returns their rows in the order given (:class:`~ibbot.sweep.ray_runner.RayRunner`)."""

_RESERVED: Final = frozenset({"index", "phase", "fold", "start", "end", "bars", "error", "rank"})


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """What to sweep: ``base`` (one strategy, the whole period) and the parameter space; random
    search when ``samples`` is set; walk-forward when ``walk_forward`` is ``(train, test)``."""

    base: BacktestConfig
    space: ParameterSpace
    metric: str = "sharpe"
    samples: int | None = None
    seed: int = 0
    walk_forward: tuple[Span, Span] | None = None

    def __post_init__(self) -> None:
        if len(self.base.strategies) != 1:
            raise BacktestInputError(
                "a sweep runs one strategy: name it with --strategy NAME "
                f"(got {len(self.base.strategies)})"
            )
        if self.metric not in RANKING_METRICS:
            raise BacktestInputError(
                f"--metric: {self.metric!r} is not one of {', '.join(RANKING_METRICS)}"
            )
        for key in self.space.keys:
            if key in _RESERVED or key in METRICS:
                raise BacktestInputError(f"--grid {key}: the name is taken by a results column")

    @property
    def strategy(self) -> StrategySpec:
        """The swept strategy, with its fixed parameters."""
        return self.base.strategies[0]


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The parameter sets tried (and those refused), every run's row, and the walk-forward folds."""

    plan: SweepPlan
    combinations: list[dict[str, Any]]
    skipped: list[tuple[dict[str, Any], str]]
    rows: list[dict[str, Any]]
    folds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ranked(self) -> list[dict[str, Any]]:
        """The whole-period rows (no walk-forward) best first."""
        return rank_rows([row for row in self.rows if row["phase"] == "sweep"], self.plan.metric)

    @property
    def best(self) -> dict[str, Any] | None:
        """The best whole-period row, if any run produced the metric."""
        ranked = self.ranked
        return ranked[0] if ranked and ranked[0][self.plan.metric] is not None else None


def _key(metric: str) -> Callable[[dict[str, Any]], tuple[bool, float, int]]:
    def key(row: dict[str, Any]) -> tuple[bool, float, int]:
        value = row[metric]
        missing = value is None or not math.isfinite(value)
        return missing, 0.0 if missing else -value, row["index"]

    return key


def rank_rows(rows: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """``rows`` best first by ``metric`` (see the module docstring)."""
    return sorted(rows, key=_key(metric))


def _combinations(plan: SweepPlan) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """The parameter sets to run, and those the strategy refuses (with its reason)."""
    drawn = (
        plan.space.grid() if plan.samples is None else plan.space.sample(plan.samples, plan.seed)
    )
    spec = plan.strategy
    valid: list[dict[str, Any]] = []
    skipped: list[tuple[dict[str, Any], str]] = []
    for params in drawn:
        try:
            create_strategy(
                spec.class_path,
                name=spec.name,
                allocated_capital=spec.allocated_capital,
                params={**spec.params, **params},
                sources=plan.base.sources,
            )
        except ConfigError as exc:
            skipped.append((params, str(exc)))
            continue
        valid.append(params)
    if not valid:
        reason = skipped[0][1] if skipped else "no parameter set"
        raise BacktestInputError(f"no parameter set of the sweep is valid: {reason}")
    return valid, skipped


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _rows(feed: BarFeed, start: datetime, end: datetime) -> tuple[int, int]:
    """The feed rows of the bars starting in ``[start, end)``."""
    micros = feed.micros
    return bisect.bisect_left(micros, _micros(start)), bisect.bisect_left(micros, _micros(end))


def _with_params(job: Job, row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The results row: the job's identity, its parameters, its window and figures, its rank."""
    return {
        "index": row["index"],
        "phase": row["phase"],
        "fold": row["fold"],
        **{key: job.params.get(key) for key in keys},
        "start": row["start"],
        "end": row["end"],
        "bars": row["bars"],
        **{name: row[name] for name in METRICS},
        "error": row["error"],
        "rank": None,
    }


def run_sweep(plan: SweepPlan, feed: BarFeed, execute: Executor) -> SweepResult:
    """Plan the jobs, run them with ``execute`` and rank them; see the module docstring."""
    combinations, skipped = _combinations(plan)
    keys = plan.space.keys
    if plan.walk_forward is None:
        lo, hi = _rows(feed, plan.base.start, plan.base.end)
        jobs = [
            Job(i, params, plan.base.start, plan.base.end, lo, hi)
            for i, params in enumerate(combinations)
        ]
        rows = [_with_params(job, row, keys) for job, row in zip(jobs, execute(jobs), strict=True)]
        for place, row in enumerate(rank_rows(rows, plan.metric), 1):
            row["rank"] = place
        return SweepResult(plan, combinations, skipped, rows)
    train_span, test_span = plan.walk_forward
    windows = folds(plan.base.start, plan.base.end, train_span, test_span)
    train_jobs = [
        Job(
            fold.index * len(combinations) + i,
            params,
            fold.train_start,
            fold.train_end,
            *_rows(feed, fold.train_start, fold.train_end),
            phase="train",
            fold=fold.index,
        )
        for fold in windows
        for i, params in enumerate(combinations)
    ]
    train_rows = [
        _with_params(job, row, keys)
        for job, row in zip(train_jobs, execute(train_jobs), strict=True)
    ]
    picks: list[tuple[Fold, dict[str, Any] | None]] = []
    for fold in windows:
        ranked = rank_rows([r for r in train_rows if r["fold"] == fold.index], plan.metric)
        for place, row in enumerate(ranked, 1):
            row["rank"] = place
        best = ranked[0] if ranked and ranked[0][plan.metric] is not None else None
        picks.append((fold, best))
    first = len(train_jobs)
    test_jobs = [
        Job(
            first + fold.index,
            {key: best[key] for key in keys},
            fold.test_start,
            fold.test_end,
            *_rows(feed, fold.test_start, fold.test_end),
            phase="test",
            fold=fold.index,
        )
        for fold, best in picks
        if best is not None
    ]
    tested = dict(zip((job.fold for job in test_jobs), execute(test_jobs), strict=True))
    test_rows = [_with_params(job, tested[job.fold], keys) for job in test_jobs]
    summary = [
        _fold_row(fold, best, tested.get(fold.index), keys, plan.metric) for fold, best in picks
    ]
    return SweepResult(plan, combinations, skipped, train_rows + test_rows, summary)


def _fold_row(
    fold: Fold,
    best: dict[str, Any] | None,
    test: dict[str, Any] | None,
    keys: Sequence[str],
    metric: str,
) -> dict[str, Any]:
    """One fold: its windows, the parameters picked in-sample and their out-of-sample figures."""
    out = test or {}
    return {
        "fold": fold.index,
        "train_start": fold.train_start,
        "train_end": fold.train_end,
        "test_start": fold.test_start,
        "test_end": fold.test_end,
        **{key: None if best is None else best[key] for key in keys},
        f"in_sample_{metric}": None if best is None else best[metric],
        **{f"oos_{name}": out.get(name) for name in METRICS},
        "error": (
            "no parameter set produced the metric in-sample" if best is None else out.get("error")
        ),
    }
