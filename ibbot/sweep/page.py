"""``report.html`` of a sweep: one self-contained page (inline CSS, no script, nothing fetched).

It shows the best parameters, the ranked table (the first :data:`MAX_RANKED_ROWS`; every row is in
``results.csv``), a heatmap of the chosen metric over two parameters (each cell the best value over
the other parameters; with walk-forward, each parameter set's value averaged over the folds'
training runs first), and with walk-forward the parameters picked per fold with their in-sample
metric and out-of-sample figures, then the parameter sets ranked by their in-sample metric averaged
over the folds (:func:`ranked_sets`), each fold's value and rank beside it and its pick marked: it
shows whether the same sets lead in every fold or the pick changes with the window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ibbot.sweep.sweep import SweepResult

__all__ = ["MAX_RANKED_ROWS", "RankedSet", "heatmap_cells", "ranked_sets", "render_page"]

MAX_RANKED_ROWS: Final = 100
_PERCENT: Final = frozenset({"total_return", "cagr", "max_drawdown", "win_rate", "exposure"})
_SHOWN: Final = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "trade_count",
    "win_rate",
    "profit_factor",
)
_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#24292f;margin:0;
background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#57606a;margin:0 0 16px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px;margin:12px 0;
overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.heat td{text-align:center;border:1px solid #fff;min-width:56px}
.heat th{text-align:center}
.note{color:#57606a;font-size:12px}
.err{color:#cf222e}
td.pick{background:#dafbe1;font-weight:600}
"""


