"""``ibbot store migrate`` and ``ibbot store info``: the bar files of the store at ``store.path``.

``migrate`` moves bars of the legacy layout (``prices/<SYMBOL>/<YYYY-MM>.parquet``, every bar size
in one file) to one bar size per file (``prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet``).
Every command that reads or writes bars does this on first use anyway; running it ahead of time
keeps that first use fast, and says what it did. It is resumable and safe to repeat.
``info`` counts the files, symbols and bytes of each bar size. ``copy`` moves a whole store
between a directory and a PostgreSQL database (:mod:`ibbot.commands.store_copy`).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ibbot.commands.store_copy import add_copy, run_copy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from ibbot.settings import Settings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``migrate`` and ``info`` actions."""
    actions = parser.add_subparsers(dest="store_action", metavar="ACTION", required=True)
    actions.add_parser(
        "migrate",
        help="move bars of the legacy layout to one bar size per file (resumable, idempotent)",
        description="move bars of the legacy layout to one bar size per file (resumable, "
        "idempotent); every command that uses bars does this on first use anyway",
    )
    actions.add_parser(
        "info", help="files, symbols and bytes of each bar size", description="files, symbols "
        "and bytes of each bar size in the store's prices/ directory",
    )  # fmt: skip
    add_copy(actions)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen action on the store at ``store.path`` (``copy``: on the stores it names)."""
    from ibbot.store import ParquetStore  # noqa: PLC0415 - keeps `ibbot --help` fast

    if args.store_action == "copy":
        return run_copy(args, settings)
    if settings.store.backend == "postgres":
        sys.stdout.write(
            f"ibbot store {args.store_action}: store.backend is postgres; bar files are the "
            "Parquet store's (the database's schema is migrated whenever ibbot opens it)\n"
        )
        return 0

    root: Path = settings.store.path
    with ParquetStore(root) as store:
        if args.store_action == "migrate":
            migration = store.migrate_prices()
            if not migration.done_anything:
                sys.stdout.write(f"{root}: bars already in the current layout; nothing to do\n")
                return 0
            sys.stdout.write(
                f"{root}: migrated {migration.symbols} symbol(s): {migration.legacy_files} "
                f"month file(s) -> {migration.files_written} file(s) of one bar size each, "
                f"in {migration.seconds:.1f} s\n"
            )
            for directory in migration.kept:
                sys.stdout.write(f"  kept {directory}: it holds files ibbot did not write\n")
            return 0
        store.migrate_prices()
        _info(root)
    return 0


def _info(root: Path) -> None:
    from ibbot.store.layout import StoreLayout  # noqa: PLC0415

    prices = StoreLayout(root).prices
    rows = []
    try:
        names = sorted(os.listdir(prices))
    except FileNotFoundError:
        names = []
    for name in names:
        size = StoreLayout.parse_bars_dir(name)
        if size is None:
            continue
        symbols = files = total = 0
        for directory, _, entries in os.walk(prices / name):
            if StoreLayout.parse_symbol_dir(os.path.basename(directory)) is not None:
                symbols += 1
            for entry in entries:
                if StoreLayout.parse_price_file(entry, size) is not None:
                    files += 1
                    total += os.path.getsize(os.path.join(directory, entry))
        rows.append((size.seconds, f"{name:<14} {symbols:>8,} {files:>8,} {total / 1e6:>10.1f}"))
    if not rows:
        sys.stdout.write(f"{prices}: no bars stored\n")
        return
    sys.stdout.write(f"{prices}\n{'directory':<14} {'symbols':>8} {'files':>8} {'MB':>10}\n")
    for _, line in sorted(rows):
        sys.stdout.write(f"{line}\n")
