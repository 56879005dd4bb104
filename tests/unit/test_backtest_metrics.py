"""Metrics on hand-made curves and fills, chart geometry, the fast builders, config and inputs."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ibbot.backtest import (
    DEFAULT_ALLOCATION,
    BacktestConfig,
    BacktestInputError,
    BacktestResult,
    CommissionModel,
    EquityCurve,
    StrategySpec,
    risk_limits,
    select_strategies,
)
from ibbot.backtest.builders import make_event, make_price_bar, utc_from_micros
from ibbot.backtest.charts import (
    date_ticks,
    downsample,
    format_money,
    format_percent,
    layout_chart,
    nice_ticks,
    render_svg,
)
from ibbot.backtest.inputs import parse_param
from ibbot.backtest.metrics import (
    compute_metrics,
    daily_equity,
    max_drawdown,
    monthly_returns,
    realized_pnl,
)
from ibbot.models import BarSize, Event, EventType, Fill, OrderSide, PriceBar
from ibbot.settings import RiskSettings, Settings

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400_000_000


def curve(values: list[float], step_micros: int = DAY) -> EquityCurve:
    start = int(T0.timestamp()) * 1_000_000
    return EquityCurve(
        [start + i * step_micros for i in range(len(values))],
        list(values),
        list(values),
        [0.0] * len(values),
    )


def fill(
    side: OrderSide, quantity: float, price: float, commission: float = 1.0, **kw: Any
) -> Fill:
    values: dict[str, Any] = {"strategy_name": "s", **kw}
    return Fill(
        "x", 1, 1, values.pop("symbol", "AAA"), side, quantity, price, T0, commission, **values
    )


def test_realized_pnl_nets_both_commissions_and_handles_flips() -> None:
    """Closing P&L includes the opening commission (in the average cost); a flip opens the rest."""
    pnls = realized_pnl(
        [
            fill(OrderSide.BUY, 10, 10.0),  # avg (100 + 1) / 10 = 10.1
            fill(OrderSide.SELL, 4, 12.0),  # 4 x (12 - 10.1) - 1 = 6.6
            fill(
                OrderSide.SELL, 10, 11.0, 2.0
            ),  # closes 6: 6 x 0.9 - 1.2 = 4.2; short 4 at 11 - 0.2
            fill(OrderSide.BUY, 4, 10.0, 0.0),  # short avg 10.8: 4 x 0.8 = 3.2
            fill(OrderSide.BUY, 5, 10.0, 0.0, strategy_name="t"),
        ]
    )
    assert pnls == [None, pytest.approx(6.6), pytest.approx(4.2), pytest.approx(3.2), None]


def test_max_drawdown_dates_and_recovery() -> None:
    """The deepest fall from a running peak, with its peak, trough and recovery instants."""
    dd = max_drawdown(curve([100, 110, 99, 88, 105, 111, 100]), 100.0)
    assert dd.depth == pytest.approx(88 / 110 - 1)
    assert (dd.peak, dd.trough, dd.recovery) == (
        T0 + timedelta(days=1),
        T0 + timedelta(days=3),
        T0 + timedelta(days=5),
    )
    never = max_drawdown(curve([90, 95]), 100.0)
    assert (never.depth, never.peak, never.recovery) == (pytest.approx(-0.1), T0, None)
    assert max_drawdown(curve([100, 101]), 100.0).depth == 0.0


def test_daily_equity_takes_each_days_last_value() -> None:
    """Intraday points collapse to the last one of each New York trading day."""
    hourly = curve([1, 2, 3, 4, 5, 6], step_micros=DAY // 4)  # 00:00, 06:00, 12:00, 18:00 UTC
    daily = daily_equity(hourly, BarSize.HOUR_1)
    # 00:00 UTC is the previous evening in New York
    assert daily.days == [date(2023, 12, 31), date(2024, 1, 1), date(2024, 1, 2)]
    assert daily.equity == [1, 5, 6]  # 00:00 UTC on the 2nd is still the 1st in New York
    assert daily_equity(curve([1, 2]), BarSize.DAY_1).days == [date(2024, 1, 1), date(2024, 1, 2)]


def test_monthly_returns_chain_month_ends() -> None:
    """Each month's return is its last equity over the previous month's (the first: the cash)."""
    daily = daily_equity(
        EquityCurve(
            [
                int(datetime(2024, m, d, tzinfo=UTC).timestamp()) * 1_000_000
                for m, d in ((1, 5), (1, 31), (2, 10))
            ],
            [105.0, 110.0, 99.0],
            [0.0] * 3,
            [0.0] * 3,
        ),
        BarSize.DAY_1,
    )
    assert monthly_returns(daily, 100.0) == {2024: {1: pytest.approx(0.1), 2: pytest.approx(-0.1)}}


def result_with(
    values: list[float], fills: list[Fill], gross: list[float] | None = None
) -> BacktestResult:
    c = curve(values)
    if gross is not None:
        c = dataclasses.replace(c, gross=gross)
    cfg = BacktestConfig(
        start=T0,
        end=T0 + timedelta(days=len(values)),
        strategies=(StrategySpec("s", "sma_cross", 100.0),),
        starting_cash=100.0,
    )
    return BacktestResult(
        cfg,
        BarSize.DAY_1,
        ("AAA",),
        len(values),
        T0,
        T0 + timedelta(days=len(values) - 1),
        c,
        tuple(fills),
        (),
        (),
        {},
        values[-1],
    )


def test_compute_metrics_by_hand() -> None:
    """Return, volatility, Sharpe, Sortino, trade statistics and exposure on a 4-day curve."""
    values = [110.0, 99.0, 108.9, 119.79]  # daily returns +10%, -10%, +10%, +10%
    trades = [
        fill(OrderSide.BUY, 1, 100.0, 0.0),
        fill(OrderSide.SELL, 1, 110.0, 0.0),
        fill(OrderSide.BUY, 1, 100.0, 0.0),
        fill(OrderSide.SELL, 1, 95.0, 0.0),
    ]
    m = compute_metrics(result_with(values, trades, gross=[0.0, 50.0, 0.0, 0.0]))
    returns = [0.1, -0.1, 0.1, 0.1]
    mean = sum(returns) / 4
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert m["total_return"] == pytest.approx(0.1979)
    assert m["annualized_volatility"] == pytest.approx(sd * math.sqrt(252))
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(252))
    assert m["sortino"] == pytest.approx(mean / math.sqrt(0.01 / 4) * math.sqrt(252))
    assert m["cagr"] == pytest.approx(1.1979 ** (365.25 / 3) - 1)
    assert (m["trade_count"], m["closed_trades"], m["win_rate"]) == (4, 2, 0.5)
    assert m["profit_factor"] == pytest.approx(2.0)
    assert m["turnover"] == pytest.approx(405.0 / (sum(values) / 4))
    assert m["exposure"] == pytest.approx(50.0 / 99.0 / 4)
    assert m["time_in_market"] == 0.25
    assert m["max_drawdown"]["depth"] == pytest.approx(-0.1)
    assert m["strategies"]["s"]["realized_pnl"] == pytest.approx(5.0)


def test_metrics_without_trades_or_variance_are_null_not_nan() -> None:
    """One flat day: ratios that cannot be computed are None."""
    m = compute_metrics(result_with([100.0], []))
    assert (m["sharpe"], m["sortino"], m["cagr"], m["win_rate"], m["profit_factor"]) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert m["annualized_volatility"] is None


def test_chart_helpers() -> None:
    """Nice ticks, date ticks per span, min/max downsampling, compact labels, SVG output."""
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(5.0, 5.0)[0] <= 5.0 <= nice_ticks(5.0, 5.0)[-1]
    assert nice_ticks(math.nan, 1.0) == []
    xs = [float(i) for i in range(10_000)]
    ys = [math.sin(i / 100) for i in range(10_000)]
    small_x, small_y = downsample(xs, ys, 200)
    assert len(small_x) <= 200
    assert max(small_y) == max(ys)
    assert min(small_y) == min(ys)
    epoch_day = (T0 - datetime(1970, 1, 1, tzinfo=UTC)).days
    assert [label for _, label in date_ticks(epoch_day, epoch_day + 3650)][:2] == ["2024", "2026"]
    assert date_ticks(epoch_day, epoch_day + 200)[0][1] == "2024-01"
    assert date_ticks(epoch_day, epoch_day + 10)[0][1] == "01-01"
    assert date_ticks(epoch_day, epoch_day + 0.5)[0][1] == "01-01 00:00"
    assert format_money(1_250_000, 250_000) == "1.25M"
    assert format_money(120_000, 20_000) == "120k"
    assert format_money(100_500, 500) == "100.5k"
    assert format_money(950, 50) == "950"
    assert format_money(1.5, 0.5) == "1.5"
    assert format_money(2e9, 1e9) == "2B"
    assert format_money(1.0, 1 / 3) == "1.000000"
    assert format_percent(-0.125, 0.025) == "-12.5%"
    assert format_percent(-0.1, 0.0) == "-10%"
    chart = layout_chart("T <x>", [1.0, 2.0], [3.0, 4.0], y_format=format_money, area=True)
    svg = render_svg(chart, chart_id="c")
    assert svg.startswith("<svg")
    assert "T &lt;x&gt;" in svg
    assert "<polygon" in svg
    empty = layout_chart("E", [], [], y_format=format_money)
    assert "<polyline" not in render_svg(empty)
    flat = layout_chart("F", [1.0], [5.0], y_format=format_money)
    assert len(flat.points) == 1


def test_builders_equal_the_constructors() -> None:
    """The fast builders give instances equal, field by field and type, to the constructors'."""
    stamp = utc_from_micros(1_704_067_200_000_000)
    assert stamp == T0
    assert stamp.tzinfo is UTC
    assert utc_from_micros(1_500_000) == datetime(1970, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)
    assert utc_from_micros(-86_400_000_000) == datetime(1969, 12, 31, tzinfo=UTC)
    fast = make_price_bar("AAA", stamp, 1.0, 2.0, 0.5, 1.5, 10.0, BarSize.DAY_1, 1.2, 7)
    slow = PriceBar("AAA", stamp, 1.0, 2.0, 0.5, 1.5, 10.0, BarSize.DAY_1, 1.2, 7)
    assert fast == slow
    assert type(fast) is PriceBar
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.close = 3.0  # type: ignore[misc]
    event = make_event(EventType.PRICE_BAR, "AAA", stamp, fast, "backtest", stamp)
    assert event == Event(EventType.PRICE_BAR, "AAA", stamp, slow, "backtest", stamp)


