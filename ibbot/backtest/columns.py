"""Whole columns of a backtest's outputs turned into text at once, exactly as per-value Python would.

The outputs hold one row per replayed instant (100,000 rows for 100,000 daily bars): formatting
them value by value in Python costs more than the replay. Timestamps are formatted by Arrow's cast to text;
floats by ``float.__repr__`` mapped over the list (Python's shortest round-trip form, which Arrow
does not write), so the text is byte for byte what ``datetime.isoformat()`` and ``repr`` give.
"""

from __future__ import annotations

import json
import math
from itertools import starmap
from typing import TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.backtest.builders import utc_from_micros

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = ["iso_utc", "join_rows", "json_numbers"]

_MICROS: Final = 1_000_000
# years 1000-9999: isoformat writes 4 digits, as Arrow's %Y does in this range
_FIRST: Final = -30_610_224_000 * _MICROS  # 1000-01-01T00:00:00Z
_LAST: Final = 253_402_300_799 * _MICROS  # 9999-12-31T23:59:59Z


def iso_utc(micros: Sequence[int]) -> list[str]:
    """``utc_from_micros(m).isoformat()`` of each instant (``...T00:00:00+00:00``)."""
    if not micros:
        return []
    column = pa.array(micros, pa.int64())
    low, high = pc.min_max(column).values()
    whole = pc.all(pc.equal(pc.multiply(pc.divide(column, _MICROS), _MICROS), column)).as_py()
    if not whole or low.as_py() < _FIRST or high.as_py() > _LAST:
        # fractional seconds (isoformat adds them) or years Arrow would write differently
        return [utc_from_micros(m).isoformat() for m in micros]
    # Arrow writes "YYYY-MM-DD hh:mm:ss" for whole seconds: isoformat's, with a space for the T
    plain = pc.divide(column, _MICROS).cast(pa.timestamp("s")).cast(pa.string())
    text: list[str] = pc.binary_join_element_wise(
        pc.replace_substring(plain, " ", "T", max_replacements=1), "+00:00", ""
    ).to_pylist()
    return text


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
