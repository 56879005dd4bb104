"""Moving bars from the legacy layout to one bar size per file, safely if killed midway.

Stores written before bar-size directories keep ``prices/<SYMBOL>/<YYYY-MM>.parquet``: every bar
size of a symbol's month in one file. :func:`migrate_prices` moves them to
``prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet`` (:mod:`ibbot.store.bars`) one symbol at a
time: it reads all of the symbol's month files, merges their bars and coverage into the new files
(each replaced atomically), and only then deletes the month files and the directory.

A kill at any moment leaves every bar in the month files, in the new files, or in both, never in
neither; the next run migrates what is left. Re-merging is harmless: rows already in a new file win
over the same keys from a month file (they are the same rows, or newer ones), and coverage is a
union. A symbol directory that also holds files the store did not write keeps them (and stays).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.errors import StoreError
from ibbot.models import BarSize
from ibbot.store.atomic import fsync_dir, leftover_temp_files
from ibbot.store.bars import decode_coverage
from ibbot.store.errors import InvalidStoreInput
from ibbot.store.layout import StoreLayout

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.store.bars import BarFiles
    from ibbot.store.locks import KeyedLocks
    from ibbot.store.ranges import TimeRange

__all__ = ["Migration", "legacy_symbols", "migrate_prices"]


@dataclass(frozen=True, slots=True)
class Migration:
    """What one :func:`migrate_prices` call did."""

    symbols: int
    legacy_files: int
    files_written: int
    seconds: float
    kept: tuple[str, ...] = ()
    """Legacy directories left in place because they hold files the store did not write."""

    @property
    def done_anything(self) -> bool:
        """True when at least one symbol was migrated."""
        return self.symbols > 0


def _legacy_months(layout: StoreLayout, symbol: str) -> dict[Path, bool]:
    """The month files (True) and other entries (False) of a legacy symbol directory."""
    directory = layout.legacy_price_dir(symbol)
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise StoreError(f"cannot list {directory}: {exc}") from exc
    return {
        directory / name: StoreLayout.parse_legacy_price_file(name) is not None for name in names
    }


def legacy_symbols(layout: StoreLayout) -> list[str]:
    """Symbols that still have month files in the legacy layout, sorted."""
    try:
        names = os.listdir(layout.prices)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StoreError(f"cannot list {layout.prices}: {exc}") from exc
    found = []
    for name in names:
        try:
            symbol = StoreLayout.symbol(name)
        except InvalidStoreInput:
            continue  # bars=<size> directories, stray files
        if any(_legacy_months(layout, symbol).values()):
            found.append(symbol)
    return sorted(found)


def migrate_prices(layout: StoreLayout, bars: BarFiles, locks: KeyedLocks) -> Migration:
    """Move every legacy symbol directory into the current layout (see the module docstring)."""
    started = time.perf_counter()
    symbols = legacy_symbols(layout)
    legacy_files = written = 0
    kept = []
    failed = []
    for symbol in symbols:
        try:
            with locks("prices", symbol):
                moved, files, stays = _migrate_symbol(layout, bars, symbol)
        except StoreError as exc:
            failed.append(str(exc))  # the other symbols still migrate; this one keeps its files
            continue
        legacy_files += moved
        written += files
        if stays:
            kept.append(str(layout.legacy_price_dir(symbol)))
    if symbols:
        fsync_dir(layout.prices)
    if failed:
        raise StoreError(
            f"cannot move {len(failed)} symbol(s) to the current price layout (their files are "
            f"untouched; repair or remove the file named, then use the store again): "
            + "; ".join(failed)
        )
    return Migration(
        len(symbols), legacy_files, written, time.perf_counter() - started, tuple(kept)
    )


def _migrate_symbol(layout: StoreLayout, bars: BarFiles, symbol: str) -> tuple[int, int, bool]:
    """Migrate one symbol: (month files moved, new files written, directory kept)."""
    entries = _legacy_months(layout, symbol)
    months = sorted(path for path, is_month in entries.items() if is_month)
    tables: list[pa.Table] = []
    coverage: dict[BarSize, list[TimeRange]] = {}
    for path in months:
        try:
            doc = bars.read_file(path, symbol, None)
        except StoreError:
            if not path.exists():
                continue  # another process migrated it meanwhile: its rows are in the new files
            raise
        tables.append(doc.table)
        for size, ranges in decode_coverage(doc.metadata, path).items():
            coverage.setdefault(BarSize(size), []).extend(ranges)
    by_size: dict[BarSize, pa.Table] = {}
    if tables:
        table = pa.concat_tables(tables)
        column = table.column("bar_size")
        for value in pc.unique(column).to_pylist():
            by_size[BarSize(value)] = table.filter(pc.equal(column, value))
    written = bars.merge(symbol, by_size, coverage, stored_wins=True)
    for path in months:
        path.unlink(missing_ok=True)
    directory = layout.legacy_price_dir(symbol)
    for leftover in leftover_temp_files(directory):
        leftover.unlink(missing_ok=True)
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return len(months), written, True
    return len(months), written, False
