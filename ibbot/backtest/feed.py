"""The replay's input, loaded once: every bar as plain columns in (timestamp, symbol) order, and the
fundamentals records in the order they became known.

Bars are read with one ``read_bars_table`` per symbol and merged and sorted by Arrow, then turned
into Python lists column by column, so the replay loop indexes lists and never touches Parquet or
builds an object it does not hand to a strategy.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ibbot.backtest.builders import utc_from_micros
from ibbot.backtest.errors import BacktestError, BacktestInputError
from ibbot.models import BarSize, FundamentalData, PriceBar

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

    def __len__(self) -> int:
        return len(self.micros)

    @property
    def universe(self) -> list[str]:
        """The distinct symbols, sorted."""
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


def _ascending(column: pa.ChunkedArray) -> bool:
    """True when ``column`` never decreases (a vectorised comparison of each value with the next)."""
    if len(column) < 2:
        return True
    return bool(pc.all(pc.less_equal(column[:-1], column[1:])).as_py())


def _pylist(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``column.to_pylist()``: through NumPy when there is no null, twice as fast for numbers."""
    if column.null_count:
        return column.to_pylist()  # type: ignore[no-any-return]
    return column.to_numpy().tolist()  # type: ignore[no-any-return]


def _utc_times(micros: pa.Int64Array) -> list[datetime]:
    """``[utc_from_micros(m) for m in micros]``, without a Python call per value when it can.

    Bars start on whole seconds (every stored bar does): then ``datetime.fromtimestamp(seconds,
    UTC)`` is mapped over the seconds in C, exact as :func:`utc_from_micros` is, about twice as
    fast. Where the platform's ``gmtime`` refuses a value (Windows before 1970), or a bar starts
    between seconds, the values are built one by one instead.
    """
    seconds, rest = np.divmod(micros.to_numpy(), _MICROS)
    if not rest.any():
        try:
            return list(map(datetime.fromtimestamp, seconds.tolist(), repeat(UTC)))
        except (OverflowError, OSError, ValueError):
            pass
    return list(map(utc_from_micros, micros.to_pylist()))


_MICROS = 1_000_000


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
    if len(names) == 1:
        # one symbol: the store gives its bars in time order already (checked, not trusted)
        table = store.read_bars_table(names[0], start, end, bar_size)
        if not _ascending(table.column("timestamp")):
            table = table.sort_by("timestamp")
    else:
        # each symbol's table holds a chunk per file read: made contiguous at once, the chunks'
        # buffers go back to the allocator before the next symbol is read (peak memory)
        tables = [
            store.read_bars_table(symbol, start, end, bar_size).combine_chunks() for symbol in names
        ]
        # One symbol per table: in symbol order, a stable sort by time alone orders the bars of
        # an instant by symbol too (several times faster than sorting on both columns).
        tables = sorted(
            (t for t in tables if t.num_rows), key=lambda t: t.column("symbol")[0].as_py()
        )
        table = pa.concat_tables(tables).sort_by("timestamp") if tables else None
        del tables
    span = f"{start.date().isoformat()} .. {end.date().isoformat()}"
    if table is None or table.num_rows == 0:
        which = f"{bar_size.value} bars" if bar_size is not None else "bars"
        raise BacktestError(
            f"no {which} stored for {span} (in {_location(store)}); "
            "collect some, or load a CSV file with `ibbot import-bars`"
        )
    sizes = sorted(pc.unique(table.column("bar_size")).to_pylist())
    if len(sizes) > 1:
        raise BacktestInputError(
            f"the store holds bars of several sizes for {span} ({', '.join(sizes)}): "
            "choose one with --bar-size"
        )
    feed = BarFeed._from_sorted(table, BarSize(sizes[0]))  # sorted just above
    del table
    # the replay needs none of the Arrow memory: hand it back to the system before it runs
    pa.default_memory_pool().release_unused()
    return feed


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
