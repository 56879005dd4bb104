"""The column-wise outputs (numpy, Arrow) give exactly what the per-row Python they replaced gave.

Each ``_reference_*`` below is the loop the outputs used before, kept here as the definition the
fast path is checked against on random series (with the awkward values: ties, NaN, zero, gaps).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ibbot.backtest import Backtest, BacktestConfig, BacktestResult, EquityCurve, StrategySpec
from ibbot.backtest.benchmark import buy_and_hold
from ibbot.backtest.builders import utc_from_micros
from ibbot.backtest.charts import MAX_POINTS, downsample, round_cents
from ibbot.backtest.columns import (
    csv_bytes,
    float_text,
    iso_dates,
    iso_utc_text,
    json_pair_bytes,
    utc_dates,
)
from ibbot.backtest.feed import BarFeed
from ibbot.backtest.feed_arrays import FeedArrays
from ibbot.backtest.metrics import (
    DailyEquity,
    compute_metrics,
    daily_equity,
    daily_returns,
    drawdown_curve,
    max_drawdown,
    monthly_returns,
    trading_day,
)
from ibbot.backtest.outputs import (
    _json_data,
    _json_safe,
    _line_encoder,
    decision_line,
    decisions_jsonl,
    write_outputs,
)
from ibbot.errors import StoreError
from ibbot.models import BarSize
from tests.unit.backtest_helpers import daily_bars
from tests.unit.test_backtest_replay import CLOSES, OPENS, config, sma_spec

if TYPE_CHECKING:
    from pathlib import Path

DAY = 86_400_000_000
HOUR = 3_600_000_000
T0 = int(datetime(2024, 1, 2, tzinfo=UTC).timestamp()) * 1_000_000


# --- the loops the outputs used before ------------------------------------------------------


def _reference_downsample(
    xs: list[float], ys: list[float], max_points: int
) -> tuple[list[float], list[float]]:
    if len(xs) <= max_points:
        return xs, ys
    buckets = max(1, (max_points - 2) // 2)
    size = len(xs) / buckets
    keep = {0, len(xs) - 1}  # the first and last points: the chart spans the whole run
    for b in range(buckets):
        # the last bucket reaches the end (int(buckets * size) can fall one short of len(xs))
        lo = int(b * size)
        hi = min(len(xs), int((b + 1) * size)) if b < buckets - 1 else len(xs)
        if lo >= hi:
            continue
        segment = range(lo, hi)
        keep.add(min(segment, key=ys.__getitem__))
        keep.add(max(segment, key=ys.__getitem__))
    return [xs[i] for i in sorted(keep)], [ys[i] for i in sorted(keep)]


def _reference_daily(curve: EquityCurve, bar_size: BarSize) -> DailyEquity:
    days: list[date] = []
    equity: list[float] = []
    for micros, value in zip(curve.micros, curve.equity, strict=True):
        day = trading_day(micros, bar_size)
        if days and days[-1] == day:
            equity[-1] = value
        else:
            days.append(day)
            equity.append(value)
    return DailyEquity(days, equity)


def _reference_drawdown(equity: list[float]) -> list[float]:
    peak = -math.inf
    out = []
    for value in equity:
        peak = max(peak, value)
        out.append(value / peak - 1.0 if peak > 0 else 0.0)
    return out


def _reference_max_drawdown(curve: EquityCurve, starting_cash: float) -> tuple[Any, ...]:
    equity = curve.equity
    peak_value, peak_index = starting_cash, -1
    depth, worst = 0.0, None
    for index, value in enumerate(equity):
        if value >= peak_value:
            peak_value, peak_index = value, index
            continue
        fall = value / peak_value - 1.0
        if fall < depth:
            depth, worst = fall, (peak_index, index)
    if worst is None:
        return (0.0, None, None, None)
    peak, trough = worst
    target = starting_cash if peak < 0 else equity[peak]
    recovery = next((i for i in range(trough + 1, len(equity)) if equity[i] >= target), None)
    return (
        depth,
        utc_from_micros(curve.micros[max(peak, 0)]),
        utc_from_micros(curve.micros[trough]),
        None if recovery is None else utc_from_micros(curve.micros[recovery]),
    )


def _reference_monthly(daily: DailyEquity, starting_cash: float) -> dict[int, dict[int, float]]:
    table: dict[int, dict[int, float]] = {}
    previous = starting_cash
    month_end: dict[tuple[int, int], float] = {}
    for day, value in zip(daily.days, daily.equity, strict=True):
        month_end[day.year, day.month] = value
    for (year, month), value in month_end.items():
        table.setdefault(year, {})[month] = value / previous - 1.0
        previous = value
    return table


def _reference_buy_and_hold(
    feed: BarFeed, starting_cash: float, symbols: list[str] | None = None
) -> DailyEquity:
    chosen = symbols if symbols is not None else feed.universe
    wanted = set(chosen)
    slice_ = starting_cash / len(chosen) if chosen else 0.0
    cash = starting_cash
    shares: dict[str, float] = {}
    last: dict[str, float] = {}
    days: list[date] = []
    equity: list[float] = []
    for symbol, micros, close in zip(feed.symbols, feed.micros, feed.close, strict=True):
        if symbol not in wanted:
            continue
        day = trading_day(micros, feed.bar_size)
        if not days or days[-1] != day:
            if days:
                equity[-1] = cash + sum([shares[s] * last[s] for s in shares])
            days.append(day)
            equity.append(0.0)
        if symbol not in shares and close > 0:
            shares[symbol] = slice_ / close
            cash -= slice_
        last[symbol] = close
    if days:
        equity[-1] = cash + sum([shares[s] * last[s] for s in shares])
    return DailyEquity(days, equity)


# --- random inputs ----------------------------------------------------------------------------


def _walk(rng: random.Random, n: int, start: float = 100_000.0) -> list[float]:
    """A random equity path with exact repeats, flat stretches and round values in it."""
    values, value = [], start
    for _ in range(n):
        roll = rng.random()
        if roll < 0.1:
            pass  # flat: a tie with the previous value
        elif roll < 0.15:
            value = float(round(value))
        else:
            value *= 1.0 + rng.gauss(0.0, 0.02)
        values.append(value)
    return values


def _curve(rng: random.Random, n: int, step: int) -> EquityCurve:
    micros, t = [], T0
    for _ in range(n):
        t += step * rng.choice([1, 1, 1, 2, 3])  # gaps: weekends, missing bars
        micros.append(t)
    equity = _walk(rng, n)
    gross = [0.0 if rng.random() < 0.4 else abs(v) * rng.random() for v in equity]
    return EquityCurve(micros, equity, [e - g for e, g in zip(equity, gross, strict=True)], gross)


def _feed(rng: random.Random, symbols: list[str], days: int, bar_size: BarSize) -> BarFeed:
    step = DAY if not bar_size.is_intraday else HOUR // 2
    rows = []
    for index in range(days):
        micros = T0 + index * step
        for symbol in symbols:
            if rng.random() < 0.15:  # a symbol without a bar at this instant (or not yet listed)
                continue
            close = rng.choice([0.0, -1.0]) if rng.random() < 0.03 else rng.uniform(1, 500)
            rows.append((micros, symbol, close))
    rows.sort()
    n = len(rows)
    return BarFeed(
        bar_size,
        [s for _, s, _ in rows],
        [m for m, _, _ in rows],
        [utc_from_micros(m) for m, _, _ in rows],
        [c for _, _, c in rows],
        [c for _, _, c in rows],
        [c for _, _, c in rows],
        [c for _, _, c in rows],
        [1.0] * n,
        [None] * n,
        [None] * n,
    )


# --- downsampling -----------------------------------------------------------------------------


def test_downsample_leaves_a_short_series_whole() -> None:
    xs = [float(i) for i in range(MAX_POINTS)]
    ys = [math.sin(i) for i in range(MAX_POINTS)]
    assert downsample(xs, ys) == (xs, ys)
    assert downsample([], []) == ([], [])


@pytest.mark.parametrize("seed", range(6))
def test_downsample_keeps_every_peak_and_trough_within_its_budget(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([MAX_POINTS + 1, 2 * MAX_POINTS + 1, 6_208, 100_003])
    ys = _walk(rng, n)
    spike, dip = rng.randrange(n), rng.randrange(n)
    ys[spike], ys[dip] = 10 * max(ys), min(ys) / 10  # a one-bar spike and a one-bar crash
    xs = [float(i) for i in range(n)]
    small_x, small_y = downsample(xs, ys)
    assert len(small_x) == len(small_y) <= MAX_POINTS
    assert max(small_y) == ys[spike]
    assert min(small_y) == ys[dip]
    assert (small_x[0], small_y[0]) == (xs[0], ys[0])  # the whole run is drawn, to its end
    assert (small_x[-1], small_y[-1]) == (xs[-1], ys[-1])
    assert small_x == sorted(small_x)
    # every bucket's extremes, exactly as the per-bucket loop picks them
    assert (small_x, small_y) == _reference_downsample(xs, ys, MAX_POINTS)


def test_downsample_equals_the_loop_on_ties_and_odd_budgets() -> None:
    rng = random.Random(11)
    for _ in range(200):
        n = rng.randrange(1, 5_000)
        budget = rng.choice([4, 5, 7, 200, 1_201])
        ys = [round(rng.random(), 1) for _ in range(n)]  # many ties: the first one is kept
        xs = [float(i) for i in range(n)]
        assert downsample(xs, ys, budget) == _reference_downsample(xs, ys, budget)


def test_round_cents_is_pythons_round() -> None:
    """Pixel coordinates rounded column-wise are the bits ``round(v, 2)`` gives, ties included."""
    rng = random.Random(9)
    values = [rng.uniform(-50, 1_000) for _ in range(20_000)]
    values += [i / 1_000 + 0.005 for i in range(20_000)]  # x.xx5: decimal ties, near-ties in binary
    values += [round(rng.uniform(0, 900), 3) for _ in range(20_000)]
    values += [-0.0, -0.004, 0.0, 1e300, -1e300, math.inf, -math.inf, math.nan]
    found = round_cents(np.asarray(values))
    assert [repr(v) for v in found] == [repr(round(v, 2)) for v in values]


# --- text columns -----------------------------------------------------------------------------


_AWKWARD = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    1e-4,
    9.999999999999999e-05,
    1.5e-05,
    1e-7,
    5e-324,
    1e10,
    12345678901.5,
    1e15,
    1e16,
    9999999999999998.0,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
    123456.789,
    0.30000000000000004,
]


def test_float_text_is_repr() -> None:
    rng = random.Random(5)
    values = list(_AWKWARD)
    values += [rng.gauss(1e6, 1e5) for _ in range(3_000)]
    values += [round(rng.uniform(-500, 500), 2) for _ in range(3_000)]
    values += [float(rng.randrange(-(10**9), 10**9)) for _ in range(1_000)]
    values += [rng.gauss(0, 1) * 10.0 ** rng.randrange(-12, 22) for _ in range(3_000)]
    assert float_text(values).to_pylist() == [repr(v) for v in values]
    assert float_text([]).to_pylist() == []


def test_csv_and_json_columns() -> None:
    micros = [T0, T0 + DAY + 3_000_000]
    stamps = iso_utc_text(micros)
    assert stamps.to_pylist() == [utc_from_micros(m).isoformat() for m in micros]
    text = csv_bytes(stamps, float_text([1.0, 2.5]))
    assert text.decode() == f"{stamps[0]},1.0\n{stamps[1]},2.5\n"
    assert csv_bytes() == b""
    assert utc_dates(stamps).to_pylist() == ["2024-01-02", "2024-01-03"]
    days = [date(2024, 1, 2), date(999, 12, 31), date(9999, 12, 31)]
    assert iso_dates(days).to_pylist() == [d.isoformat() for d in days]
    values = [1.5, -0.0, 1e-7]
    expected = json.dumps([[d.isoformat(), v] for d, v in zip(days, values, strict=True)])
    assert f"[{json_pair_bytes(days, values).decode()}]" == expected.replace(", ", ",")
    odd = [math.nan, math.inf, 2.0]  # json.dumps' NaN and Infinity, as before
    expected = json.dumps([[d.isoformat(), v] for d, v in zip(days, odd, strict=True)])
    assert f"[{json_pair_bytes(days, odd).decode()}]" == expected.replace(", ", ",")
    assert json_pair_bytes([], []).decode() == ""


# --- metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bar_size", "step"),
    [(BarSize.DAY_1, DAY), (BarSize.HOUR_1, HOUR), (BarSize.MIN_5, 300_000_000)],
)
def test_daily_equity_and_drawdowns_equal_the_loops(bar_size: BarSize, step: int) -> None:
    rng = random.Random(bar_size.value)
    for n in (0, 1, 2, 500, 3_000):
        curve = _curve(rng, n, step)
        daily = daily_equity(curve, bar_size)
        reference = _reference_daily(curve, bar_size)
        assert daily.days == reference.days
        assert daily.equity == reference.equity
        assert drawdown_curve(curve.equity) == _reference_drawdown(curve.equity)
        for start in (100_000.0, 1.0, 1e9):
            found = max_drawdown(curve, start)
            expected = _reference_max_drawdown(curve, start)
            assert (found.depth, found.peak, found.trough, found.recovery) == expected
            assert monthly_returns(daily, start) == _reference_monthly(daily, start)
            returns = daily_returns(daily, start)
            previous = [start, *daily.equity][: len(daily.equity)]
            assert returns == [v / p - 1.0 for v, p in zip(daily.equity, previous, strict=True)]


def test_drawdown_curve_with_nan_zero_and_negative_values() -> None:
    values = [math.nan, -5.0, 0.0, 10.0, math.nan, 5.0, 20.0, -1.0, 20.0]
    got, expected = drawdown_curve(values), _reference_drawdown(values)
    assert [repr(v) for v in got] == [repr(v) for v in expected]


def test_compute_metrics_ratios_equal_the_loops() -> None:
    """Volatility, Sharpe, Sortino, exposure and time in market by the per-value formulas."""
    rng = random.Random(3)
    curve = _curve(rng, 2_000, DAY)
    config = BacktestConfig(
        start=utc_from_micros(curve.micros[0]),
        end=utc_from_micros(curve.micros[-1]) + timedelta(days=1),
        strategies=(StrategySpec("s", "x:Y", 100_000.0),),
        starting_cash=100_000.0,
    )
    result = BacktestResult(
        config=config,
        bar_size=BarSize.DAY_1,
        symbols=("AAA",),
        bars=len(curve),
        first_bar=utc_from_micros(curve.micros[0]),
        last_bar=utc_from_micros(curve.micros[-1]),
        equity=curve,
        fills=(),
        decisions=(),
        orders=(),
        final_positions={},
        final_cash=curve.cash[-1],
    )
    metrics = compute_metrics(result)
    returns = daily_returns(daily_equity(curve, BarSize.DAY_1), 100_000.0)
    mean = sum(returns) / len(returns)
    stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    assert metrics["annualized_volatility"] == stdev * math.sqrt(252)
    assert metrics["sharpe"] == mean / stdev * math.sqrt(252)
    assert metrics["sortino"] == mean / downside * math.sqrt(252)
    exposures = [g / e if e > 0 else 0.0 for g, e in zip(curve.gross, curve.equity, strict=True)]
    assert metrics["exposure"] == sum(exposures) / len(exposures)
    assert metrics["time_in_market"] == sum(1 for g in curve.gross if g > 0) / len(curve.gross)


@pytest.mark.parametrize("bar_size", [BarSize.DAY_1, BarSize.MIN_30])
def test_buy_and_hold_equals_the_loop(bar_size: BarSize) -> None:
    rng = random.Random(bar_size.value)
    symbols = [f"S{i:02d}" for i in range(7)]
    feed = _feed(rng, symbols, 400, bar_size)
    for chosen in (None, ["S03"], ["S01", "S05", "ZZZ"], symbols[:1] + symbols[3:]):
        found = buy_and_hold(feed, 1_000_000.0, chosen).daily
        expected = _reference_buy_and_hold(feed, 1_000_000.0, chosen)
        assert found.days == expected.days
        assert found.equity == expected.equity
    empty = _feed(rng, symbols, 0, bar_size)
    assert buy_and_hold(empty, 1_000.0).daily == DailyEquity([], [])


def test_feed_arrays_group_each_symbols_rows_in_order() -> None:
    rng = random.Random(4)
    feed = _feed(rng, [f"S{i:02d}" for i in range(30)], 200, BarSize.DAY_1)
    arrays = FeedArrays.of(feed)
    assert sorted(arrays.names) == feed.universe
    for symbol in feed.universe:
        code = arrays.code(symbol)
        assert code is not None
        expected = [i for i, s in enumerate(feed.symbols) if s == symbol]
        assert arrays.rows(code).tolist() == expected
    assert arrays.code("NOPE") is None
    assert arrays.close.tolist() == feed.close
    assert arrays.micros.tolist() == feed.micros


# --- decisions.jsonl --------------------------------------------------------------------------


def test_json_data_fast_path_equals_the_value_by_value_one() -> None:
    plain: dict[str, Any] = {"a": 1.5, "b": 2, "c": "x", "d": None, "e": True}
    assert _json_data(plain) == {k: _json_safe(v) for k, v in plain.items()}
    subclasses: dict[str, Any] = {"f": np.float64(2.5), "n": np.float64("nan"), "e": BarSize.DAY_1}
    assert _json_data(subclasses) == {k: _json_safe(v) for k, v in subclasses.items()}
    odd: dict[str, Any] = {"a": 1.5, "nan": math.nan, "inf": -math.inf, "day": date(2024, 1, 2)}
    assert _json_data(odd) == {"a": 1.5, "nan": None, "inf": None, "day": "2024-01-02"}


def _json_text(value: Any) -> bytes:
    return (json.dumps(value, separators=(",", ":"), allow_nan=False) + "\n").encode()


def test_decision_lines_are_json_dumps_text() -> None:
    """orjson's text where it is json's, json's own where it would differ."""
    encode = _line_encoder()
    samples: list[dict[str, Any]] = [
        {"a": 1.5, "b": "plain", "c": None, "d": True, "e": [1, 2.0], "f": {}},
        {"tiny": 1e-05, "smaller": -3.5e-7, "edge": 1e-4, "zero": -0.0},
        {"text": "caf\u00e9 \u00b7 \u2265 \U0001f600"},  # beyond ASCII: json escapes it
        {"big": 2**70},  # beyond 64 bits: orjson refuses it
        {"nested": {"x": 1e16, "y": 123456789012345680.0, "z": 5e-324}},
        {1: "a key that is not a string"},
        {"reasoning": "re-entry at 100.00001", "quote": 'say "hi"\n\t\\'},
    ]
    rng = random.Random(8)
    samples.extend(
        {
            "price": rng.gauss(100, 50) * 10.0 ** rng.randrange(-9, 20),
            "count": rng.randrange(-(2**40), 2**40),
            "data": {"v": rng.random() * 10.0 ** rng.randrange(-12, 5)},
        }
        for _ in range(2_000)
    )
    for sample in samples:
        assert encode(sample) == _json_text(sample), sample


