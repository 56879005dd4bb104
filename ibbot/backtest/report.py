"""``report.html``: one self-contained page a person can read, offline, in any browser.

Inline CSS and inline SVG charts, no script runs and nothing is fetched: any warning about missing
data first; the equity curve against the buy-and-hold benchmark, and the drawdown (both, for
intraday runs, at the bars' own instants, daily otherwise); the metrics (average win and loss,
expectancy, the benchmark's figures; CAGR, the strategy's and the benchmark's, marked as not
meaningful under a year); the strategies and every parameter each ran with (defaults included,
those the settings or ``--param`` set marked); each symbol's results and price chart with its buys
and sells; the positions open at the end; monthly returns; the trades, each linking to the
reasoning of its decision in the decisions section. Tables never split a number, time or id
across lines (nor a word: text wraps at spaces only); a table wider than the page scrolls in its
own box. Charts are downsampled for display only. The data behind the equity chart is
embedded as JSON (``<script type="application/json" id="backtest-data">``) so tools can read it back.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from html import escape
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ibbot.backtest.charts import (
    ChartGeometry,
    FloatArray,
    format_money,
    format_percent,
    layout_chart,
    render_svg,
)
from ibbot.backtest.columns import iso_dates, json_pair_bytes
from ibbot.backtest.feed_arrays import FeedArrays
from ibbot.backtest.metrics import (
    CAGR_NOT_MEANINGFUL,
    DailyEquity,
    drawdown_curve,
    epoch_days,
    monthly_returns,
)
from ibbot.errors import ConfigError
from ibbot.models import OrderSide, split_leg
from ibbot.strategies import param_schema, params_model, validate_params

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pyarrow as pa

    from ibbot.backtest.benchmark import Benchmark
    from ibbot.backtest.config import StrategySpec
    from ibbot.backtest.result import BacktestResult, DecisionRecord
    from ibbot.models import Fill
    from ibbot.strategies import StrategySources

__all__ = [
    "DRAWDOWN_COLOR",
    "EQUITY_COLOR",
    "MAX_DECISIONS",
    "MAX_SYMBOL_CHARTS",
    "MAX_TRADE_ROWS",
    "build_charts",
    "data_series",
    "effective_params",
    "report_parts",
]

EQUITY_COLOR: Final = "#1f6feb"
DRAWDOWN_COLOR: Final = "#cf222e"
MAX_TRADE_ROWS: Final = 2_000
"""Trades listed in the page; all of them are in ``trades.csv``."""
MAX_DECISIONS: Final = 2_000
"""Decisions whose reasoning the page shows; all of them are in ``decisions.jsonl``."""
MAX_SYMBOL_CHARTS: Final = 20
"""Symbols charted with their trades (those traded most); every symbol is in the results table."""
_DAY_MICROS: Final = 86_400_000_000
# a day's close of a benchmark without intraday values sits near 16:00 New York, 20:00-21:00 UTC
_CLOSE_OF_DAY: Final = 0.85

_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#24292f;margin:0;
background:#f6f8fa}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#57606a;margin:0 0 16px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:right}
th:first-child,td:first-child{text-align:left}
.metrics td:first-child{color:#57606a}
.pos{background:#dafbe1}.neg{background:#ffebe9}
svg text{font:11px system-ui,sans-serif;fill:#57606a}svg .title{font-size:13px;fill:#24292f}
svg .grid{stroke:#eaeef2}svg .frame{fill:none;stroke:#d0d7de}
.note{color:#57606a;font-size:12px}
.scroll{overflow-x:auto}.scroll td{white-space:nowrap}
table.trades{font-size:12px}table.trades td,table.trades th{padding:3px 5px}
table.trades th{white-space:normal;vertical-align:bottom}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:8px 0}
.decision{border-bottom:1px solid #eaeef2;padding:4px 0;font-size:12px;overflow-wrap:anywhere}
.decision:target{background:#fff8c5}
.decision b{font-weight:600}
.strategy+.strategy{margin-top:16px}.strategy p{margin:0 0 6px}
table.params{width:auto;font-size:12px}
table.params td,table.params th{text-align:left;padding:2px 8px}
"""


