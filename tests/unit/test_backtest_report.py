"""The report a trader reads: every parameter, benchmark, per-symbol results and charts, trade statistics,
links from trades to reasoning, intraday resolution, CAGR under a year, missing-data warnings."""

from __future__ import annotations

import json
import math
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ibbot.backtest import Backtest, BacktestConfig, BarFeed, CommissionModel, StrategySpec
from ibbot.backtest.benchmark import buy_and_hold
from ibbot.backtest.charts import MAX_POINTS
from ibbot.backtest.metrics import realized_pnl
from ibbot.backtest.outputs import write_outputs
from ibbot.backtest.report import _number, _Text
from ibbot.cli import EXIT_OK, EXIT_USAGE, main
from ibbot.models import BarSize, PriceBar
from ibbot.store import ParquetStore
from ibbot.trading import RiskLimits
from tests.unit.sweep_helpers import cent_bars

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.backtest import BacktestResult

START = datetime(2016, 1, 1, tzinfo=UTC)


def run(
    bars: list[PriceBar],
    strategy: str = "sma_cross",
    end: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    **params: object,
) -> BacktestResult:
    config = BacktestConfig(
        start=START,
        end=end,
        strategies=(StrategySpec(strategy, strategy, 100_000.0, params),),
        starting_cash=100_000.0,
        commission=CommissionModel.parse("ib"),
        risk=RiskLimits(max_order_notional=1e9),
    )
    return Backtest(config).run(BarFeed.from_bars(bars))


def svg(page: str, chart_id: str) -> str:
    start = page.index(f'id="{chart_id}"')
    return page[start : page.index("</svg>", start)]


def points(chart: str) -> list[tuple[float, float]]:
    """The main polyline's points (the last polyline of the chart)."""
    line = re.findall(r'<polyline points="([^"]*)"', chart)[-1]
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.split())]


def test_report_has_parameters_benchmark_trade_statistics_and_symbols(tmp_path: Path) -> None:
    """The page and metrics.json hold the strategy's parameters, the equal-weight buy-and-hold
    benchmark, average win/loss, expectancy, per-symbol results and open positions; each traded
    symbol has a price chart with a marker per fill."""
    bars = [*cent_bars("AAA", 1), *cent_bars("BBB", 2)]
    result = run(bars, fast=5, slow=20)
    files = write_outputs(result, tmp_path)
    metrics = json.loads(files.metrics.read_text())
    closed = [p for p in realized_pnl(result.fills) if p is not None]
    wins, losses = [p for p in closed if p > 0], [p for p in closed if p < 0]
    assert metrics["average_win"] == pytest.approx(sum(wins) / len(wins))
    assert metrics["average_loss"] == pytest.approx(sum(losses) / len(losses))
    assert metrics["expectancy"] == pytest.approx(sum(closed) / len(closed))
    held = {p["symbol"]: p for p in metrics["open_positions"]}
    assert set(held) == {s for s, q in result.final_positions.items() if q}
    for symbol, position in held.items():
        last = [b.close for b in bars if b.symbol == symbol][-1]
        assert position["market_value"] == position["quantity"] * last
    assert set(metrics["symbols"]) == {"AAA", "BBB"}
    assert sum(s["trade_count"] for s in metrics["symbols"].values()) == len(result.fills)
    # equal weight: half the cash in each symbol at its first close, held to the last
    first = {s: next(b.close for b in bars if b.symbol == s) for s in ("AAA", "BBB")}
    last = {s: [b.close for b in bars if b.symbol == s][-1] for s in ("AAA", "BBB")}
    expected = sum(50_000 / first[s] * last[s] for s in first)
    assert metrics["benchmark"]["final_equity"] == pytest.approx(expected)
    assert metrics["benchmark"]["label"] == "buy and hold 2 symbols, equal weight"
    page = files.report_html.read_text()
    assert "buy and hold 2 symbols, equal weight" in page
    assert 'stroke-dasharray="4 3"' in svg(page, "equity")  # the benchmark's line
    # every parameter it ran with, those set marked with their default
    assert '<tr><td>fast</td><td>5</td><td class="note">set (default 10)</td></tr>' in page
    assert '<tr><td>slow</td><td>20</td><td class="note">set (default 30)</td></tr>' in page
    assert '<tr><td>weight</td><td>0.1</td><td class="note"></td></tr>' in page
    assert '<tr><td>history_bars</td><td>20</td><td class="note"></td></tr>' in page
    for symbol in ("AAA", "BBB"):
        chart = svg(page, f"price-{symbol}")
        fills = [f for f in result.fills if f.symbol == symbol]
        assert chart.count("<title>buy</title>") + chart.count("<title>sell</title>") == len(fills)
        assert len(points(chart)) <= MAX_POINTS  # downsampled for display
    assert "Average win" in page
    assert "Expectancy" in page