def test_decisions_jsonl_is_the_lines_json_dumps_writes() -> None:
    result = _run_sma()
    orders = {order.order_id: order for order in result.orders}
    expected = b"".join(
        _json_text(decision_line(r, None if r.order_id is None else orders.get(r.order_id)))
        for r in result.decisions
    )
    assert result.decisions
    assert decisions_jsonl(result).encode() == expected


def test_decisions_jsonl_where_json_writes_some_lines_differently() -> None:
    """Lines orjson would write differently (text beyond ASCII, an "e-") are json's own; the
    others stay orjson's."""
    result = _run_sma()
    records = list(result.decisions)
    assert len(records) >= 2
    for index, reasoning in ((0, "re-entry \u00b7 caf\u00e9"), (len(records) - 1, "tiny 1e-05")):
        record = records[index]
        records[index] = dataclasses.replace(
            record, decision=dataclasses.replace(record.decision, reasoning=reasoning)
        )
    changed = dataclasses.replace(result, decisions=tuple(records))
    orders = {order.order_id: order for order in result.orders}
    expected = b"".join(
        _json_text(decision_line(r, None if r.order_id is None else orders.get(r.order_id)))
        for r in records
    )
    text = decisions_jsonl(changed)
    assert text.encode() == expected
    assert "\\u00b7" in text.splitlines()[0]