def build_charts(
    result: BacktestResult, daily: DailyEquity, benchmark: Benchmark | None = None
) -> tuple[ChartGeometry, ChartGeometry]:
    """The equity curve (with the benchmark's) and the drawdown chart: over trading days, or for
    an intraday run over its bars' instants."""
    starting_cash = result.starting_cash
    xs: FloatArray
    others: list[tuple[FloatArray, list[float] | FloatArray]] = []
    if result.bar_size.is_intraday:
        curve = result.equity
        micros = np.asarray(curve.micros, dtype=np.int64)
        # exact below 2**53 microseconds (the years 1685-2255), as Python's int / int is
        xs = micros.astype(np.float64) / _DAY_MICROS
        values = np.asarray(curve.equity, dtype=np.float64)
        if benchmark is not None and benchmark.micros is not None and len(micros):
            # at the equity's own instants: both start from the starting cash, side by side
            others.append((xs, benchmark.at(micros, starting_cash)))
        elif benchmark is not None and benchmark.daily.days:
            days = epoch_days(benchmark.daily).astype(np.float64)
            others.append((days + _CLOSE_OF_DAY, benchmark.daily.equity))
    else:
        xs = epoch_days(daily).astype(np.float64)
        values = np.asarray(daily.equity, dtype=np.float64)
        if benchmark is not None and benchmark.daily.days:
            days = epoch_days(benchmark.daily).astype(np.float64)
            others.append((days, benchmark.daily.equity))
    equity = layout_chart("Equity", xs, values, y_format=format_money, others=others)
    drawdown = layout_chart(
        "Drawdown",
        xs,
        drawdown_curve(np.concatenate(([starting_cash], values)))[1:],
        y_format=format_percent,
        height=200,
        area=True,
    )
    return equity, drawdown


_PADDED_YEAR: Final = 1000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _number(value: Any, kind: str = "") -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{value * 100:,.2f}%"
    if kind == "money":
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return escape(str(value))


def _cagr(figures: Mapping[str, Any]) -> str:
    """The CAGR of the strategy's or the benchmark's ``figures``, marked under a year."""
    text = _number(figures["cagr"], "pct")
    if figures["cagr"] is not None and not figures.get("cagr_meaningful", True):
        return f"{text} <span class=note>({CAGR_NOT_MEANINGFUL})</span>"
    return text


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    drawdown = metrics["max_drawdown"]
    orders = metrics["orders"]
    rows = [
        ("Starting cash", _number(metrics["starting_cash"], "money")),
        ("Final equity", _number(metrics["final_equity"], "money")),
        ("Total return", _number(metrics["total_return"], "pct")),
        ("CAGR", _cagr(metrics)),
        ("Annualised volatility", _number(metrics["annualized_volatility"], "pct")),
        ("Sharpe ratio", _number(metrics["sharpe"])),
        ("Sortino ratio", _number(metrics["sortino"])),
        ("Max drawdown", _drawdown(drawdown)),
    ]
    bench = metrics.get("benchmark")
    if bench is not None:
        excess = metrics["total_return"] - bench["total_return"]
        rows += [
            (
                f"Benchmark: {escape(bench['label'])}",
                f"{_number(bench['total_return'], 'pct')} total, CAGR "
                f"{_cagr(bench)}, max drawdown "
                f"{_number(bench['max_drawdown'], 'pct')}, Sharpe {_number(bench['sharpe'])}",
            ),
            ("Return over the benchmark", _number(excess, "pct")),
        ]
    rows += [
        ("Trades (executions)", _number(metrics["trade_count"])),
        ("Closed trades", _number(metrics["closed_trades"])),
        ("Win rate", _number(metrics["win_rate"], "pct")),
        ("Average win", _number(metrics["average_win"], "money")),
        ("Average loss", _number(metrics["average_loss"], "money")),
        ("Expectancy (average P&amp;L per closed trade)", _number(metrics["expectancy"], "money")),
        ("Profit factor", _number(metrics["profit_factor"])),
        ("Turnover (traded value / average equity)", _number(metrics["turnover"])),
        ("Exposure (average gross / equity)", _number(metrics["exposure"], "pct")),
        ("Time in market", _number(metrics["time_in_market"], "pct")),
        ("Commissions", _number(metrics["commissions"], "money")),
        ("Open positions at the end", _number(len(metrics["open_positions"]))),
        (
            "Orders",
            f"{orders['sent']} sent, {orders['filled']} filled, {orders['cancelled']} cancelled, "
            f"{orders['rejected']} rejected, {orders['blocked']} blocked by risk limits",
        ),
    ]
    body = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="metrics">{body}</table>'


