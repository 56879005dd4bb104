"""Price bars and their coverage in PostgreSQL: COPY in, COPY out as Arrow, one transaction each.

Bars are keyed ``(symbol, bar_size, ts)`` like the Parquet store's files: writing an overlapping
bar replaces the stored one (the later bar of one batch wins). A batch is sent with one binary
``COPY`` (built column-wise, :mod:`.binary_copy`): straight into ``bars`` when nothing
stored overlaps it and it holds no key twice (a bulk load), else into a temporary table merged with
``INSERT ... ON CONFLICT DO UPDATE``. Coverage ranges live in ``bar_coverage`` and are updated in
the same transaction as the bars, so a killed writer leaves neither half. Reads return each
column as one binary blob decoded by NumPy into Arrow: a backtest's table, no objects built.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.models import BarSize, PriceBar, arrow_schema
from ibbot.store.bars import bars_to_table, coverage_of, parse_bar_size
from ibbot.store.errors import InvalidStoreInput, utc_input
from ibbot.store.layout import StoreLayout
from ibbot.store.postgres.binary_copy import decode_columns, encode_bars, read_query
from ibbot.store.ranges import TimeRange, merge_ranges, subtract_ranges

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

__all__ = ["BAR_SCHEMA", "BarRows"]

BAR_SCHEMA = arrow_schema(PriceBar)
_COLUMNS = "symbol, ts, open, high, low, close, volume, bar_size, wap, bar_count"
_KEY = ("symbol", "timestamp", "bar_size")


def _has_duplicate_keys(table: pa.Table) -> bool:
    keys = table.group_by(list(_KEY), use_threads=False).aggregate([])
    return bool(keys.num_rows < table.num_rows)


class BarRows:
    """The ``bars`` and ``bar_coverage`` tables (see the module docstring)."""

    __slots__ = ()

    @staticmethod
    def write(
        conn: psycopg.Connection,
        symbol: str,
        bars: Sequence[PriceBar] | pa.Table,
        *,
        covering: TimeRange | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """Write ``bars`` and their coverage in the caller's transaction on ``conn``."""
        symbol = StoreLayout.symbol(symbol)
        table = bars if isinstance(bars, pa.Table) else bars_to_table(bars)
        symbols = pc.unique(table.column("symbol")).to_pylist()
        if symbols and symbols != [symbol]:
            stray = next(s for s in symbols if s != symbol)
            raise InvalidStoreInput(f"bar of {stray!r} given to write_bars({symbol!r})")
        added = coverage_of(table, covering, bar_size)
        if table.num_rows:
            BarRows._copy_in(conn, symbol, table)
        for size, ranges in added.items():
            stored = conn.execute(
                "SELECT range_start, range_end FROM bar_coverage"
                " WHERE symbol = %s AND bar_size = %s FOR UPDATE",
                (symbol, size),
            ).fetchall()
            merged = merge_ranges([*((s, e) for s, e in stored), *ranges])
            conn.execute(
                "DELETE FROM bar_coverage WHERE symbol = %s AND bar_size = %s", (symbol, size)
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO bar_coverage (symbol, bar_size, range_start, range_end)"
                    " VALUES (%s, %s, %s, %s)",
                    [(symbol, size, s, e) for s, e in merged],
                )

    @staticmethod
    def _copy_in(conn: psycopg.Connection, symbol: str, table: pa.Table) -> None:
        sizes = pc.unique(table.column("bar_size")).to_pylist()
        bounds = pc.min_max(table.column("timestamp"))
        overlap = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM bars WHERE symbol = %s AND bar_size = ANY(%s)"
            " AND ts BETWEEN %s AND %s)",
            (symbol, sizes, bounds["min"].as_py(), bounds["max"].as_py()),
        ).fetchone()
        duplicates = _has_duplicate_keys(table)
        with conn.cursor() as cur:
            if not (overlap and overlap[0]) and not duplicates:
                with cur.copy(f"COPY bars ({_COLUMNS}) FROM STDIN (FORMAT binary)") as copy:
                    copy.write(encode_bars(table, symbol))
                return
            cur.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS bars_in"
                " (LIKE bars INCLUDING DEFAULTS, ord bigint) ON COMMIT DELETE ROWS"
            )
            with cur.copy(f"COPY bars_in ({_COLUMNS}, ord) FROM STDIN (FORMAT binary)") as copy:
                copy.write(encode_bars(table, symbol, ordinal=True))
            # The last of a key's rows wins (only sorted for when the batch repeats a key); a
            # stored bar equal to the new one is left alone (a backfill re-fetching a window
            # mostly gets the same bars back, and an unchanged row costs no new row version).
            rows = (
                f"SELECT DISTINCT ON (symbol, bar_size, ts) {_COLUMNS} FROM bars_in"  # noqa: S608
                " ORDER BY symbol, bar_size, ts, ord DESC"
                if duplicates
                else f"SELECT {_COLUMNS} FROM bars_in"  # noqa: S608 - constants only
            )
            cur.execute(
                f"INSERT INTO bars ({_COLUMNS}) {rows}"
                " ON CONFLICT (symbol, bar_size, ts) DO UPDATE SET"
                " open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,"
                " close = EXCLUDED.close, volume = EXCLUDED.volume, wap = EXCLUDED.wap,"
                " bar_count = EXCLUDED.bar_count"
                " WHERE (bars.open, bars.high, bars.low, bars.close, bars.volume, bars.wap,"
                " bars.bar_count) IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low,"
                " EXCLUDED.close, EXCLUDED.volume, EXCLUDED.wap, EXCLUDED.bar_count)"
            )

    @staticmethod
    def read_table(
        conn: psycopg.Connection,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> pa.Table:
        """Bars with ``start <= ts < end`` (of one bar size, or all), sorted by time, as Arrow."""
        symbol = StoreLayout.symbol(symbol)
        start, end = utc_input(start, "start"), utc_input(end, "end")
        if end <= start:
            return BAR_SCHEMA.empty_table()
        sizes = [size.value for size in BarSize]
        # One size: the primary key's order is the answer's. Every size: one probe of the key
        # per size, merged by time (then size, in byte order like the files).
        wanted: str | list[str]
        if bar_size is None:
            size_is, order, wanted = "bar_size = ANY(%s)", "ts, bar_size", sizes
        else:
            size_is, order, wanted = "bar_size = %s", "ts", parse_bar_size(bar_size).value
        query = read_query(f"symbol = %s AND {size_is} AND ts >= %s AND ts < %s", order)
        row = conn.execute(
            query.encode(), [sizes, symbol, wanted, start, end], binary=True
        ).fetchone()
        if row is None:
            return BAR_SCHEMA.empty_table()
        return decode_columns(row, symbol, sizes, BAR_SCHEMA)

    @staticmethod
    def coverage(conn: psycopg.Connection, symbol: str, bar_size: BarSize | str) -> list[TimeRange]:
        """Merged ranges for which every ``bar_size`` bar of ``symbol`` is stored."""
        symbol = StoreLayout.symbol(symbol)
        size = parse_bar_size(bar_size).value
        rows = conn.execute(
            "SELECT range_start, range_end FROM bar_coverage WHERE symbol = %s AND bar_size = %s"
            " ORDER BY range_start",
            (symbol, size),
        ).fetchall()
        return merge_ranges((s.astimezone(UTC), e.astimezone(UTC)) for s, e in rows)

    @staticmethod
    def gaps(
        conn: psycopg.Connection,
        symbol: str,
        bar_size: BarSize | str,
        start: datetime,
        end: datetime,
    ) -> list[TimeRange]:
        """The parts of ``[start, end)`` not yet covered."""
        start, end = utc_input(start, "start"), utc_input(end, "end")
        if end <= start:
            return []
        return subtract_ranges((start, end), BarRows.coverage(conn, symbol, bar_size))

    @staticmethod
    def symbols(conn: psycopg.Connection) -> list[str]:
        """Symbols with stored bars or coverage (every write records coverage), sorted."""
        rows = conn.execute("SELECT DISTINCT symbol FROM bar_coverage").fetchall()
        return sorted(row[0] for row in rows)
