"""Whole columns of a backtest's outputs turned into text at once, exactly as per-value Python would.

The outputs hold one row per replayed instant (100,000 rows for 100,000 daily bars): formatting
them value by value in Python costs more than the replay. Arrow does the per-row work in C, and
the text is byte for byte what ``datetime.isoformat()``, ``date.isoformat()`` and ``repr`` give:

- timestamps by Arrow's cast to text (its ``YYYY-MM-DD hh:mm:ss`` is isoformat's with a space);
- floats by Arrow's cast to text, which writes the same shortest round-trip digits as ``repr``
  but lays them out differently in a few cases, fixed here column-wise: a whole number gets
  ``repr``'s ``.0``; a value Arrow writes with an exponent, one ``repr`` writes with an exponent
  (nonzero and under 1e-4) and a non-finite one are formatted by ``repr`` itself (rare in money
  columns: an account under ten billion never needs it).
"""

from __future__ import annotations

import json
import math
from itertools import starmap
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ibbot.backtest.builders import utc_from_micros

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from datetime import date

__all__ = [
    "arrow_indices",
    "concatenated",
    "csv_bytes",
    "float_text",
    "iso_dates",
    "iso_utc",
    "iso_utc_text",
    "join_rows",
    "json_numbers",
    "json_pair_bytes",
    "utc_dates",
]

_MICROS: Final = 1_000_000
_DAY_MICROS: Final = 86_400 * _MICROS
# years 1000-9999: isoformat writes 4 digits, as Arrow's %Y does in this range
_FIRST: Final = -30_610_224_000 * _MICROS  # 1000-01-01T00:00:00Z
_LAST: Final = 253_402_300_799 * _MICROS  # 9999-12-31T23:59:59Z
_FIRST_DAY: Final = -354_285  # 1000-01-01, days since the epoch
_LAST_DAY: Final = 2_932_896  # 9999-12-31
# repr writes an exponent under this magnitude (and from 1e16, where Arrow writes one too)
_SMALLEST_PLAIN: Final = 1e-4
_ROWS_PER_CHUNK: Final = 1 << 20  # joined text per chunk stays far below Arrow's 2 GiB per array


def iso_utc_text(micros: Sequence[int]) -> pa.StringArray:
    """``utc_from_micros(m).isoformat()`` of each instant (``...T00:00:00+00:00``), as Arrow text."""
    if not micros:
        return pa.array([], pa.string())
    column = pa.array(micros, pa.int64())
    values = column.to_numpy(zero_copy_only=True)
    if (
        int(values.min()) < _FIRST
        or int(values.max()) > _LAST
        or np.count_nonzero(values % _MICROS)
    ):  # fractional seconds (isoformat adds them) or years Arrow would write differently
        return pa.array([utc_from_micros(m).isoformat() for m in micros], pa.string())
    text: pa.StringArray
    if not np.count_nonzero(values % _DAY_MICROS):  # daily bars: midnights, written as dates
        days = (values // _DAY_MICROS).astype(np.int32)
        dates = pa.Array.from_buffers(pa.date32(), len(days), [None, pa.py_buffer(days)])
        text = pc.binary_join_element_wise(dates.cast(pa.string()), "T00:00:00+00:00", "")
        return text
    # Arrow writes "YYYY-MM-DD hh:mm:ss" for whole seconds: isoformat's, with a space for the T
    plain = pc.divide(column, _MICROS).cast(pa.timestamp("s")).cast(pa.string())
    text = pc.binary_join_element_wise(
        pc.replace_substring(plain, " ", "T", max_replacements=1), "+00:00", ""
    )
    return text


def iso_utc(micros: Sequence[int]) -> list[str]:
    """``utc_from_micros(m).isoformat()`` of each instant, as a list."""
    text: list[str] = iso_utc_text(micros).to_pylist()
    return text


def iso_dates(days: Sequence[date]) -> pa.StringArray:
    """``day.isoformat()`` of each date, as Arrow text."""
    column = pa.array(days, pa.date32())
    if len(column):
        low, high = pc.min_max(column.cast(pa.int32())).values()
        if low.as_py() < _FIRST_DAY or high.as_py() > _LAST_DAY:  # Arrow would not pad year 999
            return pa.array([day.isoformat() for day in days], pa.string())
    text: pa.StringArray = column.cast(pa.string())
    return text


_RUNS_WORTH_IT: Final = 0.75
"""Below this share of runs to values, :func:`float_text` formats each run once."""


def float_text(values: Sequence[float]) -> pa.StringArray:
    """``repr`` of each float (Python's shortest round-trip text), as Arrow text.

    A column that repeats itself row after row (the cash between fills, the equity and exposure
    while nothing is held) is formatted once per run of equal values (equal bits: ``-0.0`` and
    ``0.0`` are written differently) and the text repeated by index.
    """
    column = pa.array(values, pa.float64())
    rows = len(column)
    if rows > 1:
        bits = column.to_numpy(zero_copy_only=True).view(np.int64)
        changes = np.flatnonzero(bits[1:] != bits[:-1])
        if len(changes) + 1 < rows * _RUNS_WORTH_IT:
            starts = np.concatenate(([0], changes + 1))
            runs = pa.Array.from_buffers(pa.int64(), len(starts), [None, pa.py_buffer(starts)])
            text = _float_text(column.take(runs))
            index = np.zeros(rows, dtype=np.int64)
            index[changes + 1] = 1
            positions = np.cumsum(index)
            return text.take(
                pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(positions)])
            )
    return _float_text(column)


