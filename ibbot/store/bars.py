"""Price bars in ``prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet``: merge, range reads, coverage.

A file holds the bars of one symbol and one bar size whose start (UTC) falls in its span (a month,
a year, a decade or all time, by bar size: see :mod:`ibbot.store.spans`), sorted by time, in
exactly ``arrow_schema(PriceBar)``. The directories are Hive partitions, so
``pyarrow.dataset.dataset("prices/bars=1d", partitioning="hive")`` reads the daily bars of every
symbol as one dataset (duckdb and polars alike, with hive partitioning). Writing bars that overlap
stored ones replaces them: the key is ``(symbol, timestamp, bar_size)`` and the newest write wins
(within one call, the later bar in the list wins).

Coverage, the time ranges for which the store holds *everything* there is (a backfill asked IB for
them, or live bars arrived for them), is kept in each file's metadata (``ibbot.coverage``), so
data and coverage are committed by the same atomic rename and can never disagree.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.clock import ensure_utc
from ibbot.errors import StoreError
from ibbot.models import BarSize, PriceBar, arrow_schema
from ibbot.store.errors import InvalidStoreInput, utc_input
from ibbot.store.jsondoc import loads
from ibbot.store.layout import StoreLayout
from ibbot.store.parquet_io import ParquetDoc, read_parquet, read_parquet_metadata, write_parquet
from ibbot.store.ranges import TimeRange, merge_ranges, subtract_ranges
from ibbot.store.spans import span_of

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from ibbot.store.locks import KeyedLocks

__all__ = [
    "BAR_SCHEMA",
    "BarFiles",
    "bars_from_table",
    "bars_to_table",
    "coverage_of",
    "decode_coverage",
    "parse_bar_size",
]

BAR_SCHEMA = arrow_schema(PriceBar)
KEY_COLUMNS = ("symbol", "timestamp", "bar_size")
_REQUIRED = frozenset(("symbol", "timestamp", "open", "high", "low", "close", "volume", "bar_size"))
_COVERAGE_KEY = "coverage"
_ROW = "__row"
_TIMESTAMP_TYPE = BAR_SCHEMA.field("timestamp").type
_FIELDS = tuple((field.name, field.type) for field in BAR_SCHEMA)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_bar_size(value: BarSize | str) -> BarSize:
    """``value`` as a :class:`BarSize` (IB's spellings accepted), or InvalidStoreInput."""
    if type(value) is BarSize:
        return value
    try:
        return BarSize.parse(str(value))
    except ValueError as exc:
        raise InvalidStoreInput(str(exc)) from exc


def bars_to_table(bars: Sequence[PriceBar]) -> pa.Table:
    """A table in ``arrow_schema(PriceBar)`` built column by column (the write path's hot loop)."""
    columns = [
        pa.array([getattr(bar, name) for bar in bars], type=field_type)
        for name, field_type in _FIELDS
    ]
    return pa.Table.from_arrays(columns, schema=BAR_SCHEMA)


def bars_from_table(table: pa.Table) -> list[PriceBar]:
    """PriceBars from a table in ``arrow_schema(PriceBar)``, e.g. one from ``read_bars_table``."""
    columns: list[list[Any]] = []
    for name in BAR_SCHEMA.names:
        column = table.column(name)
        if name == "timestamp":
            # Building datetimes from integers is several times faster than Arrow's to_pylist.
            micros = column.cast(pa.int64()).to_pylist()
            columns.append([_EPOCH + timedelta(microseconds=us) for us in micros])
        elif name == "bar_size":
            sizes = {value: BarSize(value) for value in pc.unique(column).to_pylist()}
            columns.append([sizes[value] for value in column.to_pylist()])
        else:
            columns.append(column.to_pylist())
    return list(map(PriceBar, *columns))


def _encode_coverage(coverage: dict[str, list[TimeRange]]) -> str:
    return json.dumps(
        {
            size: [[start.isoformat(), end.isoformat()] for start, end in ranges]
            for size, ranges in sorted(coverage.items())
            if ranges
        },
        separators=(",", ":"),
    )


def decode_coverage(metadata: Mapping[str, str], path: Path) -> dict[str, list[TimeRange]]:
    text = metadata.get(f"ibbot.{_COVERAGE_KEY}")
    if text is None:
        return {}
    try:
        raw = loads(text)
        return {
            BarSize(size).value: [
                (
                    utc_input(datetime.fromisoformat(s), "start"),
                    utc_input(datetime.fromisoformat(e), "end"),
                )
                for s, e in ranges
            ]
            for size, ranges in raw.items()
        }
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"corrupt coverage metadata in {path}: {exc}") from exc