def test_every_trade_links_to_its_decisions_reasoning(tmp_path: Path) -> None:
    """Each trade row links to an anchor in the decisions section holding that decision's
    reasoning; the trades table is laid out to fit the page."""
    result = run(cent_bars("AAA", 1), fast=5, slow=20)
    page = write_outputs(result, tmp_path).report_html.read_text()
    trades = page[
        page.index('<table class="trades">') : page.index(
            "</table>", page.index('<table class="trades">')
        )
    ]
    links = re.findall(r'href="#d-([^"]+)"', trades)
    assert len(links) == len(result.fills)
    reasons = {r.decision.decision_id: r.decision.reasoning for r in result.decisions}
    for decision_id in set(links):
        anchor = page.index(f'id="d-{decision_id}"')
        entry = page[anchor : page.index("</div>", anchor)]
        assert reasons[decision_id].split(" | ")[0].replace("&", "&amp;") in entry
    # it fits the page without splitting a token (tests/browser/test_backtest_report_page.py
    # measures it): its cells never wrap, a table too wide scrolls in its own box
    assert '<div class="scroll"><table class="trades">' in page
    assert ".scroll{overflow-x:auto}.scroll td{white-space:nowrap}" in page
    assert "table-layout:fixed" not in page


def test_cagr_of_a_run_under_a_year_is_marked_not_meaningful(tmp_path: Path) -> None:
    """A 6-month run shows its CAGR and its benchmark's marked as not meaningful; a 4-year run
    does not."""
    short = run(cent_bars("AAA", 1, end=START + timedelta(days=180)), fast=5, slow=20)
    page = write_outputs(short, tmp_path / "short").report_html.read_text()
    metrics = json.loads((tmp_path / "short" / "metrics.json").read_text())
    assert metrics["cagr_meaningful"] is False
    assert metrics["benchmark"]["cagr_meaningful"] is False
    mark = "<span class=note>(not meaningful: the run is shorter than a year)</span>"
    assert f"<tr><td>CAGR</td><td>{_number(metrics['cagr'], 'pct')} {mark}</td></tr>" in page
    assert f"CAGR {_number(metrics['benchmark']['cagr'], 'pct')} {mark}, max drawdown" in page
    long = run(cent_bars("AAA", 1), fast=5, slow=20)
    assert "not meaningful" not in write_outputs(long, tmp_path / "long").report_html.read_text()
    assert json.loads((tmp_path / "long" / "metrics.json").read_text())["benchmark"][
        "cagr_meaningful"
    ]


