"""The replay's input, loaded once: every bar as plain columns in (timestamp, symbol) order, and the
fundamentals records in the order they became known.

Bars are read with one ``read_bars_table`` per symbol (on a few threads: Parquet decoding releases
the GIL), merged by time with one stable sort of the timestamps over NumPy columns, then turned into
Python lists column by column, so the replay loop indexes lists and never touches Parquet or builds
an object it does not hand to a strategy. The outputs' NumPy columns (:class:`FeedArrays`) fall out
of the same merge and are kept with the feed.
"""

from __future__ import annotations

import operator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ibbot.backtest.builders import utc_from_micros
from ibbot.backtest.errors import BacktestError, BacktestInputError
from ibbot.backtest.feed_arrays import FeedArrays
from ibbot.models import BarSize, FundamentalData, PriceBar, arrow_schema

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ibbot.store import DataStore

__all__ = ["BarFeed", "load_bars", "load_fundamentals"]


@dataclass(frozen=True, slots=True)
class BarFeed:
    """Bars of one size as parallel columns, sorted by timestamp and then symbol.

    ``micros`` are the bar starts as microseconds since the epoch (cheap to compare); ``times`` the
    same instants as UTC datetimes, one object per distinct instant (symbols share them).
    """

    bar_size: BarSize
    symbols: list[str]
    micros: list[int]
    times: list[datetime]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]
    wap: list[float | None]
    bar_count: list[int | None]
    arrays: FeedArrays | None = field(default=None, compare=False, repr=False)
    """The outputs' NumPy columns (:meth:`FeedArrays.of` this feed), when the loader made them."""

    def __len__(self) -> int:
        return len(self.micros)

    @property
    def universe(self) -> list[str]:
        """The distinct symbols, sorted."""
        if self.arrays is not None:
            return sorted(self.arrays.names)  # no pass over every row
        return sorted(set(self.symbols))

    @classmethod
    def from_table(cls, table: pa.Table, bar_size: BarSize) -> BarFeed:
        """A feed from a table in ``arrow_schema(PriceBar)`` of one bar size (any row order)."""
        # one chunk per file read: sorting and converting one contiguous table is faster
        table = table.combine_chunks().sort_by(
            [("timestamp", "ascending"), ("symbol", "ascending")]
        )
        return cls._from_sorted(table, bar_size)

    @classmethod
    def _from_sorted(cls, table: pa.Table, bar_size: BarSize) -> BarFeed:
        """A feed from a table already sorted by timestamp, then symbol."""
        stamps = table.column("timestamp").cast(pa.int64()).combine_chunks()
        micros: list[int] = _pylist(stamps)
        # Rows are sorted by time, so the bars of one instant are adjacent (one run each): they
        # share one datetime object, and every row of a symbol shares one string (memory, not
        # speed). Both are built column-wise: no Python loop per row.
        runs = pc.run_end_encode(stamps)
        moments = _utc_times(runs.values)
        times: list[datetime] = moments  # one bar per instant (one symbol): the rows' own order
        if len(moments) != len(micros):
            ends = runs.run_ends.to_pylist()
            lengths = map(operator.sub, ends, [0, *ends[:-1]])
            times = list(chain.from_iterable(map(repeat, moments, lengths)))
        column = table.column("symbol")
        names: list[str] = pc.unique(column).to_pylist()
        if len(names) == 1:
            symbols = names * len(micros)  # one symbol: no per-row lookup
        else:
            encoded = column.combine_chunks().dictionary_encode()
            names = encoded.dictionary.to_pylist()
            symbols = list(map(names.__getitem__, _pylist(encoded.indices)))
        return cls(
            bar_size=bar_size,
            symbols=symbols,
            micros=micros,
            times=times,
            open=_pylist(table.column("open")),
            high=_pylist(table.column("high")),
            low=_pylist(table.column("low")),
            close=_pylist(table.column("close")),
            volume=_pylist(table.column("volume")),
            wap=_pylist(table.column("wap")),
            bar_count=_pylist(table.column("bar_count")),
        )

    @classmethod
    def from_bars(cls, bars: Sequence[PriceBar]) -> BarFeed:
        """A feed from PriceBars of one size (tests and small inputs)."""
        from ibbot.store import bars_to_table  # noqa: PLC0415 - the store is only needed here

        sizes = {bar.bar_size for bar in bars}
        if len(sizes) != 1:
            raise BacktestInputError(f"a feed needs bars of exactly one size, got {sorted(sizes)}")
        return cls.from_table(bars_to_table(bars), sizes.pop())