def effective_params(spec: StrategySpec, sources: StrategySources) -> list[tuple[str, Any, str]]:
    """Every parameter ``spec``'s strategy ran with, in its params model's order: ``(name, value,
    note)``, the note empty for a default and ``"set (default X)"`` for one the settings or
    ``--param`` gave. A strategy without a params model (or one that no longer loads): the
    parameters given, each ``"set"``."""
    try:
        model = params_model(spec.class_path, sources=sources)
        params = None if model is None else validate_params(model, spec.params, strategy=spec.name)
    except ConfigError:  # the replay built it from the same spec: only a changed file gets here
        model = params = None
    if model is None or params is None:
        return [(name, value, "set") for name, value in sorted(spec.params.items())]
    given = params.model_fields_set
    values = params.model_dump(mode="json")
    return [
        (
            info.name,
            values[info.name],
            f"set (default {info.default})" if info.name in given else "",
        )
        for info in param_schema(model)
    ]


def _param_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_param_value(item) for item in value) or "none"
    return json.dumps(value, sort_keys=True, default=str)


def _parameters(result: BacktestResult) -> str:
    """Each strategy, its class and capital, and every parameter it ran with, defaults included."""
    parts = []
    for spec in result.config.strategies:
        rows = "".join(
            f"<tr><td>{escape(name)}</td><td>{escape(_param_value(value))}</td>"
            f'<td class="note">{escape(note)}</td></tr>'
            for name, value, note in effective_params(spec, result.config.sources)
        )
        table = (
            f'<table class="params"><tr><th>Parameter</th><th>Value</th><th></th></tr>{rows}</table>'
            if rows
            else '<p class="note">No parameters.</p>'
        )
        parts.append(
            f'<div class="strategy"><p><b>{escape(spec.name)}</b> · {escape(spec.class_path)} · '
            f"allocated capital {spec.allocated_capital:,.2f}</p>{table}</div>"
        )
    return "".join(parts)


def _symbols_table(per_symbol: Mapping[str, Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(symbol)}</td><td>{s['trade_count']}</td><td>{s['closed_trades']}</td>"
        f"<td>{_number(s['realized_pnl'], 'money')}</td><td>{_number(s['win_rate'], 'pct')}</td>"
        f"<td>{_number(s['commissions'], 'money')}</td><td>{s['position']:g}</td>"
        f"<td>{_number(s['market_value'], 'money')}</td></tr>"
        for symbol, s in per_symbol.items()
    )
    return (
        "<table><tr><th>Symbol</th><th>Trades</th><th>Closed</th><th>Realized P&amp;L</th>"
        "<th>Win rate</th><th>Commissions</th><th>Held at the end</th><th>Market value</th></tr>"
        f"{rows}</table>"
    )


def _open_positions(positions: Sequence[Mapping[str, Any]]) -> str:
    if not positions:
        return '<p class="note">Nothing is held at the end.</p>'
    rows = "".join(
        f"<tr><td>{escape(p['symbol'])}</td><td>{p['quantity']:g}</td>"
        f"<td>{_number(p['last_close'], 'money')}</td>"
        f"<td>{_number(p['market_value'], 'money')}</td></tr>"
        for p in positions
    )
    return (
        "<table><tr><th>Symbol</th><th>Quantity</th><th>Last close</th><th>Market value</th>"
        f"</tr>{rows}</table>"
    )