def _run_sma() -> BacktestResult:
    feed = BarFeed.from_bars(daily_bars("ABC", CLOSES, opens=OPENS))
    return Backtest(config(sma_spec())).run(feed)


def test_decision_times_keep_their_own_zone() -> None:
    """Memoised times: an instant equal to an earlier one but in another zone is written as is."""
    result = _run_sma()
    first = result.decisions[0]
    moment = first.decision.timestamp.astimezone(timezone(timedelta(hours=-5)))
    # Decision normalises its timestamp to UTC: set the zone past its checks
    shifted = dataclasses.replace(first.decision)
    object.__setattr__(shifted, "timestamp", moment)
    records = (first, dataclasses.replace(first, decision=shifted))
    lines = decisions_jsonl(dataclasses.replace(result, decisions=records)).splitlines()
    assert json.loads(lines[0])["timestamp"] == first.decision.timestamp.isoformat()
    assert json.loads(lines[1])["timestamp"] == moment.isoformat()


# --- writing ----------------------------------------------------------------------------------


def test_a_failed_write_raises_after_the_others_finished(tmp_path: Path) -> None:
    result = _run_sma()
    (tmp_path / "report.png").mkdir()  # the PNG cannot replace a directory
    with pytest.raises(StoreError, match=r"report\.png"):
        write_outputs(result, tmp_path)
    for name in ("trades.csv", "equity.csv", "metrics.json", "decisions.jsonl", "report.html"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_writing_leaves_the_heap_as_the_caller_had_it(tmp_path: Path) -> None:
    """The run's objects are frozen while the files are made, and thawed after; a heap the caller
    froze stays frozen."""
    import gc  # noqa: PLC0415

    result = _run_sma()
    gc.unfreeze()  # whatever an earlier test in this process left frozen
    assert gc.isenabled()
    write_outputs(result, tmp_path / "thawed")
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    gc.freeze()
    try:
        write_outputs(result, tmp_path / "frozen")
        assert gc.get_freeze_count() > 0  # not thawed (a frozen object freed since leaves it)
    finally:
        gc.unfreeze()
    first, second = tmp_path / "thawed", tmp_path / "frozen"
    for name in ("trades.csv", "equity.csv", "metrics.json", "decisions.jsonl", "report.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
