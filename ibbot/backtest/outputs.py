"""Writing a backtest's files: trades.csv, equity.csv, metrics.json, decisions.jsonl, report.html/png.

Every file is a pure function of the result (no run time, no wall clock, no random ids), written
atomically (on worker threads, while the next file is made), so the same inputs give
byte-identical files. Whole columns are formatted by Arrow and numpy, exactly as Python would
(:mod:`ibbot.backtest.columns`). Numbers are written exactly (Python's
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
import gc
import io
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
import pyarrow as pa

from ibbot.backtest.benchmark import Benchmark, buy_and_hold
from ibbot.backtest.columns import (
    arrow_indices,
    csv_bytes,
    float_text,
    iso_utc_text,
    utc_dates,
)
from ibbot.backtest.feed_arrays import FeedArrays
from ibbot.backtest.metrics import (
    compute_metrics,
    daily_equity,
    day_ends,
    day_numbers,
    realized_pnl,
)
from ibbot.backtest.png import render_png
from ibbot.backtest.report import (
    DRAWDOWN_COLOR,
    EQUITY_COLOR,
    build_charts,
    data_series,
    report_parts,
)
from ibbot.models import OrderType, TimeInForce, split_leg
from ibbot.store.atomic import atomic_write, ensure_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ibbot.backtest.broker import BrokerOrder
    from ibbot.backtest.result import BacktestResult, DecisionRecord
    from ibbot.models import Fill, Order

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
_EQUITY_HEADER: Final = (",".join(EQUITY_COLUMNS) + "\n").encode()
_WRITERS: Final = 1
"""Threads writing the files (fsync waits on the disk, Pillow compresses, without the GIL). One:
each more keeps its own malloc arena and more finished files alive at once (peak memory), for
little gain (the files are made on the calling thread anyway)."""


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


def _write_text(path: Path, text: str | bytes | bytearray, *more: bytes) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:
            file.write(data)
            for part in more:
                file.write(part)

    atomic_write(path, write)


def _csv(rows: Callable[[Any], None]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows(writer)
    return buffer.getvalue()


def trades_csv(result: BacktestResult, pnls: list[float | None]) -> str:
    """The fills, one row each, in the order they happened."""
    times: dict[datetime, str] = {}

    def iso(moment: datetime) -> str:  # fills share their bars' instants
        text = times.get(moment) if moment.tzinfo is UTC else None
        if text is None:
            text = times[moment] = moment.isoformat()
        return text

    def row(fill: Fill, pnl: float | None) -> tuple[str, ...]:
        decision_id, leg = split_leg(fill.decision_id)
        return (
            iso(fill.timestamp),
            fill.symbol,
            fill.side._value_,
            _quantity(fill.quantity),
            repr(fill.price),
            repr(fill.commission or 0.0),
            fill.strategy_name,
            decision_id,
            "" if pnl is None else repr(pnl),
            leg._value_,
        )

    def rows(writer: Any) -> None:
        writer.writerow(TRADE_COLUMNS)
        writer.writerows(map(row, result.fills, pnls))

    if len(pnls) != len(result.fills):
        raise ValueError("one realized P&L per fill")
    return _csv(rows)


def equity_csv(result: BacktestResult) -> str:
    """The account after each instant (a row per instant: formatted and joined by Arrow)."""
    curve = result.equity
    stamps, equity = iso_utc_text(curve.micros), float_text(curve.equity)
    return (_EQUITY_HEADER + _equity_rows(result, stamps, equity)).decode("utf-8")


def _equity_rows(result: BacktestResult, stamps: pa.StringArray, equity: pa.StringArray) -> bytes:
    """:func:`equity_csv`'s rows as bytes, from the timestamps' and the equity's text."""
    curve = result.equity
    return csv_bytes(stamps, equity, float_text(curve.cash), float_text(curve.gross))


def _order_json(
    record: BrokerOrder | None, iso: Callable[[datetime], str]
) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "order_id": record.order_id,
        "status": record.status._value_,
        "filled": record.filled,
        "avg_price": record.avg_price if record.filled else None,
        "commission": record.commission,
        "submitted_at": iso(record.submitted_at),
        "finished_at": None if record.finished_at is None else iso(record.finished_at),
        "message": record.message or None,
    }