def test_console_marks_a_cagr_under_a_year_as_the_report_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot backtest` over six months prints its CAGR and the benchmark's marked as not
    meaningful; over four years it prints them unmarked."""
    store = ParquetStore(tmp_path / "data")
    store.write_bars("AAA", cent_bars("AAA", 1))
    monkeypatch.setenv("IBBOT_STORE__PATH", str(tmp_path / "data"))
    base = ["--log-level", "error", "backtest", "--strategy", "sma_cross", "--start", "2016-01-01"]
    mark = " (not meaningful: the run is shorter than a year), Sharpe "
    assert main([*base, "--end", "2016-06-30", "--out", str(tmp_path / "short")]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    figures = json.loads((tmp_path / "short" / "metrics.json").read_text())
    cagr, bench = figures["cagr"], figures["benchmark"]
    assert lines[1].startswith(f"  total return {figures['total_return'] * 100:.2f}%, ")
    assert f", CAGR {cagr * 100:.2f}%{mark}" in lines[1]
    assert lines[2].startswith(
        f"  benchmark (buy and hold AAA): total return {bench['total_return'] * 100:.2f}%, "
        f"CAGR {bench['cagr'] * 100:.2f}%{mark}"
    )
    long = [*base, "--end", "2019-12-31", "--param", "sma_cross.fast=7"]
    assert main([*long, "--out", str(tmp_path / "long")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "not meaningful" not in out
    assert "  benchmark (buy and hold AAA): total return " in out
    # the report lists every parameter the strategy ran with: --param's marked, defaults not
    page = (tmp_path / "long" / "report.html").read_text()
    assert '<tr><td>fast</td><td>7</td><td class="note">set (default 10)</td></tr>' in page
    assert '<tr><td>history_bars</td><td>20</td><td class="note"></td></tr>' in page


def test_intraday_runs_are_charted_at_their_own_resolution(tmp_path: Path) -> None:
    """Five days of 5-minute bars chart the equity at each bar (hundreds of points), not at five
    day ends."""
    rng_price, bars = 100.0, []
    day0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    for d in range(5):
        for i in range(78):
            moment = day0 + timedelta(days=d, minutes=5 * i)
            rng_price *= math.exp(0.002 * math.sin(i / 3 + d))
            close = round(rng_price, 2)
            bars.append(PriceBar("AAA", moment, close, close, close, close, 1e4, BarSize.MIN_5))
    result = run(bars, end=datetime(2024, 3, 10, tzinfo=UTC), fast=3, slow=8)
    page = write_outputs(result, tmp_path).report_html.read_text()
    equity = svg(page, "equity")
    assert len(points(equity)) > 300
    assert len(points(svg(page, "price-AAA"))) > 300
    # the benchmark too: at each of the equity's instants, from the starting cash at the first
    line = re.findall(r'<polyline points="([^"]*)"[^>]*stroke-dasharray', equity)
    assert len(line) == 1
    benchmark = [(float(x), float(y)) for x, y in (p.split(",") for p in line[0].split())]
    assert len(benchmark) > 300
    assert result.equity.equity[0] == 100_000.0  # nothing was bought on the first bar
    assert benchmark[0] == points(equity)[0]
    assert benchmark[-1][0] == points(equity)[-1][0]
    curve = buy_and_hold(BarFeed.from_bars(bars), 100_000.0)
    assert curve.micros is not None
    assert curve.micros.tolist() == result.equity.micros
    values = curve.at(np.asarray(result.equity.micros, dtype=np.int64), 100_000.0)
    assert values.tolist() == pytest.approx([100_000.0 / bars[0].close * b.close for b in bars])
    # before its first instant it is the cash; its days are those of the daily figures
    assert curve.at(np.asarray([curve.micros[0] - 1]), 100_000.0).tolist() == [100_000.0]
    assert curve.daily.equity == values[77::78].tolist()


def test_a_daily_benchmark_has_no_intraday_values() -> None:
    """Daily bars keep the benchmark at day ends only (the daily report's chart is unchanged)."""
    curve = buy_and_hold(BarFeed.from_bars(cent_bars("AAA", 3)), 10_000.0)
    assert curve.micros is None
    assert curve.equity is None
    with pytest.raises(ValueError, match="no intraday values"):
        curve.at(np.zeros(1, dtype=np.int64), 10_000.0)


def test_benchmark_of_one_symbol() -> None:
    """Buying and holding one symbol is its price path times the shares the cash bought."""
    bars = cent_bars("AAA", 3, end=START + timedelta(days=60))
    curve = buy_and_hold(BarFeed.from_bars(bars), 10_000.0)
    assert curve.label == "buy and hold AAA"
    assert curve.daily.equity == pytest.approx([10_000.0 / bars[0].close * b.close for b in bars])


def test_missing_fundamentals_warn_on_the_console_and_in_the_report(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """value_momentum without any fundamentals decides nothing: `ibbot backtest` says why in a
    warning line, and the report shows it; --benchmark names a stored symbol, else exit 2."""
    store = ParquetStore(tmp_path / "data")
    store.write_bars("AAA", cent_bars("AAA", 1))
    store.write_bars("SPY", cent_bars("SPY", 9))
    monkeypatch.setenv("IBBOT_STORE__PATH", str(tmp_path / "data"))
    argv = [
        "--log-level",
        "error",
        "backtest",
        "--start",
        "2016-01-01",
        "--end",
        "2019-12-31",
        "--strategy",
        "value_momentum",
        "--param",
        "value_momentum.symbols=AAA",
        "--benchmark",
        "spy",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert (
        "warning: value_momentum made no decision on AAA: it needs fundamentals and the store "
        "has none for them in this period"
    ) in out
    page = (tmp_path / "out" / "report.html").read_text()
    assert '<p class="warn">Warning: value_momentum made no decision on AAA' in page
    assert "buy and hold SPY" in page
    assert main([*argv[:-4], "--benchmark", "QQQ", "--out", str(tmp_path / "x")]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("ibbot: --benchmark QQQ: no 1 day bars stored")


def test_minutes_are_strftime_text() -> None:
    """The tables' minutes, cut from isoformat, are strftime's text in every year and zone."""
    rng = random.Random(4)
    text = _Text()
    zones = [UTC, timezone(timedelta(hours=-5)), None]
    for _ in range(2_000):
        moment = datetime(
            rng.randrange(1, 10_000),
            rng.randrange(1, 13),
            rng.randrange(1, 29),
            rng.randrange(24),
            rng.randrange(60),
            rng.randrange(60),
            rng.randrange(10**6),
            tzinfo=rng.choice(zones),
        )
        assert text.minute(moment) == moment.strftime("%Y-%m-%d %H:%M"), moment
