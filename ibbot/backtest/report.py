"""``report.html``: one self-contained page a person can read, offline, in any browser.

Inline CSS and inline SVG charts (equity curve, drawdown), the metrics, a monthly returns table and
the trade list; no script runs and nothing is fetched. The data behind the charts is embedded as
JSON (``<script type="application/json" id="backtest-data">``) so tools can read it back.
"""

from __future__ import annotations

import json
from datetime import date
from html import escape
from typing import TYPE_CHECKING, Any, Final

from ibbot.backtest.charts import (
    ChartGeometry,
    format_money,
    format_percent,
    layout_chart,
    render_svg,
)
from ibbot.backtest.metrics import DailyEquity, drawdown_curve, monthly_returns

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ibbot.backtest.result import BacktestResult
    from ibbot.models import Fill

__all__ = ["DRAWDOWN_COLOR", "EQUITY_COLOR", "MAX_TRADE_ROWS", "build_charts", "render_report"]

EQUITY_COLOR: Final = "#1f6feb"
DRAWDOWN_COLOR: Final = "#cf222e"
MAX_TRADE_ROWS: Final = 2_000
"""Trades listed in the page; all of them are in ``trades.csv``."""

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
"""


def build_charts(daily: DailyEquity, starting_cash: float) -> tuple[ChartGeometry, ChartGeometry]:
    """The equity curve and the drawdown chart, over trading days."""
    xs = [float(day.toordinal() - _EPOCH_ORDINAL) for day in daily.days]
    equity = layout_chart("Equity", xs, daily.equity, y_format=format_money)
    drawdown = layout_chart(
        "Drawdown",
        xs,
        drawdown_curve([starting_cash, *daily.equity])[1:],
        y_format=format_percent,
        height=200,
        area=True,
    )
    return equity, drawdown


_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


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


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    drawdown = metrics["max_drawdown"]
    orders = metrics["orders"]
    rows = [
        ("Starting cash", _number(metrics["starting_cash"], "money")),
        ("Final equity", _number(metrics["final_equity"], "money")),
        ("Total return", _number(metrics["total_return"], "pct")),
        ("CAGR", _number(metrics["cagr"], "pct")),
        ("Annualised volatility", _number(metrics["annualized_volatility"], "pct")),
        ("Sharpe ratio", _number(metrics["sharpe"])),
        ("Sortino ratio", _number(metrics["sortino"])),
        ("Max drawdown", _drawdown(drawdown)),
        ("Trades (executions)", _number(metrics["trade_count"])),
        ("Closed trades", _number(metrics["closed_trades"])),
        ("Win rate", _number(metrics["win_rate"], "pct")),
        ("Profit factor", _number(metrics["profit_factor"])),
        ("Turnover (traded value / average equity)", _number(metrics["turnover"])),
        ("Exposure (average gross / equity)", _number(metrics["exposure"], "pct")),
        ("Time in market", _number(metrics["time_in_market"], "pct")),
        ("Commissions", _number(metrics["commissions"], "money")),
        (
            "Orders",
            f"{orders['sent']} sent, {orders['filled']} filled, {orders['cancelled']} cancelled, "
            f"{orders['rejected']} rejected, {orders['blocked']} blocked by risk limits",
        ),
    ]
    body = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="metrics">{body}</table>'


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


def _trade_table(fills: Sequence[Fill], pnls: Sequence[float | None]) -> str:
    shown = fills[:MAX_TRADE_ROWS]
    rows = "".join(
        f"<tr><td>{escape(fill.timestamp.isoformat())}</td><td>{escape(fill.symbol)}</td>"
        f"<td>{fill.side.value}</td><td>{fill.quantity:g}</td><td>{fill.price:,.4f}</td>"
        f"<td>{(fill.commission or 0.0):,.2f}</td>"
        f"<td>{'' if pnl is None else f'{pnl:,.2f}'}</td>"
        f"<td>{escape(fill.strategy_name)}</td><td>{escape(fill.decision_id)}</td></tr>"
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
        "<table><tr><th>Time (UTC)</th><th>Symbol</th><th>Side</th><th>Quantity</th>"
        "<th>Price</th><th>Commission</th><th>Realized P&amp;L</th><th>Strategy</th>"
        f"<th>Decision</th></tr>{rows}</table>{note}"
    )


def _data_json(daily: DailyEquity, starting_cash: float, metrics: Mapping[str, Any]) -> str:
    """The charts' data as JSON: ``{"equity": [[day, value], ...], "drawdown": [...], "metrics"}``.

    Written piece by piece: for a long run the series are the bulk of the page.
    """
    drawdown = drawdown_curve([starting_cash, *daily.equity])[1:]
    days = [f'"{day.isoformat()}"' for day in daily.days]
    equity = ",".join(f"[{d},{json.dumps(v)}]" for d, v in zip(days, daily.equity, strict=True))
    falls = ",".join(f"[{d},{json.dumps(v)}]" for d, v in zip(days, drawdown, strict=True))
    figures = json.dumps(metrics, separators=(",", ":"), allow_nan=False)
    text = f'{{"equity":[{equity}],"drawdown":[{falls}],"metrics":{figures}}}'
    # "</" would end the script element early; JSON allows the escaped slash
    return text.replace("</", "<\\/")


def render_report(
    result: BacktestResult,
    metrics: Mapping[str, Any],
    daily: DailyEquity,
    pnls: Sequence[float | None],
) -> str:
    """The whole page as text."""
    equity_chart, drawdown_chart = build_charts(daily, result.starting_cash)
    period = metrics["period"]
    names = ", ".join(spec.name for spec in result.config.strategies)
    symbols = ", ".join(result.symbols)
    subtitle = (
        f"{escape(period['start'])} .. {escape(period['end'])} · {result.bars:,} "
        f"{escape(result.bar_size.value)} bars of {escape(symbols)} · commission "
        f"{escape(str(result.config.commission))}, slippage {result.config.slippage_bps:g} bps"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Backtest: {escape(names)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>Backtest: {escape(names)}</h1><p class=sub>{subtitle}</p>"
        f'<div class="card">{render_svg(equity_chart, color=EQUITY_COLOR, chart_id="equity")}'
        f"{render_svg(drawdown_chart, color=DRAWDOWN_COLOR, chart_id='drawdown')}</div>"
        f'<h2>Metrics</h2><div class="card">{_metrics_table(metrics)}</div>'
        f'<h2>Monthly returns</h2><div class="card">'
        f"{_monthly_table(monthly_returns(daily, result.starting_cash))}</div>"
        f'<h2>Trades</h2><div class="card scroll">{_trade_table(result.fills, pnls)}</div>'
        '<script type="application/json" id="backtest-data">'
        f"{_data_json(daily, result.starting_cash, metrics)}</script>"
        "</main></body></html>\n"
    )