def coverage_of(
    table: pa.Table, covering: TimeRange | None, bar_size: BarSize | str | None
) -> dict[str, list[TimeRange]]:
    """The ranges a batch of bars covers, per bar size value (see :meth:`BarFiles.write`)."""
    sizes = pc.unique(table.column("bar_size")).to_pylist()
    timestamps = table.column("timestamp")
    if covering is None:
        spans: dict[str, list[TimeRange]] = {}
        for size in sizes:
            bounds = pc.min_max(timestamps.filter(pc.equal(table.column("bar_size"), size)))
            first, last = ensure_utc(bounds["min"].as_py()), ensure_utc(bounds["max"].as_py())
            spans[size] = [(first, last + timedelta(seconds=BarSize(size).seconds))]
        return spans
    start, end = utc_input(covering[0], "covering start"), utc_input(covering[1], "covering end")
    if end <= start:
        raise InvalidStoreInput(f"empty covering range {start.isoformat()}..{end.isoformat()}")
    if bar_size is not None:
        sizes = sorted({*sizes, parse_bar_size(bar_size).value})
    if len(sizes) != 1:
        raise InvalidStoreInput(
            "covering= needs exactly one bar size: bars of one size, or bar_size= when "
            f"there are no bars (got {sizes})"
        )
    if table.num_rows:
        bounds = pc.min_max(timestamps)
        first, last = ensure_utc(bounds["min"].as_py()), ensure_utc(bounds["max"].as_py())
        if first < start or last >= end:
            outside = first if first < start else last
            raise InvalidStoreInput(
                f"bar at {outside.isoformat()} lies outside the covering range "
                f"{start.isoformat()}..{end.isoformat()}"
            )
    return {sizes[0]: [(start, end)]}


def _dedupe_sorted(table: pa.Table) -> pa.Table:
    """Rows of ``table`` with one row per key (the last one wins), sorted by time then bar size.

    Files hold one bar size, but the key keeps the bar size so a mixed table is handled the same.
    """
    if table.num_rows:
        numbered = table.append_column(_ROW, pa.arange(0, table.num_rows))
        keep = numbered.group_by(list(KEY_COLUMNS), use_threads=False).aggregate([(_ROW, "max")])
        if keep.num_rows < table.num_rows:
            table = table.take(keep.column(f"{_ROW}_max"))
    return table.sort_by([("timestamp", "ascending"), ("bar_size", "ascending")])


