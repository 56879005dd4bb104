"""Writing a backtest's files: trades.csv, equity.csv, metrics.json, decisions.jsonl, report.html/png.

Every file is a pure function of the result (no run time, no wall clock, no random ids), written
atomically, so the same inputs give byte-identical files. Numbers are written exactly (Python's
shortest round-trip ``repr``), quantities as integers when whole, times in ISO 8601 UTC.

- ``trades.csv``: timestamp, symbol, side, quantity, price, commission, strategy, decision_id,
  realized_pnl (the P&L a closing fill realized, net of both legs' commissions; empty for openings),
  leg (which order of a bracket filled: entry, take_profit, stop_loss or trailing_stop; the
  decision_id is the decision that opened the bracket).
- ``equity.csv``: timestamp, equity, cash, gross_exposure, after each replayed instant.
- ``metrics.json``: see :mod:`ibbot.backtest.metrics`; ``benchmark`` holds the buy-and-hold
  benchmark's figures (:mod:`ibbot.backtest.benchmark`).
- ``decisions.jsonl``: one decision per line with its reasoning, the sizing arithmetic, the order
  (with its limit/stop prices and time in force unless it is a market DAY order), the risk gate's
  verdict and what became of the order at the broker.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ibbot.backtest.benchmark import Benchmark, buy_and_hold
from ibbot.backtest.columns import csv_text, float_text, iso_utc_text
from ibbot.backtest.metrics import compute_metrics, daily_equity, realized_pnl
from ibbot.backtest.png import render_png
from ibbot.backtest.report import DRAWDOWN_COLOR, EQUITY_COLOR, build_charts, render_report
from ibbot.models import OrderType, TimeInForce, split_leg
from ibbot.store.atomic import atomic_write, ensure_dir

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibbot.backtest.broker import BrokerOrder
    from ibbot.backtest.result import BacktestResult, DecisionRecord
    from ibbot.models import Order

__all__ = ["OutputFiles", "decision_line", "write_outputs"]

TRADE_COLUMNS = (
    "timestamp",
    "symbol",
    "side",
    "quantity",
    "price",
    "commission",
    "strategy",
    "decision_id",
    "realized_pnl",
    "leg",
)
EQUITY_COLUMNS = ("timestamp", "equity", "cash", "gross_exposure")


@dataclass(frozen=True, slots=True)
class OutputFiles:
    """Where each output went, and the metrics that were written."""

    directory: Path
    trades: Path
    equity: Path
    metrics: Path
    decisions: Path
    report_html: Path
    report_png: Path
    figures: dict[str, Any]


def _quantity(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(path, write)


def _csv(rows: Callable[[Any], None]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows(writer)
    return buffer.getvalue()


def trades_csv(result: BacktestResult, pnls: list[float | None]) -> str:
    """The fills, one row each, in the order they happened."""

    def rows(writer: Any) -> None:
        writer.writerow(TRADE_COLUMNS)
        writer.writerows(
            (
                fill.timestamp.isoformat(),
                fill.symbol,
                fill.side.value,
                _quantity(fill.quantity),
                repr(fill.price),
                repr(fill.commission or 0.0),
                fill.strategy_name,
                split_leg(fill.decision_id)[0],
                "" if pnl is None else repr(pnl),
                split_leg(fill.decision_id)[1].value,
            )
            for fill, pnl in zip(result.fills, pnls, strict=True)
        )

    return _csv(rows)


def equity_csv(result: BacktestResult) -> str:
    """The account after each instant (a row per instant: formatted and joined by Arrow)."""
    curve = result.equity
    return (
        ",".join(EQUITY_COLUMNS)
        + "\n"
        + csv_text(
            iso_utc_text(curve.micros),
            float_text(curve.equity),
            float_text(curve.cash),
            float_text(curve.gross),
        )
    )


def _order_json(record: BrokerOrder | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "order_id": record.order_id,
        "status": record.status.value,
        "filled": record.filled,
        "avg_price": record.avg_price if record.filled else None,
        "commission": record.commission,
        "submitted_at": record.submitted_at.isoformat(),
        "finished_at": None if record.finished_at is None else record.finished_at.isoformat(),
        "message": record.message or None,
    }


def decision_line(record: DecisionRecord, order: BrokerOrder | None) -> dict[str, Any]:
    """One line of ``decisions.jsonl``: the decision, its reasoning and what became of it."""
    decision = record.decision
    planned = record.order
    verdict = record.verdict
    return {
        "timestamp": decision.timestamp.isoformat(),
        "strategy": decision.strategy_name,
        "symbol": decision.symbol,
        "decision_id": decision.decision_id,
        "action": decision.action.value,
        "target_weight": decision.target_weight,
        "quantity": decision.quantity,
        "confidence": decision.confidence,
        "price": decision.price,
        "reasoning": decision.reasoning,
        "data": {key: _json_safe(value) for key, value in decision.data.items()},
        "sizing": record.sizing,
        "outcome": record.outcome.value,
        "order": None if planned is None else _planned_json(planned),
        "risk": None
        if verdict is None
        else {
            "allowed": verdict.allowed,
            "rule": None if verdict.rule is None else verdict.rule.value,
            "message": verdict.message,
        },
        "broker": _order_json(order),
    }


def _planned_json(order: Order) -> dict[str, Any]:
    """The order as planned; the prices and time in force only when it is not a market DAY order."""
    planned: dict[str, Any] = {
        "side": order.action.value,
        "quantity": order.quantity,
        "type": order.order_type.value,
        "order_ref": order.order_ref,
    }
    if order.order_type is not OrderType.MARKET or order.time_in_force is not TimeInForce.DAY:
        planned["limit_price"] = order.limit_price
        planned["stop_price"] = order.stop_price
        planned["time_in_force"] = order.time_in_force.value
    return planned


_SCALARS: Final = (bool, int, float, str)  # a tuple: a union would be built per call


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, _SCALARS) or value is None:
        return value
    return str(value)


# json.dumps(..., separators=(",", ":"), allow_nan=False), its encoder built once, not per line
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def decisions_jsonl(result: BacktestResult) -> str:
    """Every decision, one JSON object per line, in the order they were made."""
    orders = {order.order_id: order for order in result.orders}
    encode = _COMPACT.encode
    lines = [
        encode(
            decision_line(record, None if record.order_id is None else orders.get(record.order_id))
        )
        for record in result.decisions
    ]
    return "".join(f"{line}\n" for line in lines)


def write_outputs(
    result: BacktestResult, directory: Path, *, benchmark: Benchmark | None = None
) -> OutputFiles:
    """Write every output file into ``directory`` (created if needed); existing ones are replaced.

    ``benchmark`` is the curve to compare with (default: buying and holding the run's symbols,
    equal weight); its figures go into ``metrics.json`` as ``benchmark``.
    """
    ensure_dir(directory)
    pnls = realized_pnl(result.fills)
    daily = daily_equity(result.equity, result.bar_size)
    metrics = compute_metrics(result, daily=daily, pnls=pnls)
    if benchmark is None and result.feed is not None:
        benchmark = buy_and_hold(result.feed, result.starting_cash)
    metrics["benchmark"] = (
        None
        if benchmark is None
        else benchmark.figures(result.starting_cash, metrics["period"]["years"])
    )
    files = OutputFiles(
        directory=directory,
        trades=directory / "trades.csv",
        equity=directory / "equity.csv",
        metrics=directory / "metrics.json",
        decisions=directory / "decisions.jsonl",
        report_html=directory / "report.html",
        report_png=directory / "report.png",
        figures=metrics,
    )
    _write_text(files.trades, trades_csv(result, pnls))
    _write_text(files.equity, equity_csv(result))
    _write_text(files.metrics, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    _write_text(files.decisions, decisions_jsonl(result))
    charts = build_charts(result, daily, benchmark)
    _write_text(
        files.report_html, render_report(result, metrics, daily, pnls, benchmark, charts=charts)
    )

    def png(tmp: Path) -> None:
        render_png(tmp, list(charts), colors=[EQUITY_COLOR, DRAWDOWN_COLOR])

    atomic_write(files.report_png, png)
    return files
