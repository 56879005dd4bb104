"""``ibbot audit KIND [--symbol] [--strategy] [--run] [--since] [--until] [--last N] [--format]``.

Reads ``<store.path>/audit/<kind>/`` (JSON lines, one file per market day) and prints a table:
decisions with their outcome and full reasoning; orders at their latest state (the log keeps every
state); fills; orders the risk gate blocked, with the rule; reconciliations (and symbols adopted by
hand); lifecycle events. Every time shown, and every ``--since``/``--until`` filter (a date or an
ISO date-time; UTC unless it says otherwise), is the record's own market time: the bar a decision
was made on, an order's last status, an execution; with the embedded simulator that is simulated
time. ``--run`` keeps one run's lines (its id is in every line, see :mod:`ibbot.runs`); ``--last``
keeps the most recent N. ``--format csv`` writes the table's columns (times in ISO 8601, the run
id added) and ``--format json`` the whole lines (kind, logged_at, run_id, strategy, symbol, record,
and the market time filtered on), both to stdout, for a spreadsheet or a script.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    # dataclasses never evaluate annotations, and a runtime import would load pyarrow on --help
    from collections.abc import Callable, Sequence  # noqa: TC004

    from rich.table import Table

    from ibbot.settings import Settings
    from ibbot.store import AuditEntry  # noqa: TC004

__all__ = ["configure", "run"]

FORMATS: Final = ("table", "csv", "json")
_PIPED_WIDTH: Final = 200
# A record's market time may run slightly ahead of its line's (an execution time from IB's clock):
# files are pruned by --since this much earlier, then every line is filtered exactly.
_FILE_MARGIN: Final = timedelta(days=1)


def moment(text: str) -> datetime:
    """``--since``/``--until``: a date or an ISO date-time, UTC unless it names an offset."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date or an ISO date-time (e.g. 2026-03-04 or 2026-03-04T14:30Z), got {text!r}"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    """The kind of entries, the filters and the output format."""
    parser.add_argument("kind", choices=tuple(_KINDS), help="which audit trail to print")
    parser.add_argument("--symbol", type=str.upper, help="only this symbol")
    parser.add_argument("--strategy", help="only this strategy")
    parser.add_argument("--run", metavar="RUN_ID", help="only the lines of this run")
    parser.add_argument(
        "--since",
        type=moment,
        metavar="WHEN",
        help="only entries at or after WHEN, in market time (UTC unless WHEN has an offset)",
    )
    parser.add_argument(
        "--until", type=moment, metavar="WHEN", help="only entries before WHEN, in market time"
    )
    parser.add_argument(
        "--last", type=_count, default=100, metavar="N", help="the N most recent (default 100)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default), csv (the table's columns) or json (whole lines), on stdout",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read the trail and print it (exit 0, also when it is empty)."""
    from rich.console import Console  # noqa: PLC0415 - keeps `ibbot --help` fast

    from ibbot.store.factory import open_store, store_location  # noqa: PLC0415

    kind = _KINDS[args.kind]
    since: datetime | None = args.since
    until: datetime | None = args.until
    with open_store(settings.store) as store:
        where = store_location(store)
        entries = store.read_audit(
            args.kind,
            None if since is None else since - _FILE_MARGIN,
            args.symbol,
            args.strategy,
        )
    entries = [
        entry
        for entry in entries
        if (args.run is None or entry.run_id == args.run)
        and (since is None or kind.time(entry) >= since)
        and (until is None or kind.time(entry) < until)
    ]
    rows = _latest_orders(entries) if args.kind == "orders" else entries
    shown = rows[-args.last :]
    if args.format == "json":
        json.dump([_line(entry, kind) for entry in shown], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*kind.columns, "run id"])
        for entry in shown:
            writer.writerow([*kind.row(entry), entry.run_id or ""])
        return 0
    table = _table(kind, shown)
    table.caption = (
        f"{len(shown)} of {len(rows)} {args.kind} in {where} (times are market time, UTC)"
    )
    console = Console()
    if not console.is_terminal:
        # Piped or redirected: rows on their own lines read better than the 80 columns rich assumes.
        console = Console(width=_PIPED_WIDTH)
    console.print(table)
    return 0


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one audit kind is shown: its title, its columns, a row, and its record's market time."""

    title: str
    columns: tuple[str, ...]
    row: Callable[[AuditEntry], list[str]]
    time_field: str

    def time(self, entry: AuditEntry) -> datetime:
        """The record's own market time (the line's when the record has none)."""
        record = entry.record
        if self.time_field == "timestamp" and isinstance(record.get("result"), dict):
            record = record["result"]  # an order's state
        return _parsed(record.get(self.time_field)) or entry.logged_at


def _parsed(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else None


def _line(entry: AuditEntry, kind: _Kind) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "market_time": kind.time(entry).isoformat(),
        "logged_at": entry.logged_at.isoformat(),
        "run_id": entry.run_id,
        "strategy": entry.strategy,
        "symbol": entry.symbol,
        "record": dict(entry.record),
    }


# Columns whose text may wrap; every other column keeps its cells on one line.
_WRAPPING: Final = frozenset({"reasoning", "order ref", "why", "exec id", "message", "details"})


def _table(kind: _Kind, entries: Sequence[AuditEntry]) -> Table:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=kind.title, show_lines=True)
    for column in kind.columns:
        if column in _WRAPPING:
            table.add_column(column, overflow="fold", ratio=1)
        else:
            table.add_column(column, no_wrap=True)
    for entry in entries:
        cells = kind.row(entry)
        table.add_row(_short_time(kind.time(entry)), *cells[1:])
    return table