def decision_line(
    record: DecisionRecord,
    order: BrokerOrder | None,
    iso: Callable[[datetime], str] = datetime.isoformat,
) -> dict[str, Any]:
    """One line of ``decisions.jsonl``: the decision, its reasoning and what became of it.

    ``iso`` formats the times (``datetime.isoformat``, or a memo of it: decisions and orders
    share their bars' instants). Enum values are read as ``_value_`` (the attribute ``value``
    reads through a descriptor, several times per line).
    """
    decision = record.decision
    planned = record.order
    verdict = record.verdict
    return {
        "timestamp": iso(decision.timestamp),
        "strategy": decision.strategy_name,
        "symbol": decision.symbol,
        "decision_id": decision.decision_id,
        "action": decision.action._value_,
        "target_weight": decision.target_weight,
        "quantity": decision.quantity,
        "confidence": decision.confidence,
        "price": decision.price,
        "reasoning": decision.reasoning,
        "data": _json_data(decision.data),
        "sizing": record.sizing,
        "outcome": record.outcome._value_,
        "order": None if planned is None else _planned_json(planned),
        "risk": None
        if verdict is None
        else {
            "allowed": verdict.allowed,
            "rule": None if verdict.rule is None else verdict.rule._value_,
            "message": verdict.message,
        },
        "broker": _order_json(order, iso),
    }


def _planned_json(order: Order) -> dict[str, Any]:
    """The order as planned; the prices and time in force only when it is not a market DAY order."""
    planned: dict[str, Any] = {
        "side": order.action._value_,
        "quantity": order.quantity,
        "type": order.order_type._value_,
        "order_ref": order.order_ref,
    }
    if order.order_type is not OrderType.MARKET or order.time_in_force is not TimeInForce.DAY:
        planned["limit_price"] = order.limit_price
        planned["stop_price"] = order.stop_price
        planned["time_in_force"] = order.time_in_force._value_
    return planned


_SCALARS: Final = (bool, int, float, str)  # a tuple: a union would be built per call
_NOT_FLOAT: Final = (bool, int, str)
_PLAIN: Final = frozenset({bool, int, str, type(None)})


def _json_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as JSON-ready values: itself when :func:`_json_safe` would keep every value as
    it is (scalars, finite floats: the usual case), else each value through it."""
    for value in data.values():
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or an infinity
                break
        elif kind not in _PLAIN and (
            isinstance(value, float) or not isinstance(value, _NOT_FLOAT)
        ):  # a subclass: an enum of str keeps, a float's must be checked (slow path)
            break
    else:
        return data if type(data) is dict else dict(data)
    return {key: _json_safe(value) for key, value in data.items()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, _SCALARS) or value is None:
        return value
    return str(value)


# json.dumps(..., separators=(",", ":"), allow_nan=False), its encoder built once, not per line
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _compact_encoder() -> Callable[[Any], str]:
    """``_COMPACT.encode`` for dicts, calling the C encoder directly when there is one (``encode``
    builds it anew on each call; the circular-reference check is off: the lines are trees)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return _COMPACT.encode
    encoder = make(
        None,
        _COMPACT.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )

    def encode(line: Any) -> str:
        return "".join(encoder(line, 0))

    return encode


def _line_encoder() -> Callable[[dict[str, Any]], bytes]:
    """One line of ``decisions.jsonl`` as bytes, ``json.dumps``'s compact text exactly.

    orjson writes the same text for what decisions hold (ASCII strings, Python's shortest
    round-trip floats) five times faster; where it would differ, the line is json's own: text
    with a character beyond ASCII (json escapes it), a number under 1e-4 (json writes
    ``1e-05``, orjson ``0.00001``; the test is on the text, so a string holding ``e-`` or
    ``0.0000`` takes json's path too, harmlessly), or a value orjson refuses (an integer beyond
    64 bits, a key that is not a string). A NaN or an infinity, which json refuses, orjson
    writes as null: none reaches here (the models refuse them, the data's are made null).
    """
    encode = _compact_encoder()
    dumps, option, error = orjson.dumps, orjson.OPT_APPEND_NEWLINE, orjson.JSONEncodeError

    def line(value: dict[str, Any]) -> bytes:
        try:
            text = dumps(value, option=option)
        except error:
            return f"{encode(value)}\n".encode()
        if not text.isascii() or b"e-" in text or b"0.0000" in text:
            return f"{encode(value)}\n".encode()
        return text

    return line


def decisions_jsonl(result: BacktestResult) -> str:
    """Every decision, one JSON object per line, in the order they were made."""
    return _decisions_jsonl(result).decode()


def _decisions_jsonl(result: BacktestResult) -> bytearray:
    """:func:`decisions_jsonl` as UTF-8 bytes."""
    orders = {order.order_id: order for order in result.orders}
    encode = _line_encoder()
    times: dict[datetime, str] = {}

    def iso(moment: datetime) -> str:
        if moment.tzinfo is not UTC:  # equal instants in other zones are written differently
            return moment.isoformat()
        text = times.get(moment)
        if text is None:
            text = times[moment] = moment.isoformat()
        return text

    # one growing buffer, each line appended and dropped at once: orjson makes each line in a
    # buffer of several KB and shrinks it, so thousands of lines kept alive until a join
    # fragment the heap (+100 MB peak for 13,000 decisions)
    out = bytearray()
    for record in result.decisions:
        order = None if record.order_id is None else orders.get(record.order_id)
        out += encode(decision_line(record, order, iso))
    return out


