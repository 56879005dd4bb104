"""``ibbot import-bars FILE.csv --symbol SYM``: load OHLCV bars from a CSV file into the store.

The file format and the rules for bad rows are in :mod:`ibbot.backtest.csv_bars`. Every bad row is
reported with its line number; when there are more than ``--max-bad-rows`` (0 by default) nothing
is written and the command exits 2, otherwise the good rows are written (re-importing a file
replaces the same bars, so it is safe to repeat). ``--adjusted`` stores the prices adjusted by the
file's adjusted-close column (``Adj Close``); without it such a column is ignored, and the command
says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ibbot.commands.usage import usage_error

if TYPE_CHECKING:
    from ibbot.settings import Settings

__all__ = ["configure", "run"]

log = structlog.get_logger(__name__)

DEFAULT_TIMEZONE = "America/New_York"
# How many bad rows are listed one by one; the rest are counted.
_SHOWN_BAD_ROWS = 20


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the file, the symbol, the bar size, the timezone and the bad-row threshold."""
    parser.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file to import")
    parser.add_argument("--symbol", required=True, help="the symbol the bars belong to, e.g. AAPL")
    parser.add_argument(
        "--bar-size",
        default="1 day",
        help='bar size of the rows, in IB\'s spelling (default "1 day"; e.g. "1 min", "1 hour")',
    )
    parser.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"IANA zone of times given without an offset (default {DEFAULT_TIMEZONE})",
    )
    parser.add_argument(
        "--adjusted",
        action="store_true",
        help="scale each bar by its adjusted-close column (Adj Close: splits and dividends); "
        "default: the Close column as it is",
    )
    parser.add_argument(
        "--max-bad-rows",
        type=_count,
        default=0,
        metavar="N",
        help="import the good rows when at most N rows are bad (default 0: any bad row stops it)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read, check and store the bars; exit 2 on bad input, with nothing written."""
    from ibbot.backtest.csv_bars import read_bar_csv  # noqa: PLC0415 - keeps `ibbot --help` fast
    from ibbot.backtest.errors import BacktestInputError  # noqa: PLC0415
    from ibbot.backtest.inputs import parse_bar_size, parse_symbol, parse_timezone  # noqa: PLC0415
    from ibbot.store.factory import open_store, store_location  # noqa: PLC0415

    path: Path = args.file
    try:
        symbol = parse_symbol(args.symbol)
        bar_size = parse_bar_size(args.bar_size)
        timezone = parse_timezone(args.timezone)
        found = read_bar_csv(
            path, symbol=symbol, bar_size=bar_size, timezone=timezone, adjusted=args.adjusted
        )
    except BacktestInputError as exc:
        return usage_error(exc)
    if found.adjusted_column is not None and not found.adjusted:
        sys.stderr.write(
            f"{path}: column {found.adjusted_column!r} ignored: the bars are the Close prices, "
            "not adjusted for splits and dividends (--adjusted uses it)\n"
        )
    for bad in found.bad_rows[:_SHOWN_BAD_ROWS]:
        sys.stderr.write(f"{path}: {bad}\n")
    hidden = found.bad_count - _SHOWN_BAD_ROWS
    if hidden > 0:
        sys.stderr.write(f"{path}: ... and {hidden} more bad rows\n")
    if found.bad_count > args.max_bad_rows:
        return usage_error(
            f"{path}: {found.bad_count} of {found.rows} rows are bad (more than "
            f"--max-bad-rows {args.max_bad_rows}); nothing was imported"
        )
    if not found.bars:
        return usage_error(f"{path}: no bars to import")
    with open_store(settings.store) as store:
        store.write_bars(symbol, found.bars)
        where = store_location(store)
    first, last = found.bars[0].timestamp, found.bars[-1].timestamp
    log.info(
        "import_bars.imported",
        symbol=symbol,
        bar_size=bar_size.value,
        bars=len(found.bars),
        bad_rows=found.bad_count,
        adjusted=found.adjusted,
        first=first.isoformat(),
        last=last.isoformat(),
        store=where,
    )
    adjusted = f" (adjusted by {found.adjusted_column!r})" if found.adjusted else ""
    sys.stdout.write(
        f"imported {len(found.bars)} {bar_size.value} bars of {symbol}{adjusted} from {path} into "
        f"{where}: {first.isoformat()} .. {last.isoformat()}"
        f"{f'; {found.bad_count} bad rows skipped' if found.bad_count else ''}\n"
    )
    return 0