def _short_time(when: datetime) -> str:
    return when.strftime("%m-%d %H:%M:%S")


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def _decision(entry: AuditEntry) -> list[str]:
    record = entry.record
    quantity = record.get("quantity")
    action = str(record.get("action", "-"))
    if action == "exit":
        size = "all"
    elif quantity is not None:
        size = f"{quantity} sh"
    else:
        size = f"{record.get('target_weight', 0):.3f}"
    detail = record.get("detail")
    reasoning = str(record.get("reasoning", ""))
    return [
        _DECISIONS.time(entry).isoformat(),
        entry.strategy or "-",
        entry.symbol or "-",
        action.upper(),
        size,
        str(record.get("outcome", "-")),
        reasoning + (f"\n-> {detail}" if detail else ""),
    ]


def _latest_orders(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    latest: dict[str, AuditEntry] = {}
    for entry in entries:
        reference = str(entry.record.get("order_ref") or id(entry))
        latest.pop(reference, None)  # re-inserted last: the order of each one's latest state
        latest[reference] = entry
    return list(latest.values())


def _order(entry: AuditEntry) -> list[str]:
    record = entry.record
    order = record.get("order") or {}
    result = record.get("result") or record
    return [
        _ORDERS.time(entry).isoformat(),
        entry.strategy or "-",
        entry.symbol or "-",
        str(order.get("action", "-")),
        _number(order.get("quantity")),
        str(result.get("status", "-")),
        _number(result.get("fill_quantity")),
        _number(result.get("fill_price"), 4),
        str(record.get("order_ref", "-")),
    ]


def _fill(entry: AuditEntry) -> list[str]:
    record = entry.record
    return [
        _FILLS.time(entry).isoformat(),
        entry.strategy or "-",
        entry.symbol or "-",
        str(record.get("side", "-")),
        _number(record.get("quantity")),
        _number(record.get("price"), 4),
        _number(record.get("commission")),
        str(record.get("exec_id", "-")),
    ]


def _risk(entry: AuditEntry) -> list[str]:
    record = entry.record
    return [
        _RISK.time(entry).isoformat(),
        entry.strategy or "-",
        entry.symbol or "-",
        str(record.get("rule", "-")),
        str(record.get("message", "")),
    ]


def _reconciliation(entry: AuditEntry) -> list[str]:
    record = entry.record
    if "symbol" in record:  # one mismatch, or one symbol adopted by hand
        what = str(record.get("outcome", "-"))
        message = str(record.get("message", ""))
    else:  # a round's summary
        what = f"{record.get('mismatches', 0)} mismatch(es)"
        halted = record.get("halted") or []
        message = f"{record.get('reason', '')}; halted: {', '.join(halted) or 'none'}"
    return [
        _RECONCILIATION.time(entry).isoformat(),
        entry.symbol or "-",
        what,
        message,
    ]


def _lifecycle(entry: AuditEntry) -> list[str]:
    record = entry.record
    details = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("event", "at"))
    return [
        _LIFECYCLE.time(entry).isoformat(),
        str(record.get("event", "-")),
        entry.strategy or "-",
        details,
    ]


_DECISIONS: Final = _Kind(
    "decisions",
    ("time", "strategy", "symbol", "action", "size", "outcome", "reasoning"),
    _decision,
    "timestamp",
)
_ORDERS: Final = _Kind(
    "orders",
    ("time", "strategy", "symbol", "side", "qty", "status", "filled", "avg price", "order ref"),
    _order,
    "timestamp",
)
_FILLS: Final = _Kind(
    "fills",
    ("time", "strategy", "symbol", "side", "qty", "price", "commission", "exec id"),
    _fill,
    "timestamp",
)
_RISK: Final = _Kind("blocked orders", ("time", "strategy", "symbol", "rule", "why"), _risk, "at")
_RECONCILIATION: Final = _Kind(
    "reconciliation", ("time", "symbol", "outcome", "message"), _reconciliation, "at"
)
_LIFECYCLE: Final = _Kind("lifecycle", ("time", "event", "strategy", "details"), _lifecycle, "at")
_KINDS: Final[dict[str, _Kind]] = {
    "decisions": _DECISIONS,
    "orders": _ORDERS,
    "fills": _FILLS,
    "risk": _RISK,
    "reconciliation": _RECONCILIATION,
    "lifecycle": _LIFECYCLE,
}
