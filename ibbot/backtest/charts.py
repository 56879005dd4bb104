"""Chart geometry for the report: scaled points, nice value ticks and date ticks, and SVG rendering.

One geometry feeds both outputs: :func:`render_svg` writes it as inline SVG for ``report.html``
and :mod:`ibbot.backtest.png` draws it with Pillow for ``report.png``, so the two always agree.
Long series are reduced to the minimum and maximum of each of a few hundred buckets before
drawing, which keeps every peak and trough visible (a drawdown never disappears between samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "MAX_MARKERS",
    "ChartGeometry",
    "Tick",
    "date_ticks",
    "downsample",
    "format_money",
    "format_percent",
    "layout_chart",
    "nice_ticks",
    "render_svg",
    "round_cents",
    "svg_points",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
MAX_POINTS: Final = 1_200
MAX_MARKERS: Final = 600
"""Trade markers drawn on one chart; more are thinned evenly (every trade stays in trades.csv)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 72, 16, 28, 28


@dataclass(frozen=True, slots=True)
class Tick:
    """A tick on an axis: its pixel position and its label."""

    position: float
    label: str


@dataclass(frozen=True, slots=True)
class ChartGeometry:
    """A line (or area) chart laid out in pixels, origin at the top left."""

    title: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[tuple[float, float], ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    baseline: float | None
    """The pixel row an area is filled to (None for a plain line)."""
    others: tuple[tuple[tuple[float, float], ...], ...] = ()
    """Further lines on the same axes (e.g. the benchmark), drawn thinner and dashed."""
    markers: tuple[tuple[float, float, str], ...] = ()
    """Points to mark: ``(x, y, kind)`` in pixels, kind ``"buy"`` or ``"sell"``."""


def downsample(
    xs: Sequence[float] | FloatArray, ys: Sequence[float] | FloatArray, max_points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points (at least 4): the first and the last, and each bucket's
    minimum and maximum (the first of equal ones), in their order; a series that fits is returned
    whole. Column-wise with numpy."""
    n = len(xs)
    if n <= max_points:
        return list(map(float, xs)), list(map(float, ys))
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    buckets = max(1, (max_points - 2) // 2)
    size = n / buckets
    # bucket b holds [int(b * size), int((b + 1) * size)), the last one up to the end (b * size
    # rounds: int(buckets * size) can fall one short of n); the starts of the non-empty ones
    starts = _distinct((np.arange(buckets) * size).astype(np.int64))
    counts = np.diff(np.append(starts, n))
    index = np.arange(n)
    chosen = []
    for reduce, pick in ((np.fmin, np.minimum), (np.fmax, np.minimum)):
        extreme = np.repeat(reduce.reduceat(y, starts), counts)
        # the first index of each bucket holding its extreme (its start if all of it is NaN)
        first = pick.reduceat(np.where(y == extreme, index, n), starts)
        chosen.append(np.where(first < n, first, starts))
    # sorted: the ends (the chart spans the whole run, to its last value) and each bucket's
    # one or two points in order
    keep = _distinct(np.sort(np.concatenate([[0, n - 1], *chosen])))
    return x[keep].tolist(), y[keep].tolist()


def _distinct(ordered: IntArray) -> IntArray:
    """The distinct values of a sorted array (``np.unique`` would also load ``numpy.ma``, some
    30 ms the first time)."""
    if not len(ordered):
        return ordered
    first: IntArray = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    return first


def round_cents(values: FloatArray) -> list[float]:
    """``round(v, 2)`` of each value, exactly as Python's ``round`` gives it, column-wise.

    ``rint(v * 100) / 100`` is Python's correctly rounded result whenever ``v * 100`` is not
    within a millionth of a half (its own rounding error is far smaller for pixel coordinates);
    those few values, and huge or non-finite ones, are rounded by Python.
    """
    scaled = values * 100.0
    out: list[float] = (np.rint(scaled) / 100.0).tolist()
    with np.errstate(invalid="ignore"):
        doubtful = ~(np.abs(scaled) < 1e9) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    for index in np.flatnonzero(doubtful).tolist():
        out[index] = round(float(values[index]), 2)
    return out


def svg_points(points: Sequence[tuple[float, float]]) -> str:
    """``x,y x,y ...`` of ``points``, each number as ``repr`` writes it."""
    return " ".join(map("%r,%r".__mod__, points))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values spanning ``low..high`` (about ``count`` of them), steps of 1, 2, 2.5 or 5 x 10^n."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        pad = abs(low) * 0.01 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    k = first
    while k * step <= high + step * 1e-9:
        ticks.append(round(k * step, 10))
        k += 1
    return ticks


def _decimals(step: float, unit: float) -> int:
    """Decimals that tell ticks ``step`` apart when values are shown in multiples of ``unit``."""
    if step <= 0:
        return 0
    scaled = step / unit
    for decimals in range(7):
        if abs(scaled * 10**decimals - round(scaled * 10**decimals)) < 1e-6:
            return decimals
    return 6


def format_money(value: float, step: float = 0.0) -> str:
    """``1.25M``, ``120k``, ``100.5k``, ``950``: compact amounts, precise enough for ``step``."""
    size = abs(value)
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= unit * (10 if unit == 1e3 else 1):
            return f"{value / unit:,.{_decimals(step, unit)}f}{suffix}"
    return f"{value:,.{_decimals(step, 1.0)}f}"


def format_percent(value: float, step: float = 0.0) -> str:
    """``-12.5%`` for -0.125, with the decimals ``step`` needs."""
    return f"{value * 100:.{_decimals(step, 0.01)}f}%"


def _to_datetime(day: float) -> datetime:
    return _EPOCH + timedelta(days=day)


def date_ticks(first: float, last: float, count: int = 7) -> list[tuple[float, str]]:
    """About ``count`` round dates within ``first..last`` (days since the epoch), with labels."""
    span = last - first
    start, end = _to_datetime(first), _to_datetime(last)
    ticks: list[tuple[float, str]] = []
    if span >= 2 * 365:
        step = next(
            s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500) if span / 365.25 / s <= count
        )
        year = start.year + (1 if (start.month, start.day, start.hour) != (1, 1, 0) else 0)
        year += -year % step
        while year <= end.year:
            moment = datetime(year, 1, 1, tzinfo=UTC)
            ticks.append(((moment - _EPOCH) / timedelta(days=1), str(year)))
            year += step
        return ticks
    if span >= 60:
        step = next(s for s in (1, 2, 3, 6) if span / 30.4 / s <= count)
        index = start.year * 12 + start.month - 1 + (0 if start.day == 1 and not start.hour else 1)
        index += -index % step
        while True:
            moment = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
            if moment > end:
                return ticks
            ticks.append(((moment - _EPOCH) / timedelta(days=1), f"{moment:%Y-%m}"))
            index += step
    if span >= 2:
        step = next(s for s in (1, 2, 7, 14) if span / s <= count)
        day = math.ceil(first)
        while day <= last:
            ticks.append((float(day), f"{_to_datetime(day):%m-%d}"))
            day += step
        return ticks
    hours = next((s for s in (1, 2, 3, 6, 12) if span * 24 / s <= count), 24)
    point = math.ceil(first * 24 / hours) * hours / 24
    while point <= last:
        ticks.append((point, f"{_to_datetime(point):%m-%d %H:%M}"))
        point += hours / 24
    return ticks


def layout_chart(
    title: str,
    xs: Sequence[float] | FloatArray,
    ys: Sequence[float] | FloatArray,
    *,
    y_format: Callable[[float, float], str],
    width: int = 900,
    height: int = 280,
    area: bool = False,
    others: Sequence[tuple[Sequence[float] | FloatArray, Sequence[float] | FloatArray]] = (),
    markers: Sequence[tuple[float, float, str]] = (),
) -> ChartGeometry:
    """Place a series (x in days since the epoch) in a ``width`` x ``height`` box with its axes.

    ``y_format(value, step)`` labels the value ticks (``step`` apart). ``others`` are more series
    on the same axes, ``markers`` points ``(x, y, kind)`` to mark; every series is downsampled
    for display (:func:`downsample`) and markers thinned to :data:`MAX_MARKERS`.
    """
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    shown_x, shown_y = downsample(xs, ys)
    if not shown_x:
        return ChartGeometry(title, width, height, left, right, top, bottom, (), (), (), None)
    extra = [downsample(ox, oy) for ox, oy in others if len(ox)]
    if len(markers) > MAX_MARKERS:
        step = len(markers) / MAX_MARKERS
        markers = [markers[int(i * step)] for i in range(MAX_MARKERS)]
    every_y = shown_y + [y for _, oy in extra for y in oy] + [m[1] for m in markers]
    x0 = min([shown_x[0], *(ox[0] for ox, _ in extra)])
    x1 = max([shown_x[-1], *(ox[-1] for ox, _ in extra)])
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    floor = [0.0] if area else []
    values = nice_ticks(min(every_y + floor), max(every_y + floor))
    y0, y1 = min(values[0], *every_y), max(values[-1], *every_y)
    if y1 <= y0:
        y1 = y0 + 1.0

    def px(x: float) -> float:
        return round(left + (x - x0) / (x1 - x0) * (right - left), 2)

    def py(y: float) -> float:
        return round(bottom - (y - y0) / (y1 - y0) * (bottom - top), 2)

    def pixels(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
        """:func:`px` and :func:`py` of whole series at once, to the same bits."""
        x = np.asarray(xs, dtype=np.float64)
        y = np.asarray(ys, dtype=np.float64)
        return (
            round_cents(left + (x - x0) / (x1 - x0) * (right - left)),
            round_cents(bottom - (y - y0) / (y1 - y0) * (bottom - top)),
        )

    points = tuple(zip(*pixels(shown_x, shown_y), strict=True))
    x_ticks = tuple(Tick(px(x), label) for x, label in date_ticks(x0, x1))
    step = values[1] - values[0] if len(values) > 1 else 0.0
    y_ticks = tuple(Tick(py(v), y_format(v, step)) for v in values if y0 <= v <= y1)
    baseline = py(0.0) if area else None
    return ChartGeometry(
        title,
        width,
        height,
        left,
        right,
        top,
        bottom,
        points,
        x_ticks,
        y_ticks,
        baseline,
        tuple(tuple(zip(*pixels(ox, oy), strict=True)) for ox, oy in extra),
        tuple(
            zip(
                *pixels([m[0] for m in markers], [m[1] for m in markers]),
                [m[2] for m in markers],
                strict=True,
            )
        ),
    )


def render_svg(
    chart: ChartGeometry,
    *,
    color: str = "#1f6feb",
    chart_id: str = "",
    other_color: str = "#6e7781",
    legend: Sequence[str] = (),
) -> str:
    """The chart as a self-contained ``<svg>`` element (no scripts, no external references).

    ``legend`` names the main series and then each of ``chart.others``.
    """
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {chart.width} {chart.height}" '
        f'width="100%" role="img" aria-label="{escape(chart.title)}"'
        + (f' id="{escape(chart_id)}"' if chart_id else "")
        + ">",
        f'<text x="{chart.left}" y="18" class="title">{escape(chart.title)}</text>',
    ]
    parts.extend(
        f'<line x1="{chart.left}" x2="{chart.right}" y1="{tick.position}" '
        f'y2="{tick.position}" class="grid"/>'
        f'<text x="{chart.left - 6}" y="{tick.position + 4}" text-anchor="end">'
        f"{escape(tick.label)}</text>"
        for tick in chart.y_ticks
    )
    parts.extend(
        f'<line x1="{tick.position}" x2="{tick.position}" y1="{chart.top}" '
        f'y2="{chart.bottom}" class="grid"/>'
        f'<text x="{tick.position}" y="{chart.bottom + 16}" text-anchor="middle">'
        f"{escape(tick.label)}</text>"
        for tick in chart.x_ticks
    )
    if chart.points:
        path = svg_points(chart.points)
        if chart.baseline is not None:
            first_x, last_x = chart.points[0][0], chart.points[-1][0]
            parts.append(
                f'<polygon points="{first_x},{chart.baseline} {path} {last_x},{chart.baseline}" '
                f'fill="{color}" fill-opacity="0.25" stroke="none"/>'
            )
        parts.extend(
            f'<polyline points="{svg_points(other)}" fill="none" '
            f'stroke="{other_color}" stroke-width="1.2" stroke-dasharray="4 3"/>'
            for other in chart.others
        )
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5" '
            'stroke-linejoin="round"/>'
        )
        parts.extend(_marker(x, y, kind) for x, y, kind in chart.markers)
    x = chart.left + 180.0
    for index, name in enumerate(legend):
        swatch = color if index == 0 else other_color
        dash = "" if index == 0 else ' stroke-dasharray="4 3"'
        parts.append(
            f'<line x1="{x}" x2="{x + 18}" y1="14" y2="14" stroke="{swatch}" stroke-width="2"'
            f'{dash}/><text x="{x + 22}" y="18">{escape(name)}</text>'
        )
        x += 40 + 6.5 * len(name)  # about the width of 11 px text
    parts.append(
        f'<rect x="{chart.left}" y="{chart.top}" width="{chart.right - chart.left}" '
        f'height="{chart.bottom - chart.top}" class="frame"/></svg>'
    )
    return "".join(parts)


_BUY_COLOR: Final = "#1a7f37"
_SELL_COLOR: Final = "#cf222e"


def _marker(x: float, y: float, kind: str) -> str:
    """An upward green triangle under a buy, a downward red one over a sell."""
    if kind == "buy":
        return f'<path d="M{x},{y + 2}l-4,7h8z" fill="{_BUY_COLOR}"><title>buy</title></path>'
    return f'<path d="M{x},{y - 2}l-4,-7h8z" fill="{_SELL_COLOR}"><title>sell</title></path>'
