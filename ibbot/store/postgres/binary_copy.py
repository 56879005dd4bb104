"""PostgreSQL's binary COPY format for bars, encoded and decoded a whole column at a time.

A row of the binary format is a field count, then each field as a length and its bytes (length
-1 for NULL). Within one batch of bars most rows have the same shape (one symbol, a few bar sizes,
``wap``/``bar_count`` set or not), so rows are grouped by shape and each group becomes one NumPy
structured array: the bytes are built and parsed with no Python loop per row, which is what makes
the COPY path fast (see benchmarks/store.py). Reads come back as one blob per column
(:func:`read_query`), parsed the same way.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ibbot.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["HEADER", "TRAILER", "decode_columns", "encode_bars", "read_query"]

HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER: Final = struct.pack(">h", -1)
# PostgreSQL counts time from 2000-01-01 UTC; Arrow from 1970-01-01 UTC (both in microseconds).
_PG_EPOCH_US: Final = 946_684_800_000_000
_FLOATS: Final = ("open", "high", "low", "close", "volume")


def _text(name: str, value: bytes) -> list[tuple[str, object]]:
    """A text field of a fixed value (symbols and bar sizes are never empty)."""
    return [(f"{name}_len", ">i4"), (name, f"S{len(value)}")]


def encode_bars(table: pa.Table, symbol: str, *, ordinal: bool = False) -> bytes:
    """Rows of ``table`` (the bar schema) as binary COPY data for the columns
    ``symbol, ts, open, high, low, close, volume, bar_size, wap, bar_count`` (then ``ord``, the
    row's position in ``table``, when ``ordinal``)."""
    n = table.num_rows
    symbol_bytes = symbol.encode()
    micros = table.column("timestamp").cast(pa.int64()).to_numpy() - _PG_EPOCH_US
    floats = {name: table.column(name).to_numpy(zero_copy_only=False) for name in _FLOATS}
    wap_col, count_col = table.column("wap"), table.column("bar_count")
    wap_null = wap_col.is_null().to_numpy(zero_copy_only=False)
    count_null = count_col.is_null().to_numpy(zero_copy_only=False)
    wap = pc.fill_null(wap_col, 0.0).to_numpy(zero_copy_only=False)
    count = pc.fill_null(count_col, 0).to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(table.column("bar_size")).combine_chunks()
    size_codes = encoded.indices.to_numpy(zero_copy_only=False)
    sizes = [str(s).encode() for s in encoded.dictionary.to_pylist()]
    order = np.arange(n, dtype=np.int64)
    parts = [HEADER]
    fields = 11 if ordinal else 10
    for code, size in enumerate(sizes):
        for has_wap in (True, False):
            for has_count in (True, False):
                mask = (size_codes == code) & (wap_null != has_wap) & (count_null != has_count)
                rows = int(mask.sum())
                if not rows:
                    continue
                dtype: list[tuple[str, object]] = [("n", ">i2")]
                dtype += _text("symbol", symbol_bytes)
                dtype += [("ts_len", ">i4"), ("ts", ">i8")]
                for name in _FLOATS:
                    dtype += [(f"{name}_len", ">i4"), (name, ">f8")]
                dtype += _text("bar_size", size)
                dtype += [("wap_len", ">i4")] + ([("wap", ">f8")] if has_wap else [])
                dtype += [("count_len", ">i4")] + ([("count", ">i8")] if has_count else [])
                if ordinal:
                    dtype += [("ord_len", ">i4"), ("ord", ">i8")]
                out = np.empty(rows, dtype=np.dtype(dtype))
                out["n"] = fields
                out["symbol_len"] = len(symbol_bytes)
                out["symbol"] = symbol_bytes
                out["ts_len"] = 8
                out["ts"] = micros[mask]
                for name in _FLOATS:
                    out[f"{name}_len"] = 8
                    out[name] = floats[name][mask]
                out["bar_size_len"] = len(size)
                out["bar_size"] = size
                out["wap_len"] = 8 if has_wap else -1
                if has_wap:
                    out["wap"] = wap[mask]
                out["count_len"] = 8 if has_count else -1
                if has_count:
                    out["count"] = count[mask]
                if ordinal:
                    out["ord_len"] = 8
                    out["ord"] = order[mask]
                parts.append(out.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)


def read_query(where: str, order: str) -> str:
    """A query returning the bars matching ``where`` as one row of column blobs (see below).

    Each column comes back as one ``bytea`` of its values' binary form (``float8send`` and
    friends: big-endian, fixed width), which NumPy reads in one call: no Python work per row
    (a COPY TO STDOUT arrives one row per call). Nullable values come with a flag column; the bar
    size as its 1-based index in the list given as the first parameter.
    """
    agg = "string_agg({}, ''::bytea)"
    columns = [
        "timestamptz_send(ts)",
        *(f"float8send({name})" for name in _FLOATS),
        "float8send(coalesce(wap, 0))",
        "boolsend(wap IS NULL)",
        "int8send(coalesce(bar_count, 0))",
        "boolsend(bar_count IS NULL)",
        "int2send(array_position(%s::text[], bar_size::text)::int2)",
    ]
    select = ", ".join(agg.format(column) for column in columns)
    return (
        f"SELECT count(*), {select} FROM"  # noqa: S608 - constants only
        f" (SELECT * FROM bars WHERE {where} ORDER BY {order}) AS matching"
    )


def decode_columns(
    row: Sequence[Any], symbol: str, sizes: Sequence[str], schema: pa.Schema
) -> pa.Table:
    """The one row of :func:`read_query` as a table in ``schema``, sorted by time then size."""
    n = int(row[0])
    if n == 0:
        return schema.empty_table()
    blobs = [bytes(blob) for blob in row[1:]]
    ts, *floats = (np.frombuffer(blob, dtype=">i8" if i == 0 else ">f8") for i, blob in
                   enumerate(blobs[:6]))  # fmt: skip
    wap = np.frombuffer(blobs[6], dtype=">f8")
    wap_null = np.frombuffer(blobs[7], dtype=np.bool_)
    count = np.frombuffer(blobs[8], dtype=">i8")
    count_null = np.frombuffer(blobs[9], dtype=np.bool_)
    size = np.frombuffer(blobs[10], dtype=">i2")
    if any(len(column) != n for column in (ts, *floats, wap, wap_null, count, count_null, size)):
        raise StoreError("unexpected bar data from the database (column lengths differ)")
    if (size < 1).any():
        raise StoreError("the database holds a bar of an unknown bar size")
    columns: dict[str, pa.Array] = {
        "symbol": pa.repeat(pa.scalar(symbol, type=pa.string()), n),
        "timestamp": pa.array(ts.astype(np.int64) + _PG_EPOCH_US).cast(
            schema.field("timestamp").type
        ),
        "bar_size": pa.array(list(sizes), type=pa.string()).take(
            pa.array(size.astype(np.int64) - 1)
        ),
        "wap": pa.array(wap.astype(np.float64), mask=wap_null.copy()),
        "bar_count": pa.array(count.astype(np.int64), mask=count_null.copy()),
    }
    for name, values in zip(_FLOATS, floats, strict=True):
        columns[name] = pa.array(values.astype(np.float64))
    table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
    # The subquery's order is what string_agg sees in practice; checked, as SQL does not promise it.
    keys = ts.astype(np.int64) * 32 + size.astype(np.int64)
    if n > 1 and not bool((np.diff(keys) >= 0).all()):
        table = table.sort_by([("timestamp", "ascending"), ("bar_size", "ascending")])
    return table