class BarFiles:
    """All bar files under ``prices/`` (see the module docstring for the rules).

    ``before_use`` runs once, before the first operation (the store migrates a legacy layout there).
    """

    __slots__ = ("_before_use", "_layout", "_locks", "_ready_lock")

    def __init__(
        self, layout: StoreLayout, locks: KeyedLocks, before_use: Callable[[], None] | None = None
    ) -> None:
        self._layout = layout
        self._locks = locks
        self._before_use = before_use
        self._ready_lock = threading.Lock()

    def _pending(self) -> Callable[[], None] | None:
        return self._before_use

    def _use(self) -> None:
        if self._before_use is None:
            return
        with self._ready_lock:
            run = self._pending()  # another thread may have run it while this one waited
            if run is not None:
                run()  # raises: not marked done, the next operation tries again
                self._before_use = None

    def _list(self, directory: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as entries:
                return list(entries)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {directory}: {exc}") from exc

    def _sizes(self, symbol: str | None = None) -> list[BarSize]:
        """Bar sizes with a directory (holding ``symbol``'s directory when given), shortest first."""
        sizes = []
        for entry in self._list(self._layout.prices):
            size = StoreLayout.parse_bars_dir(entry.name)
            if size is None or not entry.is_dir():
                continue
            if symbol is None or self._layout.price_dir(symbol, size).is_dir():
                sizes.append(size)
        return sorted(sizes, key=lambda s: s.seconds)

    def _spans(self, symbol: str, size: BarSize) -> list[datetime]:
        """The span starts of ``symbol``'s ``size`` files, in time order."""
        found = []
        for entry in self._list(self._layout.price_dir(symbol, size)):
            start = StoreLayout.parse_price_file(entry.name, size)
            if start is not None:
                found.append(start)
        return sorted(found)

    def read_file(self, path: Path, symbol: str, size: BarSize | None) -> ParquetDoc:
        """One bar file, checked to hold only ``symbol``'s bars (of ``size`` when given)."""
        doc = read_parquet(path, BAR_SCHEMA, _REQUIRED)
        symbols = pc.unique(doc.table.column("symbol")).to_pylist()
        if symbols and symbols != [symbol]:
            raise StoreError(
                f"foreign Parquet file {path}: holds bars of {symbols}, not {symbol!r}"
            )
        for value in pc.unique(doc.table.column("bar_size")).to_pylist():
            try:
                found = BarSize(value)
            except ValueError as exc:
                raise StoreError(
                    f"corrupt Parquet file {path}: unknown bar size {value!r}"
                ) from exc
            if size is not None and found is not size:
                raise StoreError(
                    f"foreign Parquet file {path}: holds {found.value!r} bars, not {size.value!r}"
                )
        return doc

    def symbols(self) -> list[str]:
        """Symbols with a price directory, sorted (directories with invalid names are ignored)."""
        self._use()
        found: set[str] = set()
        for size in self._sizes():
            for entry in self._list(self._layout.bars_dir(size)):
                symbol = StoreLayout.parse_symbol_dir(entry.name)
                if symbol is not None and entry.is_dir():
                    found.add(symbol)
        return sorted(found)

    def write(
        self,
        symbol: str,
        bars: Sequence[PriceBar],
        *,
        covering: TimeRange | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """Merge ``bars`` into their files and record their coverage.

        Without ``covering``, a batch covers the span from its first bar's start to its last bar's
        end, per bar size. With ``covering``, the batch is declared complete for that whole range
        (for example the window a backfill asked for, including closed-market stretches without
        bars); the batch must then hold one bar size (or ``bar_size`` names it when ``bars`` is
        empty) and every bar must start inside the range.
        """
        self._use()
        symbol = StoreLayout.symbol(symbol)
        table = bars_to_table(bars)
        symbols = pc.unique(table.column("symbol")).to_pylist()
        if symbols and symbols != [symbol]:
            stray = next(s for s in symbols if s != symbol)
            raise InvalidStoreInput(f"bar of {stray!r} given to write_bars({symbol!r})")
        added = coverage_of(table, covering, bar_size)
        sizes = table.column("bar_size")
        by_size = {
            BarSize(value): (table if len(added) == 1 else table.filter(pc.equal(sizes, value)))
            for value in added
        }
        with self._locks("prices", symbol):
            self.merge(symbol, by_size, {BarSize(k): v for k, v in added.items()})

    def merge(
        self,
        symbol: str,
        tables: Mapping[BarSize, pa.Table],
        coverage: Mapping[BarSize, Sequence[TimeRange]],
        *,
        stored_wins: bool = False,
    ) -> int:
        """Merge per-size ``tables`` and ``coverage`` into ``symbol``'s files; the files written.

        The caller holds the symbol's lock. Bars of a key already stored are replaced
        (``stored_wins``: kept, as a migration wants for files a newer write made). Every touched
        file is read before any is written, so a corrupt file stops the write before anything
        changes; each file is then replaced atomically with its coverage.
        """
        plan: list[tuple[Path, pa.Table, dict[str, list[TimeRange]]]] = []
        for size in sorted(set(tables) | set(coverage), key=lambda s: s.seconds):
            span = span_of(size)
            table = tables.get(size, BAR_SCHEMA.empty_table())
            pieces = span.split_ranges(coverage.get(size, ()))
            parts: dict[datetime, pa.Table] = {}
            if table.num_rows:
                keys = span.keys(table.column("timestamp"))
                for key in pc.unique(keys).to_pylist():
                    part = table.filter(pc.equal(keys, key))
                    parts[span.start(ensure_utc(part.column("timestamp")[0].as_py()))] = part
            existing = set(self._spans(symbol, size))
            for start in sorted(set(parts) | set(pieces)):
                path = self._layout.price_file(symbol, size, start)
                new = parts.get(start, BAR_SCHEMA.empty_table())
                ranges: dict[str, list[TimeRange]] = {}
                if start in existing:
                    before = self.read_file(path, symbol, size)
                    ordered = [new, before.table] if stored_wins else [before.table, new]
                    new = pa.concat_tables(ordered)
                    ranges = decode_coverage(before.metadata, path)
                value = size.value
                ranges[value] = merge_ranges([*ranges.get(value, ()), *pieces.get(start, ())])
                plan.append((path, new, ranges))
        for path, new, ranges in plan:
            write_parquet(path, _dedupe_sorted(new), {_COVERAGE_KEY: _encode_coverage(ranges)})
        return len(plan)

    def read_table(
        self, symbol: str, start: datetime, end: datetime, bar_size: BarSize | str | None = None
    ) -> pa.Table:
        """Bars with ``start <= timestamp < end`` (of one bar size, or all), sorted by time."""
        self._use()
        symbol = StoreLayout.symbol(symbol)
        start, end = utc_input(start, "start"), utc_input(end, "end")
        sizes = [parse_bar_size(bar_size)] if bar_size is not None else self._sizes(symbol)
        lo = pa.scalar(start, type=_TIMESTAMP_TYPE)
        hi = pa.scalar(end, type=_TIMESTAMP_TYPE)
        tables = []
        for size in sizes:
            span = span_of(size)
            for span_start in self._spans(symbol, size):
                if not span.overlaps(span_start, start, end):
                    continue
                path = self._layout.price_file(symbol, size, span_start)
                table = self.read_file(path, symbol, size).table
                timestamps = table.column("timestamp")
                if table.num_rows:
                    bounds = pc.min_max(timestamps)
                    # a file wholly inside the range (most of a long read) is kept as read
                    if bounds["min"].value < lo.value or bounds["max"].value >= hi.value:
                        mask = pc.and_(pc.greater_equal(timestamps, lo), pc.less(timestamps, hi))
                        table = table.filter(mask)
                tables.append(table)
        if not tables:
            return BAR_SCHEMA.empty_table()
        # Files of one size are sorted and visited in order, so their concatenation is sorted.
        merged = pa.concat_tables(tables).replace_schema_metadata(None)
        if len(sizes) > 1:
            merged = merged.sort_by([("timestamp", "ascending"), ("bar_size", "ascending")])
        return merged

    def read(
        self, symbol: str, start: datetime, end: datetime, bar_size: BarSize | str | None = None
    ) -> list[PriceBar]:
        """:meth:`read_table` as PriceBar objects."""
        return bars_from_table(self.read_table(symbol, start, end, bar_size))

    def coverage(self, symbol: str, bar_size: BarSize | str) -> list[TimeRange]:
        """Merged ranges for which the store holds every ``bar_size`` bar of ``symbol``."""
        self._use()
        symbol = StoreLayout.symbol(symbol)
        size = parse_bar_size(bar_size)
        ranges: list[TimeRange] = []
        for span_start in self._spans(symbol, size):
            path = self._layout.price_file(symbol, size, span_start)
            ranges.extend(decode_coverage(read_parquet_metadata(path), path).get(size.value, ()))
        return merge_ranges(ranges)

    def gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[TimeRange]:
        """The parts of ``[start, end)`` not yet covered: what a resumable backfill still needs."""
        start, end = utc_input(start, "start"), utc_input(end, "end")
        if end <= start:
            return []
        return subtract_ranges((start, end), self.coverage(symbol, bar_size))
