"""``ibbot audit decisions|orders|fills|risk [--symbol] [--strategy] [--since] [--last N]``: the audit trail.

Reads ``<store.path>/audit/<kind>/`` (JSON lines, one file per day) and prints a table: decisions
with their outcome and full reasoning; orders at their latest state (the log keeps every state);
fills; orders the risk gate blocked, with the rule. ``--since`` (a date or an ISO date-time; UTC
unless it says otherwise) filters on when an entry was logged; ``--last`` keeps the most recent N.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rich.table import Table

    from ibbot.settings import Settings
    from ibbot.store import AuditEntry

__all__ = ["configure", "run"]

KINDS: Final = ("decisions", "orders", "fills", "risk")
_PIPED_WIDTH: Final = 200


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date or an ISO date-time (e.g. 2026-03-04 or 2026-03-04T14:30Z), got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    """The kind of entries and the filters."""
    parser.add_argument("kind", choices=KINDS, help="which audit trail to print")
    parser.add_argument("--symbol", type=str.upper, help="only this symbol")
    parser.add_argument("--strategy", help="only this strategy")
    parser.add_argument(
        "--since", type=_since, metavar="WHEN", help="only entries logged at or after WHEN (UTC)"
    )
    parser.add_argument(
        "--last", type=_count, default=100, metavar="N", help="the N most recent (default 100)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read the trail and print the table (exit 0, also when it is empty)."""
    from rich.console import Console  # noqa: PLC0415 - keeps `ibbot --help` fast

    from ibbot.store import ParquetStore  # noqa: PLC0415

    with ParquetStore(settings.store.path) as store:
        entries = store.read_audit(args.kind, args.since, args.symbol, args.strategy)
    rows = _LATEST[args.kind](entries) if args.kind in _LATEST else entries
    shown = rows[-args.last :]
    table = _TABLES[args.kind](shown)
    table.caption = (
        f"{len(shown)} of {len(rows)} {args.kind} in {settings.store.path / 'audit'} "
        "(times are market time, UTC)"
    )
    console = Console()
    if not console.is_terminal:
        # Piped or redirected: rows on their own lines read better than the 80 columns rich assumes.
        console = Console(width=_PIPED_WIDTH)
    console.print(table)
    return 0


# Columns whose text may wrap; every other column keeps its cells on one line.
_WRAPPING: Final = frozenset({"reasoning", "order ref", "why", "exec id"})


def _table(title: str, *columns: str) -> Table:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=title, show_lines=True)
    for column in columns:
        if column in _WRAPPING:
            table.add_column(column, overflow="fold", ratio=1)
        else:
            table.add_column(column, no_wrap=True)
    return table


def _time(text: Any) -> str:
    if not isinstance(text, str):
        return "-"
    return datetime.fromisoformat(text).strftime("%m-%d %H:%M:%S")


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def _decisions(entries: Sequence[AuditEntry]) -> Table:
    table = _table(
        "decisions", "time", "strategy", "symbol", "action", "size", "outcome", "reasoning"
    )
    for entry in entries:
        record = entry.record
        quantity = record.get("quantity")
        action = str(record.get("action", "-"))
        if action == "exit":
            size = "all"
        elif quantity is not None:
            size = f"{quantity} sh"
        else:
            size = f"{record.get('target_weight', 0):.3f}"
        outcome = str(record.get("outcome", "-"))
        detail = record.get("detail")
        reasoning = str(record.get("reasoning", ""))
        table.add_row(
            _time(record.get("timestamp")),
            entry.strategy or "-",
            entry.symbol or "-",
            action.upper(),
            size,
            outcome,
            reasoning + (f"\n-> {detail}" if detail else ""),
        )
    return table


def _latest_orders(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    latest: dict[str, AuditEntry] = {}
    for entry in entries:
        reference = str(entry.record.get("order_ref") or id(entry))
        latest.pop(reference, None)  # re-inserted last: the order of each one's latest state
        latest[reference] = entry
    return list(latest.values())


def _orders(entries: Sequence[AuditEntry]) -> Table:
    table = _table(
        "orders",
        "time",
        "strategy",
        "symbol",
        "side",
        "qty",
        "status",
        "filled",
        "avg price",
        "order ref",
    )
    for entry in entries:
        record = entry.record
        order = record.get("order") or {}
        result = record.get("result") or record
        table.add_row(
            _time(result.get("timestamp")),
            entry.strategy or "-",
            entry.symbol or "-",
            str(order.get("action", "-")),
            _number(order.get("quantity")),
            str(result.get("status", "-")),
            _number(result.get("fill_quantity")),
            _number(result.get("fill_price"), 4),
            str(record.get("order_ref", "-")),
        )
    return table


def _fills(entries: Sequence[AuditEntry]) -> Table:
    table = _table(
        "fills", "time", "strategy", "symbol", "side", "qty", "price", "commission", "exec id"
    )
    for entry in entries:
        record = entry.record
        table.add_row(
            _time(record.get("timestamp")),
            entry.strategy or "-",
            entry.symbol or "-",
            str(record.get("side", "-")),
            _number(record.get("quantity")),
            _number(record.get("price"), 4),
            _number(record.get("commission")),
            str(record.get("exec_id", "-")),
        )
    return table


def _risk(entries: Sequence[AuditEntry]) -> Table:
    table = _table("blocked orders", "time", "strategy", "symbol", "rule", "why")
    for entry in entries:
        record = entry.record
        table.add_row(
            _time(record.get("at")),
            entry.strategy or "-",
            entry.symbol or "-",
            str(record.get("rule", "-")),
            str(record.get("message", "")),
        )
    return table


_LATEST: Final[dict[str, Callable[[Sequence[AuditEntry]], list[AuditEntry]]]] = {
    "orders": _latest_orders
}
_TABLES: Final[dict[str, Callable[[Sequence[AuditEntry]], Table]]] = {
    "decisions": _decisions,
    "orders": _orders,
    "fills": _fills,
    "risk": _risk,
}