def _symbol_charts(result: BacktestResult, arrays: FeedArrays | None = None) -> str:
    """Each traded symbol's closes (its bars' resolution) with a marker at every fill."""
    feed = result.feed
    if feed is None:
        return ""
    counts: dict[str, int] = {}
    for fill in result.fills:
        counts[fill.symbol] = counts.get(fill.symbol, 0) + 1
    chosen = sorted(counts, key=lambda symbol: (-counts[symbol], symbol))[:MAX_SYMBOL_CHARTS]
    if not chosen:
        return ""
    columns = arrays if arrays is not None else FeedArrays.of(feed)
    markers: dict[str, list[tuple[float, float, str]]] = {symbol: [] for symbol in chosen}
    for fill in result.fills:
        if fill.symbol in markers:
            markers[fill.symbol].append(
                (
                    (fill.timestamp - _EPOCH).total_seconds() / 86_400,
                    fill.price,
                    "buy" if fill.side is OrderSide.BUY else "sell",
                )
            )
    parts = []
    for symbol in chosen:
        code = columns.code(symbol)
        rows = columns.rows(code) if code is not None else columns.order[:0]
        chart = layout_chart(
            f"{symbol}: close, buys and sells",
            # exact below 2**53 microseconds (the years 1685-2255), as Python's int / int is
            columns.micros[rows] / _DAY_MICROS,
            columns.close[rows],
            y_format=format_money,
            height=220,
            markers=markers[symbol],
        )
        parts.append(render_svg(chart, color="#57606a", chart_id=f"price-{symbol}"))
    more = len(counts) - len(chosen)
    note = (
        f'<p class="note">The {len(chosen)} symbols traded most; {more} more are in the '
        "results table and trades.csv.</p>"
        if more > 0
        else ""
    )
    return "".join(parts) + note


def _drawdown(drawdown: Mapping[str, Any]) -> str:
    if drawdown["trough"] is None:
        return "none"
    return (
        f"{_number(drawdown['depth'], 'pct')} (peak {_day(drawdown['peak'])}, trough "
        f"{_day(drawdown['trough'])}, recovered {_day(drawdown['recovery'])})"
    )


def _day(iso: str | None) -> str:
    return "never" if iso is None else escape(iso[:10])


def _monthly_table(table: Mapping[int, Mapping[int, float]]) -> str:
    head = "".join(f"<th>{m}</th>" for m in _MONTHS)
    rows = []
    for year in sorted(table):
        months = table[year]
        cells = []
        growth = 1.0
        for month in range(1, 13):
            value = months.get(month)
            if value is None:
                cells.append("<td></td>")
                continue
            growth *= 1.0 + value
            cells.append(f'<td class="{_sign(value)}">{_percent(value)}</td>')
        total = growth - 1.0
        rows.append(
            f"<tr><td>{year}</td>{''.join(cells)}"
            f'<td class="{_sign(total)}"><b>{_percent(total)}</b></td></tr>'
        )
    return f"<table><tr><th>Year</th>{head}<th>Year</th></tr>{''.join(rows)}</table>"


def _percent(value: float) -> str:
    text = f"{value * 100:.1f}%"
    return "0.0%" if text == "-0.0%" else text


def _sign(value: float) -> str:
    return "pos" if value > 0 else "neg" if value < 0 else ""


class _Text:
    """Escaped text for the tables, memoised: their symbols, strategy names and minutes repeat
    row after row (a few thousand rows; ``escape`` and ``strftime`` cost a microsecond or two)."""

    def __init__(self) -> None:
        self._escaped: dict[str, str] = {}
        self._minutes: dict[datetime, str] = {}

    def escape(self, text: str) -> str:
        escaped = self._escaped.get(text)
        if escaped is None:
            escaped = self._escaped[text] = escape(text)
        return escaped

    def minute(self, moment: datetime) -> str:
        """``YYYY-MM-DD hh:mm`` of ``moment`` (in its own zone: the rows' are UTC), escaped.

        Cut from ``isoformat`` (a fifth of ``strftime``'s cost; the same digits from the year
        1000 on, where ``strftime``'s year is not padded either way)."""
        text = self._minutes.get(moment)
        if text is None or moment.tzinfo is not UTC:
            if moment.year >= _PADDED_YEAR:
                iso = moment.isoformat()
                text = f"{iso[:10]} {iso[11:16]}"
            else:
                text = escape(moment.strftime("%Y-%m-%d %H:%M"))
            self._minutes[moment] = text
        return text


