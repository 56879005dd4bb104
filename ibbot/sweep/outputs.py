"""Writing a sweep's files: results.parquet/.csv, folds.parquet/.csv, sweep.json and report.html.

- ``results``: one row per backtest: ``index`` (the job's number), ``phase`` (``sweep``, or
  ``train``/``test`` of a walk-forward ``fold``), one column per swept parameter, the window
  ``[start, end)``, ``bars``, the figures of :data:`~ibbot.sweep.task.METRICS`, ``error`` and
  ``rank`` (by the chosen metric, among the whole-period runs or within the fold's training runs).
- ``folds`` (walk-forward only): per fold its windows, the parameters picked in-sample, the
  in-sample metric and the out-of-sample figures (``oos_*``).
- ``sweep.json``: what was swept (strategy, fixed parameters, grid, samples and seed, metric,
  walk-forward), the parameter sets refused and why.

Every file is a function of the inputs alone (no run time, no worker count), written atomically;
the tables are written by Arrow, without per-row Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ibbot.store.atomic import atomic_write, ensure_dir
from ibbot.sweep.page import render_page

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ibbot.sweep.sweep import SweepResult

__all__ = ["SweepFiles", "rows_table", "write_sweep"]


@dataclass(frozen=True, slots=True)
class SweepFiles:
    """Where each output went."""

    directory: Path
    results_parquet: Path
    results_csv: Path
    folds_parquet: Path | None
    folds_csv: Path | None
    settings: Path
    report_html: Path


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # a parameter whose values mix types (1 and "auto"): written as their JSON text
        return pa.array([None if v is None else json.dumps(v) for v in values], pa.string())


def rows_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """``rows`` (dicts with the same keys, in order) as one Arrow table."""
    if not rows:
        return pa.table({})
    names = list(rows[0])
    return pa.table({name: _column([row[name] for row in rows]) for name in names})


def _write_table(table: pa.Table, parquet: Path, csv: Path) -> None:
    atomic_write(parquet, lambda tmp: pq.write_table(table, tmp))
    atomic_write(csv, lambda tmp: pa_csv.write_csv(table, tmp))


def _write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(path, write)


def settings_json(result: SweepResult) -> dict[str, Any]:
    """What was swept, as JSON-ready data."""
    plan = result.plan
    spec = plan.strategy
    walk = plan.walk_forward
    return {
        "strategy": {
            "name": spec.name,
            "class_path": spec.class_path,
            "allocated_capital": spec.allocated_capital,
            "fixed_params": dict(spec.params),
        },
        "period": {
            "start": plan.base.start.date().isoformat(),
            "end": plan.base.last_day.date().isoformat(),
        },
        "grid": {
            d.key: list(d.values) if d.values is not None else {"low": d.low, "high": d.high}
            for d in plan.space.dimensions
        },
        "search": "grid" if plan.samples is None else "random",
        "samples": plan.samples,
        "seed": plan.seed if plan.samples is not None else None,
        "metric": plan.metric,
        "walk_forward": None if walk is None else {"train": str(walk[0]), "test": str(walk[1])},
        "parameter_sets": len(result.combinations),
        "skipped": [{"params": params, "reason": reason} for params, reason in result.skipped],
        "commission": str(plan.base.commission),
        "slippage_bps": plan.base.slippage_bps,
        "starting_cash": plan.base.starting_cash,
    }


def write_sweep(
    result: SweepResult, directory: Path, *, heatmap: tuple[str, str | None] | None = None
) -> SweepFiles:
    """Write every output into ``directory`` (created if needed); existing ones are replaced."""
    ensure_dir(directory)
    walk = bool(result.folds)
    files = SweepFiles(
        directory=directory,
        results_parquet=directory / "results.parquet",
        results_csv=directory / "results.csv",
        folds_parquet=directory / "folds.parquet" if walk else None,
        folds_csv=directory / "folds.csv" if walk else None,
        settings=directory / "sweep.json",
        report_html=directory / "report.html",
    )
    _write_table(rows_table(result.rows), files.results_parquet, files.results_csv)
    if files.folds_parquet is not None and files.folds_csv is not None:
        _write_table(rows_table(result.folds), files.folds_parquet, files.folds_csv)
    text = json.dumps(settings_json(result), indent=2, default=str, allow_nan=False) + "\n"
    _write_text(files.settings, text)
    _write_text(files.report_html, render_page(result, heatmap))
    return files