def test_commission_models() -> None:
    """ib, zero and per-share=X parse and charge as documented; anything else is refused."""
    assert CommissionModel.parse("IB")(100, 10.0) == 1.0
    assert CommissionModel.parse("zero")(100, 10.0) == 0.0
    per_share = CommissionModel.parse("per-share=0.01")
    assert per_share(250, 10.0) == pytest.approx(2.5)
    assert str(per_share) == "per-share=0.01"
    assert str(CommissionModel.parse("ib")) == "ib"
    for bad in ("per-share=-1", "per-share=x", "per-share", "flat=1", "zero=1"):
        with pytest.raises(BacktestInputError, match="invalid commission"):
            CommissionModel.parse(bad)


def test_parse_param_values() -> None:
    """VALUE is JSON when it parses, else text."""
    assert parse_param("sma.fast=10") == ("sma", "fast", 10)
    assert parse_param("a.b.symbols=AAPL,MSFT") == ("a.b", "symbols", "AAPL,MSFT")
    assert parse_param('x.symbols=["A"]') == ("x", "symbols", ["A"])
    for bad in ("fast=1", ".fast=1", "x.=1", "x.1a=2"):
        with pytest.raises(BacktestInputError):
            parse_param(bad)


def test_strategy_selection_and_capital() -> None:
    """Configured strategies by default, shipped names on request, capital scaled by share."""
    settings = Settings(
        strategies=[
            {
                "name": "a",
                "class_path": "ibbot.strategies.sma_cross.SmaCrossStrategy",
                "allocated_capital": 30_000,
            },
            {
                "name": "b",
                "class_path": "ibbot.strategies.sma_cross.SmaCrossStrategy",
                "allocated_capital": 10_000,
            },
            {
                "name": "c",
                "class_path": "ibbot.strategies.sma_cross.SmaCrossStrategy",
                "allocated_capital": 5_000,
                "enabled": False,
            },
        ]
    )
    specs, cash = select_strategies(settings)
    assert ([s.name for s in specs], cash) == (["a", "b"], 40_000)
    specs, cash = select_strategies(settings, ["a", "b"], [("a", "fast", 3)], 80_000.0)
    assert [(s.name, s.allocated_capital) for s in specs] == [("a", 60_000), ("b", 20_000)]
    assert specs[0].params == {"fast": 3}
    assert cash == 80_000.0
    specs, cash = select_strategies(settings, ["c", "value_momentum"])
    assert [s.allocated_capital for s in specs] == [5_000, DEFAULT_ALLOCATION]
    limits = risk_limits(RiskSettings(max_order_notional=500.0, min_order_notional=5.0))
    assert (limits.max_order_notional, limits.min_order_notional, limits.kill_switch_file) == (
        500.0,
        5.0,
        None,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategies": ()}, "no strategy to run"),
        ({"starting_cash": 0.0}, "capital must be positive"),
        ({"slippage_bps": -1.0}, "slippage must be >= 0"),
    ],
)
def test_config_refuses_bad_values(overrides: dict[str, Any], message: str) -> None:
    """A config that cannot run is refused with one line."""
    values: dict[str, Any] = {
        "start": T0,
        "end": T0 + timedelta(days=1),
        "strategies": (StrategySpec("s", "sma_cross", 1.0),),
        "starting_cash": 1.0,
        **overrides,
    }
    with pytest.raises(BacktestInputError, match=message):
        BacktestConfig(**values)
