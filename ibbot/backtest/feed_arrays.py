"""The bar feed's columns the outputs read, as numpy arrays made once.

The feed keeps Python lists for the replay; the buy-and-hold benchmark and the report's symbol
charts read the same columns whole (500,000 rows for 100 symbols x 20 years), so they are turned
into arrays once, with each symbol's rows found by one stable sort of the symbol codes. A feed
from :func:`~ibbot.backtest.feed.load_bars` carries them already (its merge makes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from ibbot.backtest.feed import BarFeed

__all__ = ["FeedArrays"]

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class FeedArrays:
    """``feed``'s symbols (as codes into ``names``), bar starts and closes, row for row."""

    names: list[str]
    codes: IntArray
    micros: IntArray
    close: FloatArray
    order: IntArray
    """Every row, grouped by symbol code, each group in row order."""
    bounds: IntArray
    """Where each code's group starts in ``order`` (and, last, where the groups end)."""

    @classmethod
    def of(cls, feed: BarFeed) -> FeedArrays:
        """``feed``'s arrays: those its loader made while merging, or made here from its lists."""
        if feed.arrays is not None:
            return feed.arrays
        encoded = pa.array(feed.symbols, pa.string()).dictionary_encode()
        names: list[str] = encoded.dictionary.to_pylist()
        codes = np.asarray(encoded.indices).astype(np.int64)
        # a stable sort groups the rows by symbol; on 16-bit keys numpy sorts by radix, in O(n)
        keys = codes.astype(np.int16) if len(names) <= np.iinfo(np.int16).max else codes
        order = np.argsort(keys, kind="stable").astype(np.int64)
        counts = np.bincount(codes, minlength=len(names))
        bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(
            names,
            codes,
            np.asarray(feed.micros, dtype=np.int64),
            np.asarray(feed.close, dtype=np.float64),
            order,
            bounds,
        )

    def code(self, symbol: str) -> int | None:
        """``symbol``'s code, or None if the feed has no bar of it."""
        try:
            return self.names.index(symbol)
        except ValueError:
            return None

    def rows(self, code: int) -> IntArray:
        """The rows of the symbol coded ``code``, in order."""
        rows: IntArray = self.order[self.bounds[code] : self.bounds[code + 1]]
        return rows
