"""``ibbot positions [--format table|csv|json]``: each strategy's positions and P&L, offline.

Reads the store at ``store.path`` while ibbot is stopped (or running: it reads the last save): the
saved position book brought up to date with the fills audited since, marked at the last stored
price of each symbol (see :mod:`ibbot.live.statement`). Per strategy: open positions with their
average cost, price, market value and unrealized P&L, then the realized P&L, the unrealized total
and the equity (allocated capital, as configured now, plus both). Exit code 0, also when no book
is saved yet (one line says so); 1 when the saved book cannot be read.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import argparse

    from ibbot.live.statement import Statement
    from ibbot.settings import Settings

__all__ = ["configure", "run"]

FORMATS: Final = ("table", "csv", "json")
_COLUMNS: Final = (
    "strategy",
    "symbol",
    "quantity",
    "avg_cost",
    "price",
    "price_time",
    "market_value",
    "unrealized_pnl",
    "realized_pnl",
    "capital",
    "equity",
)
_TOTAL: Final = "(total)"
_PIPED_WIDTH: Final = 200


def configure(parser: argparse.ArgumentParser) -> None:
    """The output format."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default), csv (one row per position and one total per strategy) or json",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read the statement and print it."""
    from ibbot.live.statement import read_statement  # noqa: PLC0415 - keeps --help fast
    from ibbot.store.factory import open_store  # noqa: PLC0415

    capital = {s.name: s.allocated_capital for s in settings.strategies}
    with open_store(settings.store) as store:
        statement = read_statement(store, capital)
    if statement is None:
        sys.stderr.write(
            f"ibbot positions: no position book is saved in {settings.store.path} yet "
            "(a run saves it every app.state_save_interval and when it stops)\n"
        )
        if args.format == "json":
            sys.stdout.write("null\n")
        return 0
    if args.format == "json":
        json.dump(statement.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writer.writerows(_rows(statement))
    else:
        _print_table(statement, settings)
    return 0


def _rows(statement: Statement) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for line in statement.strategies:
        rows.extend(
            [
                line.strategy,
                p.symbol,
                p.quantity,
                p.avg_cost,
                _blank(p.price),
                "" if p.price_time is None else p.price_time.isoformat(),
                _blank(p.market_value),
                _blank(p.unrealized_pnl),
                "",
                "",
                "",
            ]
            for p in line.positions
        )
        rows.append(
            [
                line.strategy,
                _TOTAL,
                "",
                "",
                "",
                "",
                sum(p.market_value or 0.0 for p in line.positions),
                line.unrealized_pnl,
                line.realized_pnl,
                _blank(line.capital),
                _blank(line.equity),
            ]
        )
    return rows


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _print_table(statement: Statement, settings: Settings) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="positions", show_lines=False)
    for column in ("strategy", "symbol", "qty", "avg cost", "price", "value", "unrealized"):
        table.add_column(column, justify="left" if column in ("strategy", "symbol") else "right")
    for column in ("realized", "equity"):
        table.add_column(column, justify="right")
    for line in statement.strategies:
        for p in line.positions:
            table.add_row(
                line.strategy,
                p.symbol,
                f"{p.quantity:+,g}",
                _money(p.avg_cost),
                _money(p.price),
                _money(p.market_value),
                _money(p.unrealized_pnl),
                "",
                "",
            )
        table.add_row(
            line.strategy,
            _TOTAL,
            "",
            "",
            "",
            _money(sum(p.market_value or 0.0 for p in line.positions)),
            _money(line.unrealized_pnl),
            _money(line.realized_pnl),
            _money(line.equity),
            end_section=True,
        )
    replayed = f", {statement.replayed} fill(s) audited since" if statement.replayed else ""
    run = f", run {statement.run_id}" if statement.run_id else ""
    table.caption = (
        f"{statement.world}{run}: saved {statement.saved_at:%Y-%m-%d %H:%M:%S}{replayed}; prices "
        f"as of {statement.as_of:%Y-%m-%d %H:%M:%S} (market time, UTC) from "
        f"{settings.store.path}; equity = capital + realized + unrealized"
    )
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPED_WIDTH)
    console.print(table)
