"""Price bars in ``prices/<SYMBOL>/<YYYY-MM>.parquet``: merge, de-duplicate, range reads, coverage.

A month file holds every bar size of that symbol and month (UTC, by bar start), sorted by
``(timestamp, bar_size)``, in exactly ``arrow_schema(PriceBar)``. Writing bars that overlap stored
ones replaces them: the key is ``(symbol, timestamp, bar_size)`` and the newest write wins (within
one call, the later bar in the list wins).

Coverage, the time ranges for which the store holds *everything* there is (a backfill asked IB for
them, or live bars arrived for them), is kept in each month file's metadata (``ibbot.coverage``),
so data and coverage are committed by the same atomic rename and can never disagree.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.clock import ensure_utc
from ibbot.errors import StoreError
from ibbot.models import BarSize, PriceBar, arrow_schema
from ibbot.store.errors import InvalidStoreInput
from ibbot.store.jsondoc import loads
from ibbot.store.layout import StoreLayout, next_month
from ibbot.store.parquet_io import ParquetDoc, read_parquet, read_parquet_metadata, write_parquet
from ibbot.store.ranges import TimeRange, merge_ranges, split_by_month, subtract_ranges

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from ibbot.store.locks import KeyedLocks

__all__ = ["BarFiles", "bars_from_table", "bars_to_table", "parse_bar_size"]

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


def _utc(value: datetime, name: str) -> datetime:
    try:
        return ensure_utc(value, field=name)
    except ValueError as exc:
        raise InvalidStoreInput(str(exc)) from exc


def _encode_coverage(coverage: dict[str, list[TimeRange]]) -> str:
    return json.dumps(
        {
            size: [[start.isoformat(), end.isoformat()] for start, end in ranges]
            for size, ranges in sorted(coverage.items())
            if ranges
        },
        separators=(",", ":"),
    )


def _decode_coverage(metadata: Mapping[str, str], path: Path) -> dict[str, list[TimeRange]]:
    text = metadata.get(f"ibbot.{_COVERAGE_KEY}")
    if text is None:
        return {}
    try:
        raw = loads(text)
        return {
            BarSize(size).value: [
                (_utc(datetime.fromisoformat(s), "start"), _utc(datetime.fromisoformat(e), "end"))
                for s, e in ranges
            ]
            for size, ranges in raw.items()
        }
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"corrupt coverage metadata in {path}: {exc}") from exc


def _coverage_of(
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
    start, end = _utc(covering[0], "covering start"), _utc(covering[1], "covering end")
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
    """Rows of ``table`` with one row per key (the last one wins), sorted by time then bar size."""
    if table.num_rows:
        numbered = table.append_column(_ROW, pa.arange(0, table.num_rows))
        keep = numbered.group_by(list(KEY_COLUMNS), use_threads=False).aggregate([(_ROW, "max")])
        if keep.num_rows < table.num_rows:
            table = table.take(keep.column(f"{_ROW}_max"))
    return table.sort_by([("timestamp", "ascending"), ("bar_size", "ascending")])


class BarFiles:
    """All bar files under ``prices/`` (see the module docstring for the rules)."""

    __slots__ = ("_layout", "_locks")

    def __init__(self, layout: StoreLayout, locks: KeyedLocks) -> None:
        self._layout = layout
        self._locks = locks

    def _months(self, symbol: str) -> dict[datetime, str]:
        directory = self._layout.price_dir(symbol)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"cannot list {directory}: {exc}") from exc
        months = {}
        for name in names:
            month = StoreLayout.parse_price_file(name)
            if month is not None:
                months[month] = name
        return months

    def _read_month(self, symbol: str, month: datetime) -> ParquetDoc:
        path = self._layout.price_file(symbol, month)
        doc = read_parquet(path, BAR_SCHEMA, _REQUIRED)
        symbols = pc.unique(doc.table.column("symbol")).to_pylist()
        if symbols and symbols != [symbol]:
            raise StoreError(
                f"foreign Parquet file {path}: holds bars of {symbols}, not {symbol!r}"
            )
        for size in pc.unique(doc.table.column("bar_size")).to_pylist():
            try:
                BarSize(size)
            except ValueError as exc:
                raise StoreError(f"corrupt Parquet file {path}: unknown bar size {size!r}") from exc
        return doc

    def symbols(self) -> list[str]:
        """Symbols with a price directory, sorted (directories with invalid names are ignored)."""
        try:
            entries = list(os.scandir(self._layout.prices))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {self._layout.prices}: {exc}") from exc
        found = []
        for entry in entries:
            try:
                if entry.is_dir():
                    found.append(StoreLayout.symbol(entry.name))
            except InvalidStoreInput:
                continue
        return sorted(found)

    def write(
        self,
        symbol: str,
        bars: Sequence[PriceBar],
        *,
        covering: TimeRange | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """Merge ``bars`` into the month files and record their coverage.

        Without ``covering``, a batch covers the span from its first bar's start to its last bar's
        end, per bar size. With ``covering``, the batch is declared complete for that whole range
        (for example the window a backfill asked for, including closed-market stretches without
        bars); the batch must then hold one bar size (or ``bar_size`` names it when ``bars`` is
        empty) and every bar must start inside the range.
        """
        symbol = StoreLayout.symbol(symbol)
        table = bars_to_table(bars)
        symbols = pc.unique(table.column("symbol")).to_pylist()
        if symbols and symbols != [symbol]:
            stray = next(s for s in symbols if s != symbol)
            raise InvalidStoreInput(f"bar of {stray!r} given to write_bars({symbol!r})")
        added = _coverage_of(table, covering, bar_size)
        coverage_by_month: dict[datetime, dict[str, list[TimeRange]]] = {}
        for size, ranges in added.items():
            for month, pieces in split_by_month(ranges).items():
                coverage_by_month.setdefault(month, {})[size] = pieces
        month_keys = pc.floor_temporal(table.column("timestamp"), unit="month")
        by_month = {
            ensure_utc(month): table.filter(pc.equal(month_keys, month))
            for month in pc.unique(month_keys).to_pylist()
        }
        months = sorted(set(by_month) | set(coverage_by_month))
        with self._locks("prices", symbol):
            existing = self._months(symbol)
            # Read every month first: a corrupt file stops the write before anything changes.
            old = {m: self._read_month(symbol, m) for m in months if m in existing}
            for month in months:
                path = self._layout.price_file(symbol, month)
                new_table = by_month.get(month, BAR_SCHEMA.empty_table())
                before = old.get(month)
                if before is None:
                    merged, coverage = new_table, {}
                else:
                    merged = pa.concat_tables([before.table, new_table])
                    coverage = _decode_coverage(before.metadata, path)
                for size, pieces in coverage_by_month.get(month, {}).items():
                    coverage[size] = merge_ranges([*coverage.get(size, ()), *pieces])
                write_parquet(
                    path, _dedupe_sorted(merged), {_COVERAGE_KEY: _encode_coverage(coverage)}
                )

    def read_table(
        self, symbol: str, start: datetime, end: datetime, bar_size: BarSize | str | None = None
    ) -> pa.Table:
        """Bars with ``start <= timestamp < end`` (of one bar size, or all), sorted by time."""
        symbol = StoreLayout.symbol(symbol)
        start, end = _utc(start, "start"), _utc(end, "end")
        size = None if bar_size is None else parse_bar_size(bar_size).value
        lo = pa.scalar(start, type=_TIMESTAMP_TYPE)
        hi = pa.scalar(end, type=_TIMESTAMP_TYPE)
        tables = []
        for month in sorted(self._months(symbol)):
            if month >= end or next_month(month) <= start:
                continue
            table = self._read_month(symbol, month).table
            timestamps = table.column("timestamp")
            mask = pc.and_(pc.greater_equal(timestamps, lo), pc.less(timestamps, hi))
            if size is not None:
                mask = pc.and_(mask, pc.equal(table.column("bar_size"), size))
            tables.append(table.filter(mask))
        if not tables:
            return BAR_SCHEMA.empty_table()
        # Month files are sorted and visited in order, so the concatenation is already sorted.
        return pa.concat_tables(tables).replace_schema_metadata(None)

    def read(
        self, symbol: str, start: datetime, end: datetime, bar_size: BarSize | str | None = None
    ) -> list[PriceBar]:
        """:meth:`read_table` as PriceBar objects."""
        return bars_from_table(self.read_table(symbol, start, end, bar_size))

    def coverage(self, symbol: str, bar_size: BarSize | str) -> list[TimeRange]:
        """Merged ranges for which the store holds every ``bar_size`` bar of ``symbol``."""
        symbol = StoreLayout.symbol(symbol)
        size = parse_bar_size(bar_size).value
        ranges: list[TimeRange] = []
        for month in sorted(self._months(symbol)):
            path = self._layout.price_file(symbol, month)
            ranges.extend(_decode_coverage(read_parquet_metadata(path), path).get(size, ()))
        return merge_ranges(ranges)

    def gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[TimeRange]:
        """The parts of ``[start, end)`` not yet covered: what a resumable backfill still needs."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return []
        return subtract_ranges((start, end), self.coverage(symbol, bar_size))