def _format(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if name in _PERCENT or name.removeprefix("oos_") in _PERCENT:
        return f"{value * 100:,.2f}%"
    if name.endswith("final_equity"):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return escape(str(value))


def _params(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(f"{escape(key)}={escape(str(row[key]))}" for key in keys)


def _ranked_table(rows: Sequence[dict[str, Any]], keys: Sequence[str], metric: str) -> str:
    shown = rows[:MAX_RANKED_ROWS]
    head = "".join(f"<th>{escape(k)}</th>" for k in keys) + "".join(
        f"<th>{'<b>' + escape(n) + '</b>' if n == metric else escape(n)}</th>" for n in _SHOWN
    )
    body = "".join(
        f"<tr><td>{row['rank']}</td>"
        + "".join(f"<td>{escape(str(row[k]))}</td>" for k in keys)
        + "".join(f"<td>{_format(n, row[n])}</td>" for n in _SHOWN)
        + (f'<td class="err">{escape(row["error"])}</td>' if row["error"] else "<td></td>")
        + "</tr>"
        for row in shown
    )
    note = (
        f'<p class="note">The best {MAX_RANKED_ROWS} of {len(rows)} runs; all are in '
        "results.csv.</p>"
        if len(rows) > MAX_RANKED_ROWS
        else ""
    )
    return f"<table><tr><th>Rank</th>{head}<th>Error</th></tr>{body}</table>{note}"


def heatmap_cells(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], x: str, y: str | None, metric: str
) -> dict[tuple[Any, Any], float]:
    """``(x value, y value) -> best metric`` over the other parameters (``y`` None: one row).

    Rows of the same parameter set (walk-forward folds) are averaged first; rows without the
    metric count for nothing.
    """
    per_set: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    coordinates: dict[tuple[Any, ...], tuple[Any, Any]] = {}
    for row in rows:
        value = row[metric]
        identity = tuple(repr(row[k]) for k in keys)
        coordinates[identity] = (row[x], None if y is None else row[y])
        if value is not None and math.isfinite(value):
            per_set[identity].append(value)
    cells: dict[tuple[Any, Any], float] = {}
    for identity, values in per_set.items():
        mean = sum(values) / len(values)
        cell = coordinates[identity]
        if cell not in cells or mean > cells[cell]:
            cells[cell] = mean
    return cells


def _color(value: float, low: float, high: float) -> str:
    """Red (worst) through white to green (best)."""
    share = 0.5 if high <= low else (value - low) / (high - low)
    if share < 0.5:
        fade = share * 2
        red, green, blue = 248, round(81 + (255 - 81) * fade), round(73 + (255 - 73) * fade)
    else:
        fade = (share - 0.5) * 2
        red, green, blue = (
            round(255 - (255 - 45) * fade),
            round(255 - (255 - 164) * fade),
            round(255 - (255 - 78) * fade),
        )
    return f"#{red:02x}{green:02x}{blue:02x}"


def _order(values: set[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=repr)


def _heatmap(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], x: str, y: str | None, metric: str
) -> str:
    cells = heatmap_cells(rows, keys, x, y, metric)
    xs = _order({row[x] for row in rows})
    ys = _order({row[y] for row in rows}) if y is not None else [None]
    if not cells:
        return f'<p class="note">No run produced the {escape(metric)}.</p>'
    low, high = min(cells.values()), max(cells.values())
    head = "".join(f"<th>{escape(str(v))}</th>" for v in xs)
    body = []
    for y_value in ys:
        label = escape(f"{y}={y_value}") if y is not None else escape(metric)
        tds = []
        for x_value in xs:
            value = cells.get((x_value, y_value))
            if value is None:
                tds.append('<td style="background:#eaeef2">n/a</td>')
            else:
                style = f"background:{_color(value, low, high)}"
                tds.append(f'<td style="{style}">{_format(metric, value)}</td>')
        body.append(f"<tr><th>{label}</th>{''.join(tds)}</tr>")
    corner = f"{escape(y)} \\ {escape(x)}" if y is not None else escape(x)
    return (
        f'<table class="heat"><tr><th>{corner}</th>{head}</tr>{"".join(body)}</table>'
        f'<p class="note">Each cell: the best {escape(metric)} over the other parameters.</p>'
    )


def _folds_table(folds: Sequence[dict[str, Any]], keys: Sequence[str], metric: str) -> str:
    head = (
        "<tr><th>Fold</th><th>Train</th><th>Test</th>"
        + "".join(f"<th>{escape(k)}</th>" for k in keys)
        + f"<th>In-sample {escape(metric)}</th><th>OOS return</th><th>OOS Sharpe</th>"
        "<th>OOS max drawdown</th><th>OOS trades</th><th>Error</th></tr>"
    )

    def day(value: Any) -> str:
        return escape(value.date().isoformat())

    body = "".join(
        f"<tr><td>{fold['fold']}</td>"
        f"<td>{day(fold['train_start'])} .. {day(fold['train_end'])}</td>"
        f"<td>{day(fold['test_start'])} .. {day(fold['test_end'])}</td>"
        + "".join(f"<td>{escape(str(fold[k]))}</td>" for k in keys)
        + f"<td>{_format(metric, fold[f'in_sample_{metric}'])}</td>"
        f"<td>{_format('total_return', fold['oos_total_return'])}</td>"
        f"<td>{_format('sharpe', fold['oos_sharpe'])}</td>"
        f"<td>{_format('max_drawdown', fold['oos_max_drawdown'])}</td>"
        f"<td>{_format('trade_count', fold['oos_trade_count'])}</td>"
        f'<td class="err">{escape(fold["error"] or "")}</td></tr>'
        for fold in folds
    )
    growth = 1.0
    for fold in folds:
        if fold["oos_total_return"] is not None:
            growth *= 1.0 + fold["oos_total_return"]
    return (
        f"<table>{head}{body}</table><p>Out-of-sample return over every test window, "
        f"compounded: <b>{_format('total_return', growth - 1.0)}</b> (each test window starts "
        "afresh: no position, indicators warming up on its own bars).</p>"
    )


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def _identity(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(repr(row[key]) for key in keys)


@dataclass(slots=True)
class RankedSet:
    """One parameter set of a walk-forward: its training run per fold and their mean metric."""

    params: dict[str, Any]
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    mean: float | None = None
    picked: list[int] = field(default_factory=list)


def ranked_sets(
    rows: Sequence[dict[str, Any]],
    folds: Sequence[dict[str, Any]],
    keys: Sequence[str],
    metric: str,
) -> list[RankedSet]:
    """The parameter sets of the training ``rows``, best mean ``metric`` over the folds first.

    The mean is over the folds where the set produced the metric (as the heatmap's); a set that
    never did ranks last; ties keep the order of the parameter sets. ``picked`` lists the folds
    whose pick (in ``folds``) the set was.
    """
    sets: dict[tuple[str, ...], RankedSet] = {}
    for row in rows:
        entry = sets.setdefault(_identity(row, keys), RankedSet({key: row[key] for key in keys}))
        entry.runs[row["fold"]] = row
    for entry in sets.values():
        values = [run[metric] for run in entry.runs.values() if _finite(run[metric])]
        entry.mean = sum(values) / len(values) if values else None
    for fold in folds:
        if fold[f"in_sample_{metric}"] is not None:
            pick = sets.get(_identity(fold, keys))
            if pick is not None:
                pick.picked.append(fold["fold"])
    # sorted() is stable: ties stay in the order of the parameter sets
    return sorted(sets.values(), key=lambda e: (e.mean is None, -(e.mean or 0.0)))


def _sets_table(
    rows: Sequence[dict[str, Any]],
    folds: Sequence[dict[str, Any]],
    keys: Sequence[str],
    metric: str,
) -> str:
    ranked = ranked_sets(rows, folds, keys, metric)
    numbers = [fold["fold"] for fold in folds]
    head = (
        "<tr><th>Rank</th>"
        + "".join(f"<th>{escape(k)}</th>" for k in keys)
        + f"<th>Mean in-sample {escape(metric)}</th><th>Picked</th>"
        + "".join(f"<th>Fold {n}</th>" for n in numbers)
        + "</tr>"
    )
    body = []
    for place, entry in enumerate(ranked[:MAX_RANKED_ROWS], 1):
        cells = []
        for number in numbers:
            run = entry.runs.get(number)
            if run is None:
                cells.append("<td></td>")
                continue
            figure = _format(metric, run[metric])
            rank = f" #{run['rank']}" if run["rank"] is not None else ""
            marked = ' class="pick"' if number in entry.picked else ""
            cells.append(f"<td{marked}>{figure}{rank}</td>")
        body.append(
            f"<tr><td>{place}</td>"
            + "".join(f"<td>{escape(str(entry.params[k]))}</td>" for k in keys)
            + f"<td>{_format(metric, entry.mean)}</td>"
            + f"<td>{len(entry.picked)} of {len(numbers)}</td>"
            + "".join(cells)
            + "</tr>"
        )
    more = (
        f" The best {MAX_RANKED_ROWS} of {len(ranked)} parameter sets are shown; every run is in "
        "results.csv."
        if len(ranked) > MAX_RANKED_ROWS
        else ""
    )
    note = (
        f'<p class="note">Ranked by the mean of each fold\'s in-sample {escape(metric)} (over the '
        "folds where the set produced it): hindsight, not an estimate; the out-of-sample figures "
        "are those of the folds above. Each fold: the set's training value and its rank in that "
        f"fold; shaded: the fold's pick, the one run out of sample.{more}</p>"
    )
    return f"<table>{head}{''.join(body)}</table>{note}"


def render_page(result: SweepResult, heatmap: tuple[str, str | None] | None = None) -> str:
    """The whole page as text; ``heatmap`` names its two parameters (default: the first two)."""
    plan = result.plan
    keys = plan.space.keys
    metric = plan.metric
    x, y = heatmap if heatmap is not None else (keys[0], keys[1] if len(keys) > 1 else None)
    spec = plan.strategy
    search = (
        f"grid of {len(result.combinations)} parameter sets"
        if plan.samples is None
        else f"random search: {len(result.combinations)} parameter sets (seed {plan.seed})"
    )
    walk = plan.walk_forward
    mode = "" if walk is None else f" · walk-forward {walk[0]} train / {walk[1]} test"
    fixed = ", ".join(f"{k}={v}" for k, v in spec.params.items()) or "none"
    subtitle = (
        f"{escape(plan.base.start.date().isoformat())} .. "
        f"{escape(plan.base.last_day.date().isoformat())} · {escape(search)}{escape(mode)} · "
        f"ranked by {escape(metric)} · fixed parameters: {escape(fixed)}"
    )
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Sweep: {escape(spec.name)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>Sweep: {escape(spec.name)}</h1><p class=sub>{subtitle}</p>"
    ]
    if walk is None:
        best = result.best
        verdict = (
            f"Best by {escape(metric)}: <b>{_params(best, keys)}</b> "
            f"({_format(metric, best[metric])})"
            if best is not None
            else f"No run produced the {escape(metric)}."
        )
        heat_rows = [row for row in result.rows if row["phase"] == "sweep"]
        parts.append(f'<div class="card"><p>{verdict}</p></div>')
        parts.append(
            f'<h2>Heatmap</h2><div class="card">{_heatmap(heat_rows, keys, x, y, metric)}</div>'
        )
        parts.append(
            f'<h2>Ranked runs</h2><div class="card">'
            f"{_ranked_table(result.ranked, keys, metric)}</div>"
        )
    else:
        heat_rows = [row for row in result.rows if row["phase"] == "train"]
        parts.append(
            f'<h2>Best parameters per fold</h2><div class="card">'
            f"{_folds_table(result.folds, keys, metric)}</div>"
        )
        parts.append(
            f'<h2>Heatmap (training windows, averaged over folds)</h2><div class="card">'
            f"{_heatmap(heat_rows, keys, x, y, metric)}</div>"
        )
        parts.append(
            f'<h2>Ranked parameter sets (training windows)</h2><div class="card">'
            f"{_sets_table(heat_rows, result.folds, keys, metric)}</div>"
        )
    if result.skipped:
        items = "".join(
            f"<li>{escape(', '.join(f'{k}={v}' for k, v in params.items()))}: {escape(reason)}</li>"
            for params, reason in result.skipped[:50]
        )
        parts.append(
            f"<h2>Parameter sets refused by the strategy ({len(result.skipped)})</h2>"
            f'<div class="card"><ul>{items}</ul></div>'
        )
    parts.append("</main></body></html>\n")
    return "".join(parts)