def _float_text(column: pa.DoubleArray) -> pa.StringArray:
    """:func:`float_text` of an Arrow column, value by value."""
    text = column.cast(pa.string())
    size = pc.abs(column)
    odd = pc.or_(
        pc.or_(pc.match_substring(text, "e"), pc.invert(pc.is_finite(column))),
        pc.and_(pc.less(size, _SMALLEST_PLAIN), pc.not_equal(size, 0.0)),
    )
    # "12" for 12.0 and "-0" for -0.0: repr has the ".0" (the odd ones are replaced below)
    whole = pc.invert(pc.match_substring(text, "."))
    wholes = pc.sum(whole).as_py() or 0
    if wholes:  # a few (round amounts): joined alone, not the whole column
        joined = pc.binary_join_element_wise(text.filter(whole), ".0", "")
        text = pc.replace_with_mask(text, whole, joined)
    if pc.any(odd).as_py():
        replacements = [repr(column[i].as_py()) for i in pc.indices_nonzero(odd).to_pylist()]
        text = pc.replace_with_mask(text, odd, pa.array(replacements, pa.string()))
    result: pa.StringArray = text
    return result


def arrow_indices(indices: np.ndarray[Any, np.dtype[np.intp]]) -> pa.Int64Array:
    """Row numbers from numpy as an Arrow array, sharing the memory (``pa.array`` of a numpy
    array would also load ``numpy.ma``, some 30 ms the first time)."""
    column = np.ascontiguousarray(indices, dtype=np.int64)
    result: pa.Int64Array = pa.Array.from_buffers(
        pa.int64(), len(column), [None, pa.py_buffer(column)]
    )
    return result


def utc_dates(stamps: pa.StringArray) -> pa.StringArray:
    """The ``YYYY-MM-DD`` of :func:`iso_utc_text`'s timestamps (their first ten characters)."""
    dates: pa.StringArray = pc.utf8_slice_codeunits(stamps, 0, 10)
    return dates


def csv_bytes(*columns: pa.StringArray) -> bytes:
    """Rows of comma-separated cells, each line ending in a newline (no quoting: the cells hold
    no comma, quote or line break), joined by Arrow, as the UTF-8 bytes Arrow holds."""
    if not columns:
        return b""
    rows = len(columns[0])
    if any(len(column) != rows for column in columns):
        raise ValueError("columns of different lengths")
    parts = []
    for start in range(0, rows, _ROWS_PER_CHUNK):
        chunk = [column.slice(start, _ROWS_PER_CHUNK) for column in columns]
        # the last cell with its newline, then one join: the lines made once, not twice
        chunk[-1] = pc.binary_join_element_wise(chunk[-1], "", "\n")  # cell + "\n" + ""
        parts.append(concatenated(pc.binary_join_element_wise(*chunk, ",")))
    return b"".join(parts)


def json_pair_bytes(
    days: Sequence[date],
    values: Sequence[float],
    dates: pa.StringArray | None = None,
    numbers: pa.StringArray | None = None,
) -> bytes:
    """``json.dumps`` of ``[[day.isoformat(), value], ...]`` without its brackets and spaces:
    ``["2024-01-02",1.5],["2024-01-03",2.0]`` (non-finite values as ``NaN``/``Infinity``), as
    the UTF-8 bytes Arrow makes (a long run's page writes them as they are, not decoded and
    encoded again).

    ``dates`` and ``numbers`` are :func:`iso_dates` of ``days`` and :func:`float_text` of
    ``values`` when the caller has them already.
    """
    if len(days) != len(values):
        raise ValueError("days and values of different lengths")
    if not days:
        return b""
    if not all(map(math.isfinite, values)):
        text = ",".join(f'["{day}",{json.dumps(v)}]' for day, v in zip(days, values, strict=True))
        return text.encode("utf-8")
    parts = []
    if dates is None:
        dates = iso_dates(days)
    if numbers is None:
        numbers = float_text(values)
    for start in range(0, len(days), _ROWS_PER_CHUNK):
        pairs = pc.binary_join_element_wise(
            '["',
            dates.slice(start, _ROWS_PER_CHUNK),
            '",',
            numbers.slice(start, _ROWS_PER_CHUNK),
            "],",
            "",
        )
        parts.append(concatenated(pairs))
    return b"".join(parts)[:-1]  # the last pair's ","


def concatenated(text: pa.StringArray) -> bytes:
    """Every value of ``text`` (no nulls) one after another: Arrow keeps them so in one buffer."""
    if not len(text):
        return b""
    _, offsets, data = text.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)
    first, last = int(bounds[text.offset]), int(bounds[text.offset + len(text)])
    raw: bytes = data[first:last].to_pybytes()
    return raw


def json_numbers(values: Sequence[float]) -> Iterator[str]:
    """``json.dumps`` of each number, lazily: ``repr`` for finite ones, ``NaN``/``Infinity``
    otherwise."""
    if all(map(math.isfinite, values)):
        return map(repr, values)
    return map(json.dumps, values)


def join_rows(*columns: Iterable[str]) -> str:
    """Rows of comma-separated cells, each line ending in a newline (no quoting: the cells hold
    no comma, quote or line break). Columns may be lazy (``map(repr, values)``): a cell is made
    only when its row is."""
    return "".join(starmap(_row, zip(*columns, strict=True)))


def _row(*cells: str) -> str:
    return ",".join(cells) + "\n"
