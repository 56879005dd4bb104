"""Bar file paths: safe directory names per bar size, spans per bar size, names that parse back."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ibbot.models import BarSize
from ibbot.store import InvalidStoreInput
from ibbot.store.layout import StoreLayout, bar_dir_name
from ibbot.store.spans import Span, span_of

LAYOUT = StoreLayout(Path("/store"))


def test_every_bar_size_has_a_distinct_safe_directory_name() -> None:
    """Directory names are short, unique, made of digits and lower-case letters, and parse back."""
    names = [bar_dir_name(size) for size in BarSize]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[1-9][0-9]*[a-z]+", name) for name in names)
    assert [bar_dir_name(s) for s in (BarSize.SEC_5, BarSize.MIN_1, BarSize.HOUR_1)] == [
        "5s",
        "1min",
        "1h",
    ]
    assert [bar_dir_name(s) for s in (BarSize.DAY_1, BarSize.WEEK_1, BarSize.MONTH_1)] == [
        "1d",
        "1w",
        "1mo",
    ]
    for size in BarSize:
        assert StoreLayout.parse_bars_dir(f"bars={bar_dir_name(size)}") is size
    for other in ("bars=1 day", "bars=..", "bar_size=1d", "bars=", "1d", "bars=1D"):
        assert StoreLayout.parse_bars_dir(other) is None


@pytest.mark.parametrize("symbol", ["../x", "..", "", "aapl", "A/B", ".HIDDEN", "A=B", "X" * 33])
def test_unsafe_symbols_never_become_paths(symbol: str) -> None:
    """A symbol that could escape its directory or is not an IB symbol is refused, as before."""
    with pytest.raises(InvalidStoreInput, match="invalid symbol"):
        LAYOUT.price_dir(symbol, BarSize.DAY_1)
    assert StoreLayout.parse_symbol_dir(f"symbol={symbol}") is None


def test_paths_are_hive_partitions() -> None:
    """prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet, the span named for the bar size."""
    t = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    paths = {
        size: LAYOUT.price_file("BRK B", size, span_of(size).start(t))
        for size in (BarSize.SEC_1, BarSize.MIN_5, BarSize.HOUR_4, BarSize.DAY_1, BarSize.MONTH_1)
    }
    assert {size: str(path) for size, path in paths.items()} == {
        BarSize.SEC_1: "/store/prices/bars=1s/symbol=BRK B/2024-03.parquet",
        BarSize.MIN_5: "/store/prices/bars=5min/symbol=BRK B/2024-03.parquet",
        BarSize.HOUR_4: "/store/prices/bars=4h/symbol=BRK B/2024.parquet",
        BarSize.DAY_1: "/store/prices/bars=1d/symbol=BRK B/2020s.parquet",
        BarSize.MONTH_1: "/store/prices/bars=1mo/symbol=BRK B/all.parquet",
    }
    for size, path in paths.items():
        assert StoreLayout.parse_price_file(path.name, size) == span_of(size).start(t)
        assert StoreLayout.parse_symbol_dir(path.parent.name) == "BRK B"
    # A name of another span, or a temp file, is not a data file of this size.
    assert StoreLayout.parse_price_file("2024-03.parquet", BarSize.DAY_1) is None
    assert StoreLayout.parse_price_file("2024.parquet", BarSize.MIN_1) is None
    assert StoreLayout.parse_price_file(".2020s.parquet.1-ab.tmp", BarSize.DAY_1) is None
    assert StoreLayout.parse_price_file("2021s.parquet", BarSize.DAY_1) is None


def test_spans_by_bar_size() -> None:
    """Seconds and minutes by month, hours by year, days by decade, longer bars in one file."""
    assert {size: span_of(size) for size in BarSize} == {
        size: Span.MONTH if size.seconds < 3_600
        else Span.YEAR if size.seconds < 86_400
        else Span.DECADE if size is BarSize.DAY_1
        else Span.ALL
        for size in BarSize
    }  # fmt: skip


@pytest.mark.parametrize("span", list(Span))
def test_span_boundaries_and_range_splitting(span: Span) -> None:
    """A range cut at span starts covers it exactly, each piece inside its own span."""
    lo = datetime(2009, 11, 30, 23, tzinfo=UTC)
    hi = datetime(2031, 2, 1, 1, tzinfo=UTC)
    pieces = span.split_ranges([(lo, hi)])
    flat = [piece for start in sorted(pieces) for piece in pieces[start]]
    assert flat[0][0] == lo
    assert flat[-1][1] == hi
    assert all(a[1] == b[0] for a, b in itertools.pairwise(flat))
    for start, ranges in pieces.items():
        end = span.next(start)
        assert all(start <= a and (end is None or b <= end) for a, b in ranges)
        assert span.parse_stem(span.stem(start)) == start
        assert span.start(start) == start
        assert span.start(start + timedelta(hours=1)) == start
    assert len(pieces) == {Span.MONTH: 256, Span.YEAR: 23, Span.DECADE: 4, Span.ALL: 1}[span]