def _trade_table(
    fills: Sequence[Fill], pnls: Sequence[float | None], linked: set[str], text: _Text
) -> str:
    """The trades, one per row, in a box that scrolls sideways when the page is narrower than
    the table: its cells never wrap (a price or an id split over two lines misreads), only its
    headers, at their spaces."""
    shown = fills[:MAX_TRADE_ROWS]

    def decision(fill: Fill) -> str:
        decision_id, leg = split_leg(fill.decision_id)
        escaped = escape(decision_id)
        label = escaped + ("" if leg.value == "entry" else f" ({leg.value})")
        if decision_id in linked:
            return f'<a href="#d-{escaped}">{label}</a>'
        return label

    rows = "".join(
        f"<tr><td>{text.minute(fill.timestamp)}</td>"
        f"<td>{text.escape(fill.symbol)}</td>"
        f"<td>{fill.side.value}</td><td>{fill.quantity:g}</td><td>{fill.price:,.4f}</td>"
        f"<td>{(fill.commission or 0.0):,.2f}</td>"
        f"<td>{'' if pnl is None else f'{pnl:,.2f}'}</td>"
        f"<td>{text.escape(fill.strategy_name)}</td><td>{decision(fill)}</td></tr>"
        for fill, pnl in zip(shown, pnls, strict=False)
    )
    note = (
        f'<p class="note">The first {MAX_TRADE_ROWS} of {len(fills)} trades; all are in '
        "trades.csv.</p>"
        if len(fills) > MAX_TRADE_ROWS
        else ""
        if fills
        else '<p class="note">No trades.</p>'
    )
    return (
        '<div class="scroll"><table class="trades">'
        "<tr><th>Time (UTC)</th><th>Symbol</th><th>Side</th><th>Quantity</th>"
        "<th>Price</th><th>Commission</th><th>Realized P&amp;L</th><th>Strategy</th>"
        f"<th>Decision (reasoning)</th></tr>{rows}</table></div>{note}"
    )


def _decision_item(r: DecisionRecord, text: _Text) -> str:
    decision = r.decision
    decision_id = escape(decision.decision_id)
    return (
        f'<div class="decision" id="d-{decision_id}">'
        f"<b>{text.minute(decision.timestamp)} "
        f"{text.escape(decision.symbol)} {decision.action.value.upper()}</b> "
        f"({text.escape(decision.strategy_name)}, {decision_id}, "
        f"{r.outcome.value}): {escape(decision.reasoning)}"
        f"{'' if not r.sizing else ' · sizing: ' + escape(r.sizing)}</div>"
    )


def _decisions(records: Sequence[DecisionRecord], text: _Text) -> str:
    items = "".join([_decision_item(r, text) for r in records[:MAX_DECISIONS]])
    note = (
        f'<p class="note">The first {MAX_DECISIONS} of {len(records)} decisions; all are in '
        "decisions.jsonl.</p>"
        if len(records) > MAX_DECISIONS
        else ""
        if records
        else '<p class="note">No decisions.</p>'
    )
    return items + note


def data_series(
    daily: DailyEquity,
    starting_cash: float,
    *,
    equity_text: pa.StringArray | None = None,
    dates: pa.StringArray | None = None,
) -> tuple[bytes, bytes]:
    """The JSON of the equity and drawdown series the page embeds: ``["day",value],...`` each,
    as UTF-8 bytes.

    The bulk of a long run's page, formatted by Arrow. ``equity_text`` and ``dates`` are
    :func:`~ibbot.backtest.columns.float_text` of ``daily.equity`` and
    :func:`~ibbot.backtest.columns.iso_dates` of ``daily.days`` when the caller has them.
    """
    drawdown = drawdown_curve(np.concatenate(([starting_cash], daily.equity)))[1:]
    if dates is None:
        dates = iso_dates(daily.days)
    return (
        json_pair_bytes(daily.days, daily.equity, dates, equity_text),
        json_pair_bytes(daily.days, drawdown, dates),
    )


