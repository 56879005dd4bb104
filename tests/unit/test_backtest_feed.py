"""The feed's column-wise conversions give exactly what per-value Python gives."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from ibbot.backtest import BarFeed, load_bars
from ibbot.backtest.builders import utc_from_micros
from ibbot.backtest.feed import _utc_times
from ibbot.backtest.feed_arrays import FeedArrays
from ibbot.errors import StoreError
from ibbot.models import BarSize
from ibbot.store import ParquetStore, bars_to_table
from tests.unit.backtest_helpers import daily_bars

if TYPE_CHECKING:
    from pathlib import Path

SECOND = 1_000_000


@pytest.mark.parametrize(
    "micros",
    [
        [],
        [0],
        [-5_364_662_400 * SECOND, 1_767_225_600 * SECOND],  # 1800 and 2026
        [-62_135_596_800 * SECOND, 253_402_300_799 * SECOND],  # the first and last second
        [1, 1_767_225_600 * SECOND + 250_000],  # fractions of a second (one by one)
    ],
)
def test_utc_times_are_utc_from_micros(micros: list[int]) -> None:
    times = _utc_times(pa.array(micros, pa.int64()))
    assert times == [utc_from_micros(m) for m in micros]
    assert all(moment.tzinfo is UTC for moment in times)


def test_utc_times_on_random_whole_seconds() -> None:
    rng = random.Random(11)
    micros = [rng.randrange(-62_135_596_800, 253_402_300_799) * SECOND for _ in range(2_000)]
    assert _utc_times(pa.array(micros, pa.int64())) == [utc_from_micros(m) for m in micros]


def test_one_symbol_feed_is_the_rows() -> None:
    """One symbol (one bar per instant): each column is the table's, row for row."""
    bars = daily_bars("ABC", [10.0 + i / 4 for i in range(40)])
    feed = BarFeed.from_bars(bars)
    assert feed.symbols == ["ABC"] * 40
    assert feed.times == [bar.timestamp for bar in bars]
    assert feed.close == [bar.close for bar in bars]
    assert feed.micros == [int(bar.timestamp.timestamp()) * SECOND for bar in bars]
    assert feed.wap == [bar.wap for bar in bars]
    assert feed.bar_count == [bar.bar_count for bar in bars]


def test_several_symbols_share_one_datetime_per_instant() -> None:
    bars = [*daily_bars("BBB", [1.0, 2.0, 3.0]), *daily_bars("AAA", [4.0, 5.0], first=1)]
    feed = BarFeed.from_table(bars_to_table(bars), BarSize("1 day"))
    assert feed.symbols == ["BBB", "AAA", "BBB", "AAA", "BBB"]
    assert feed.close == [1.0, 4.0, 2.0, 5.0, 3.0]
    assert feed.times[1] is feed.times[2]
    assert feed.times == sorted(bar.timestamp for bar in bars)


def test_nulls_stay_none() -> None:
    bars = daily_bars("ABC", [10.0, 11.0])
    table = bars_to_table(bars)
    table = table.set_column(
        table.schema.get_field_index("wap"), "wap", pa.array([None, 10.5], pa.float64())
    )
    assert BarFeed.from_table(table, BarSize("1 day")).wap == [None, 10.5]


class _ShuffledStore:
    """A store whose one symbol's table comes back out of time order (load_bars must not trust it)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def read_bars_table(self, *args: object) -> pa.Table:
        return self.table


def test_one_symbol_read_out_of_order_is_sorted() -> None:
    bars = daily_bars("ABC", [1.0, 2.0, 3.0, 4.0])
    table = bars_to_table(bars).take([2, 0, 3, 1])
    store = _ShuffledStore(table)
    feed = load_bars(
        store, bars[0].timestamp, bars[-1].timestamp + timedelta(days=1), symbols=["ABC"]
    )  # type: ignore[arg-type]
    assert feed == BarFeed.from_bars(bars)
    assert feed.close == [1.0, 2.0, 3.0, 4.0]


def _columns(feed: BarFeed) -> dict[str, object]:
    return {name: getattr(feed, name) for name in BarFeed.__dataclass_fields__ if name != "arrays"}


def test_load_bars_of_several_symbols_is_the_table_sorted(tmp_path: Path) -> None:
    """The threaded reads and the NumPy merge give the rows (and their arrays) Arrow's sort gives."""
    store = ParquetStore(tmp_path / "store")
    rng = random.Random(5)
    everything = []
    for k, symbol in enumerate(["MMM", "AAA", "ZZZ", "BBB", "CCC"]):
        closes = [round(rng.uniform(5, 50), 2) for _ in range(30 + 7 * k)]
        bars = daily_bars(symbol, closes, first=3 * k)
        if symbol == "BBB":  # some known, some unknown: Arrow's nulls stay None
            bars = [replace(bar, wap=bar.close if i % 3 else None) for i, bar in enumerate(bars)]
        store.write_bars(symbol, bars)
        everything.extend(bars)
    start = min(bar.timestamp for bar in everything) + timedelta(days=2)
    end = max(bar.timestamp for bar in everything)
    feed = load_bars(store, start, end)
    inside = [bar for bar in everything if start <= bar.timestamp < end]
    expected = BarFeed.from_bars(inside)
    assert _columns(feed) == _columns(expected)
    assert feed.times == [bar.timestamp for bar in sorted(inside, key=lambda b: b.timestamp)]
    assert all(a is b for a, b in zip(feed.times, feed.times[1:], strict=False) if a == b)
    assert feed.universe == ["AAA", "BBB", "CCC", "MMM", "ZZZ"] == expected.universe
    made, rebuilt = feed.arrays, FeedArrays.of(expected)
    assert made is not None
    assert FeedArrays.of(feed) is made
    for symbol in feed.universe:
        code, other = made.code(symbol), rebuilt.code(symbol)
        assert code is not None
        assert other is not None
        assert made.rows(code).tolist() == rebuilt.rows(other).tolist()
    assert made.micros.tolist() == feed.micros
    assert made.close.tolist() == feed.close
    assert [made.names[c] for c in made.codes.tolist()] == feed.symbols


def test_load_bars_names_a_corrupt_file(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    for symbol in ("AAA", "BBB", "CCC"):
        store.write_bars(symbol, daily_bars(symbol, [1.0, 2.0, 3.0]))
    (bad,) = (tmp_path / "store").rglob("symbol=BBB/*.parquet")
    bad.write_bytes(b"not parquet")
    with pytest.raises(StoreError, match=re.escape(str(bad))):
        load_bars(store, daily_bars("X", [1.0])[0].timestamp, utc_from_micros(10**17))