def _release_arrow_memory() -> None:
    """Hand the memory Arrow's allocator keeps for reuse back to the system: the text columns
    are made once, and a run's peak memory is what its user sees."""
    pa.default_memory_pool().release_unused()


def write_outputs(
    result: BacktestResult, directory: Path, *, benchmark: Benchmark | None = None
) -> OutputFiles:
    """Write every output file into ``directory`` (created if needed); existing ones are replaced.

    ``benchmark`` is the curve to compare with (default: buying and holding the run's symbols,
    equal weight); its figures go into ``metrics.json`` as ``benchmark``.

    The content of each file is made on this thread and written atomically on a worker thread
    (the write and fsync wait on the disk without the GIL), as is the PNG (Pillow scales and
    compresses without it). Work that often gives up the GIL (Arrow's, call by call) stays on
    this thread: on a worker each call would wait for the GIL again behind this thread's Python.
    Every write has finished (or failed, raising the first error) when this returns.
    """
    # the run's objects (every decision, order and fill, the feed) are kept out of the cyclic
    # collector's sight: each full collection the outputs' objects set off walked them all
    # (~0.1 s of a 100-symbol run's outputs). The outputs make no reference cycles (their dicts
    # and texts are freed by reference counting), so the collector pauses meanwhile, as during
    # the replay; both as they were afterwards.
    freeze = not gc.get_freeze_count()  # a caller that froze the heap keeps it as it has it
    enabled = gc.isenabled()
    if freeze:
        gc.freeze()
    gc.disable()
    try:
        return _write_outputs(result, directory, benchmark)
    finally:
        if enabled:
            gc.enable()
        if freeze:
            gc.unfreeze()


def _write_outputs(
    result: BacktestResult, directory: Path, benchmark: Benchmark | None
) -> OutputFiles:
    """:func:`write_outputs`, the heap frozen."""
    ensure_dir(directory)
    files = OutputFiles(
        directory=directory,
        trades=directory / "trades.csv",
        equity=directory / "equity.csv",
        metrics=directory / "metrics.json",
        decisions=directory / "decisions.jsonl",
        report_html=directory / "report.html",
        report_png=directory / "report.png",
        figures={},
    )
    with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="backtest-out") as pool:
        pending = []
        try:
            curve = result.equity
            stamps, equity = iso_utc_text(curve.micros), float_text(curve.equity)
            rows_text = _equity_rows(result, stamps, equity)
            pending.append(pool.submit(_write_text, files.equity, _EQUITY_HEADER, rows_text))
            del rows_text
            _release_arrow_memory()
            pnls = realized_pnl(result.fills)
            pending.append(pool.submit(_write_text, files.trades, trades_csv(result, pnls)))
            daily = daily_equity(curve, result.bar_size)
            # the page's daily series are the curve's last instant of each day: its text taken
            ends = day_ends(day_numbers(curve.micros, result.bar_size))
            rows = arrow_indices(ends)
            dates = None if result.bar_size.is_intraday else utc_dates(stamps.take(rows))
            series = data_series(
                daily, result.starting_cash, equity_text=equity.take(rows), dates=dates
            )
            del stamps, equity, rows, dates
            _release_arrow_memory()
            metrics = compute_metrics(result, daily=daily, pnls=pnls)
            arrays = None if result.feed is None else FeedArrays.of(result.feed)
            if benchmark is None and result.feed is not None:
                benchmark = buy_and_hold(result.feed, result.starting_cash, arrays=arrays)
            metrics["benchmark"] = (
                None
                if benchmark is None
                else benchmark.figures(result.starting_cash, metrics["period"]["years"])
            )
            files.figures.update(metrics)
            text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
            pending.append(pool.submit(_write_text, files.metrics, text))
            charts = build_charts(result, daily, benchmark)

            def png(tmp: Path) -> None:
                render_png(tmp, list(charts), colors=[EQUITY_COLOR, DRAWDOWN_COLOR])

            pending.append(pool.submit(atomic_write, files.report_png, png))
            pending.append(pool.submit(_write_text, files.decisions, _decisions_jsonl(result)))
            page = report_parts(
                result, metrics, daily, pnls, benchmark, charts=charts, series=series, arrays=arrays
            )
            pending.append(pool.submit(_write_text, files.report_html, *page))
        finally:
            # every write ends before this returns, even when one of them (or the above) failed
            errors = [error for future in pending if (error := future.exception()) is not None]
        if errors:
            raise errors[0]
    return files