def _data_json(series: tuple[bytes, bytes], metrics: Mapping[str, Any]) -> list[bytes]:
    """The charts' data as JSON: ``{"equity": [[day, value], ...], "drawdown": [...], "metrics"}``,
    in UTF-8 pieces: for a long run the series are the bulk of the page, kept as Arrow made them.
    """
    equity, falls = series
    figures = json.dumps(metrics, separators=(",", ":"), allow_nan=False)
    # "</" would end the script element early; JSON allows the escaped slash (the series hold
    # dates and numbers only, and no piece's edge can join a "<" to a "/")
    figures = figures.replace("</", "<\\/")
    return [
        b'{"equity":[',
        equity,
        b'],"drawdown":[',
        falls,
        f'],"metrics":{figures}}}'.encode(),
    ]


def report_parts(
    result: BacktestResult,
    metrics: Mapping[str, Any],
    daily: DailyEquity,
    pnls: Sequence[float | None],
    benchmark: Benchmark | None = None,
    *,
    charts: tuple[ChartGeometry, ChartGeometry] | None = None,
    series: tuple[bytes, bytes] | None = None,
    arrays: FeedArrays | None = None,
) -> list[bytes]:
    """The whole page as UTF-8 pieces, written one after another (a long run's series as Arrow
    made them, not decoded and encoded again; ``charts``: :func:`build_charts` of the same,
    ``series``: :func:`data_series` of the same, ``arrays``: :meth:`FeedArrays.of` its feed, if
    made already)."""
    equity_chart, drawdown_chart = charts or build_charts(result, daily, benchmark)
    period = metrics["period"]
    names = ", ".join(spec.name for spec in result.config.strategies)
    symbols = ", ".join(result.symbols[:20]) + (
        f" and {len(result.symbols) - 20} more" if len(result.symbols) > 20 else ""
    )
    subtitle = (
        f"{escape(period['start'])} .. {escape(period['end'])} · {result.bars:,} "
        f"{escape(result.bar_size.value)} bars of {escape(symbols)} · commission "
        f"{escape(str(result.config.commission))}, slippage {result.config.slippage_bps:g} bps"
    )
    warnings = "".join(f'<p class="warn">Warning: {escape(line)}</p>' for line in result.warnings)
    legend = ("strategy", benchmark.label) if benchmark is not None else ()
    linked = {r.decision.decision_id for r in result.decisions[:MAX_DECISIONS]}
    text = _Text()
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Backtest: {escape(names)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>Backtest: {escape(names)}</h1><p class=sub>{subtitle}</p>{warnings}"
        f'<div class="card">'
        f"{render_svg(equity_chart, color=EQUITY_COLOR, chart_id='equity', legend=legend)}"
        f"{render_svg(drawdown_chart, color=DRAWDOWN_COLOR, chart_id='drawdown')}</div>"
        f'<h2>Metrics</h2><div class="card">{_metrics_table(metrics)}</div>'
        f'<h2>Strategies and parameters</h2><div class="card">{_parameters(result)}</div>'
        f'<h2>Per symbol</h2><div class="card scroll">{_symbols_table(metrics["symbols"])}</div>'
        f'<div class="card">{_symbol_charts(result, arrays)}</div>'
        f'<h2>Open positions at the end</h2><div class="card">'
        f"{_open_positions(metrics['open_positions'])}</div>"
        f'<h2>Monthly returns</h2><div class="card scroll">'
        f"{_monthly_table(monthly_returns(daily, result.starting_cash))}</div>"
        f'<h2>Trades</h2><div class="card">{_trade_table(result.fills, pnls, linked, text)}</div>'
        f'<h2>Decisions</h2><div class="card">{_decisions(result.decisions, text)}</div>'
        '<script type="application/json" id="backtest-data">'
    )
    data = _data_json(series or data_series(daily, result.starting_cash), metrics)
    return [head.encode(), *data, b"</script></main></body></html>\n"]