def _pylist(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``column.to_pylist()``: through NumPy when there is no null, twice as fast for numbers."""
    if column.null_count:
        return column.to_pylist()  # type: ignore[no-any-return]
    return column.to_numpy().tolist()  # type: ignore[no-any-return]


def _utc_times(micros: pa.Int64Array | IntArray) -> list[datetime]:
    """``[utc_from_micros(m) for m in micros]``, without a Python call per value when it can.

    Bars start on whole seconds (every stored bar does): then ``datetime.fromtimestamp(seconds,
    UTC)`` is mapped over the seconds in C, exact as :func:`utc_from_micros` is, about twice as
    fast. Where the platform's ``gmtime`` refuses a value (Windows before 1970), or a bar starts
    between seconds, the values are built one by one instead.
    """
    values = micros.to_numpy() if isinstance(micros, pa.Array) else micros
    seconds, rest = np.divmod(values, _MICROS)
    if not rest.any():
        try:
            return list(map(datetime.fromtimestamp, seconds.tolist(), repeat(UTC)))
        except (OverflowError, OSError, ValueError):
            pass
    return list(map(utc_from_micros, values.tolist()))


_MICROS = 1_000_000
BAR_TYPES = {column.name: column.type for column in arrow_schema(PriceBar)}
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def load_bars(
    store: DataStore,
    start: datetime,
    end: datetime,
    *,
    bar_size: BarSize | None = None,
    symbols: Sequence[str] | None = None,
) -> BarFeed:
    """Every stored bar of ``symbols`` (default: all) with ``start <= timestamp < end``.

    Without ``bar_size`` the range must hold bars of one size only; otherwise the choice is the
    user's (:class:`BacktestInputError` names the sizes found). No bars at all is a
    :class:`BacktestError`.
    """
    names = list(symbols) if symbols is not None else store.symbols()
    # one symbol per table, each in time order (the store sorts them; checked, not trusted)
    tables = [t for t in _read_tables(store, names, start, end, bar_size) if t.num_rows]
    # in symbol order, a stable sort by time alone orders the bars of an instant by symbol too
    tables.sort(key=lambda t: t.column("symbol")[0].as_py())
    span = f"{start.date().isoformat()} .. {end.date().isoformat()}"
    if not tables:
        which = f"{bar_size.value} bars" if bar_size is not None else "bars"
        raise BacktestError(
            f"no {which} stored for {span} (in {_location(store)}); "
            "collect some, or load a CSV file with `ibbot import-bars`"
        )
    chunks = [chunk for t in tables for chunk in t.column("bar_size").chunks]
    sizes = sorted(pc.unique(pa.chunked_array(chunks, pa.string())).to_pylist())
    if len(sizes) > 1:
        raise BacktestInputError(
            f"the store holds bars of several sizes for {span} ({', '.join(sizes)}): "
            "choose one with --bar-size"
        )
    feed = _merge(tables, BarSize(sizes[0]))
    del tables
    # the replay needs none of the Arrow memory: hand it back to the system before it runs
    pa.default_memory_pool().release_unused()
    return feed


_READERS = 4
"""Threads reading symbols' files at once (Parquet decoding and file reads release the GIL)."""


def _read_tables(
    store: DataStore,
    names: Sequence[str],
    start: datetime,
    end: datetime,
    bar_size: BarSize | None,
) -> list[pa.Table]:
    """``read_bars_table`` of each of ``names``, in that order, each made one contiguous chunk.

    Stores are thread-safe (see :class:`~ibbot.store.DataStore`); the first error in ``names``'
    order is raised, the one a loop would raise (it names the bad file).
    """

    def read(symbol: str) -> pa.Table:
        # made contiguous at once: the per-file chunks go back to the allocator (peak memory)
        return store.read_bars_table(symbol, start, end, bar_size).combine_chunks()

    if len(names) < 2:
        return [read(symbol) for symbol in names]
    workers = min(_READERS, len(names))
    with ThreadPoolExecutor(workers, thread_name_prefix="ibbot-load") as pool:
        return list(pool.map(read, names))


def _merge(tables: Sequence[pa.Table], bar_size: BarSize) -> BarFeed:
    """A feed from ``tables``: one symbol each, each in time order, in symbol order.

    Column-wise over NumPy: one stable sort of the concatenated timestamps orders every row by
    time, then symbol (the tables' order); each column is then gathered in that order and turned
    into a list in C. The bars of one instant share one datetime object, the rows of a symbol one
    string.
    """
    names: list[str] = [t.column("symbol")[0].as_py() for t in tables]
    lengths = np.fromiter((t.num_rows for t in tables), dtype=np.int64, count=len(tables))
    stamps = np.concatenate([_int64s(t.column("timestamp")) for t in tables])
    count = len(stamps)
    order: IntArray | None = None
    if len(tables) > 1 or (count > 1 and not bool((stamps[1:] >= stamps[:-1]).all())):
        order = np.argsort(stamps, kind="stable")  # runs already sorted: a merge, about O(n log k)
        stamps = stamps[order]

    def gather(name: str) -> tuple[list[Any], FloatArray | None]:
        chunks = [chunk for t in tables for chunk in t.column(name).chunks]
        column = pa.chunked_array(chunks, BAR_TYPES[name])
        if column.null_count == count:
            return [None] * count, None
        if column.null_count:  # a few nulls: Arrow keeps them as None
            array = column.combine_chunks()
            return (array if order is None else array.take(order)).to_pylist(), None
        values = column.to_numpy()
        if order is not None:
            values = values[order]
        return values.tolist(), values

    close, close_values = gather("close")
    codes = np.repeat(np.arange(len(tables), dtype=np.int64), lengths)
    if order is not None:
        codes = codes[order]
    # one symbol: no per-row lookup
    symbols = names * count if len(names) == 1 else _objects(names)[codes].tolist()
    arrays = None
    if close_values is not None and len(set(names)) == len(names):
        rows = np.arange(count, dtype=np.int64)
        grouped = rows
        if order is not None:
            grouped = np.empty(count, dtype=np.int64)
            grouped[order] = rows  # each table's rows, where they landed: ascending per symbol
        bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        arrays = FeedArrays(names, codes, stamps, close_values, grouped, bounds)
    return BarFeed(
        bar_size=bar_size,
        symbols=symbols,
        micros=stamps.tolist(),
        times=_instants(stamps),
        open=gather("open")[0],
        high=gather("high")[0],
        low=gather("low")[0],
        close=close,
        volume=gather("volume")[0],
        wap=gather("wap")[0],
        bar_count=gather("bar_count")[0],
        arrays=arrays,
    )


def _int64s(column: pa.ChunkedArray) -> IntArray:
    """A timestamp column as int64 microseconds (no nulls: the store refuses them)."""
    values: IntArray = column.cast(pa.int64()).to_numpy()
    return values


def _objects(values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """``values`` as a NumPy object array (the objects themselves, not converted)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _instants(stamps: IntArray) -> list[datetime]:
    """A UTC datetime per row of the sorted ``stamps``, one object per distinct instant."""
    if not len(stamps):
        return []
    change = np.empty(len(stamps), dtype=bool)
    change[0] = True
    np.not_equal(stamps[1:], stamps[:-1], out=change[1:])
    # NumPy in, not pa.array(...): that would import numpy.ma on first use (~10-30 ms)
    moments = _utc_times(stamps[change])
    if len(moments) == len(stamps):
        return moments
    return _objects(moments)[np.cumsum(change) - 1].tolist()  # type: ignore[no-any-return]


def load_fundamentals(
    store: DataStore, symbols: Sequence[str], start: datetime, end: datetime
) -> list[FundamentalData]:
    """The records a strategy would have had by ``start``, then those that arrive before ``end``.

    Before ``start`` only the latest record of each (source, report type) counts, as if a
    collector had fetched each report once before the run; from ``start`` on, every record is
    kept. Sorted by timestamp, then symbol, then stored order, which is the order of delivery.
    """
    records: list[FundamentalData] = []
    for symbol in symbols:
        history = store.read_fundamentals(symbol, None, end)
        latest: dict[tuple[str, str], FundamentalData] = {}
        for record in history:
            if record.timestamp < start:
                latest[record.source, record.report_type] = record
            else:
                records.append(record)
        records.extend(latest.values())
    records.sort(key=_delivery_order)  # stable: equal keys keep the stored order
    return records


def _delivery_order(record: FundamentalData) -> tuple[datetime, str]:
    return record.timestamp, record.symbol


def _location(store: DataStore) -> str:
    """Where ``store`` keeps its data, for messages (no import of the store at module load)."""
    from ibbot.store.factory import store_location  # noqa: PLC0415

    return store_location(store)
