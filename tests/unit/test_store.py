"""ParquetStore: bars, contracts, fundamentals, state and audit; atomicity, corruption, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from structlog.testing import capture_logs

from ibbot.clock import SimulatedClock
from ibbot.errors import StoreError
from ibbot.models import (
    Action,
    BarSize,
    ContractInfo,
    Decision,
    FundamentalData,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    PriceBar,
    arrow_schema,
)
from ibbot.store import AuditKind, DataStore, InvalidStoreInput, ParquetStore, bars_from_table
from ibbot.store import atomic as atomic_module
from ibbot.store import audit as audit_module

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def bar(
    t: datetime,
    close: float = 100.0,
    *,
    symbol: str = "AAPL",
    size: BarSize = BarSize.HOUR_1,
    wap: float | None = None,
    count: int | None = None,
) -> PriceBar:
    return PriceBar(symbol, t, close - 1, close + 1, close - 2, close, 1000.0, size, wap, count)


def hourly(start: datetime, n: int, close: float = 100.0, symbol: str = "AAPL") -> list[PriceBar]:
    return [bar(start + timedelta(hours=i), close + i, symbol=symbol) for i in range(n)]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(root: Path, clock: SimulatedClock) -> ParquetStore:
    return ParquetStore(root, clock=clock)


def data_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def bar_dir(root: Path, symbol: str = "AAPL", size: str = "1h") -> Path:
    """Where the store keeps ``symbol``'s bars of one size (``size`` as its directory name)."""
    return root / "prices" / f"bars={size}" / f"symbol={symbol}"


NEW_YEAR = datetime(2027, 1, 1, tzinfo=UTC)


# -- bars ------------------------------------------------------------------------------------


def test_parquet_store_satisfies_the_protocol(store: ParquetStore) -> None:
    """ParquetStore implements every method of the DataStore protocol."""
    assert isinstance(store, DataStore)


def test_bars_round_trip_with_every_field(store: ParquetStore) -> None:
    """Bars come back equal to what was written, optional fields included, in time order."""
    bars = [
        bar(T0 + timedelta(hours=2), 101.0, wap=100.5, count=42),
        bar(T0, 99.0),
        bar(T0 + timedelta(hours=1), 100.0, wap=99.8, count=7),
    ]
    store.write_bars("AAPL", bars)
    got = store.read_bars("AAPL", T0, T0 + timedelta(days=1))
    assert got == sorted(bars, key=lambda b: b.timestamp)
    assert all(b.timestamp.tzinfo is UTC for b in got)
    assert all(type(b.bar_size) is BarSize for b in got)


def test_files_follow_the_plan_layout(store: ParquetStore, root: Path) -> None:
    """One bar size per file, each file spanning what suits the size (UTC, by bar start)."""
    minutes = [bar(FEB - timedelta(minutes=1), size=BarSize.MIN_1), bar(FEB, size=BarSize.MIN_1)]
    hours = [bar(NEW_YEAR - timedelta(hours=1)), bar(NEW_YEAR)]
    days = [bar(datetime(2029, 12, 31, tzinfo=UTC), size=BarSize.DAY_1)]
    days.append(bar(datetime(2030, 1, 2, tzinfo=UTC), size=BarSize.DAY_1))
    weeks = [
        bar(datetime(1999, 1, 4, tzinfo=UTC), size=BarSize.WEEK_1),
        bar(T0, size=BarSize.WEEK_1),
    ]
    for batch in (minutes, hours, days, weeks):
        store.write_bars("AAPL", batch)
    store.write_bars("BRK B", [bar(T0, symbol="BRK B", size=BarSize.DAY_1)])
    assert data_files(root) == [
        "prices/bars=1d/symbol=AAPL/2020s.parquet",
        "prices/bars=1d/symbol=AAPL/2030s.parquet",
        "prices/bars=1d/symbol=BRK B/2020s.parquet",
        "prices/bars=1h/symbol=AAPL/2026.parquet",
        "prices/bars=1h/symbol=AAPL/2027.parquet",
        "prices/bars=1min/symbol=AAPL/2026-01.parquet",
        "prices/bars=1min/symbol=AAPL/2026-02.parquet",
        "prices/bars=1w/symbol=AAPL/all.parquet",
    ]
    assert store.read_bars("AAPL", JAN, FEB, BarSize.MIN_1) == minutes[:1]
    assert store.read_bars("AAPL", JAN, NEW_YEAR, BarSize.HOUR_1) == hours[:1]
    assert store.read_bars("AAPL", NEW_YEAR, MAR.replace(year=2030), "1 day") == days
    assert store.read_bars("AAPL", JAN.replace(year=1990), MAR, "1 week") == weeks


def test_range_is_inclusive_start_exclusive_end_across_months(store: ParquetStore) -> None:
    """A range read includes a bar at start, excludes one at end, and spans month files."""
    bars = hourly(FEB - timedelta(hours=5), 10)
    store.write_bars("AAPL", bars)
    got = store.read_bars("AAPL", bars[2].timestamp, bars[8].timestamp)
    assert got == bars[2:8]
    assert store.read_bars("AAPL", bars[3].timestamp, bars[3].timestamp) == []
    assert store.read_bars("AAPL", bars[8].timestamp, bars[2].timestamp) == []
    whole = store.read_bars("AAPL", JAN, MAR)
    assert [b.timestamp for b in whole] == [b.timestamp for b in bars]


def test_read_of_a_symbol_without_data_is_empty(store: ParquetStore) -> None:
    """Reading a symbol or range with nothing stored gives an empty list, not an error."""
    assert store.read_bars("MSFT", JAN, MAR) == []
    store.write_bars("AAPL", hourly(T0, 3))
    assert store.read_bars("AAPL", MAR, MAR + timedelta(days=30)) == []
    assert store.read_bars_table("MSFT", JAN, MAR).num_rows == 0


def test_overlapping_rewrite_keeps_newest_across_a_month_boundary(store: ParquetStore) -> None:
    """Re-writing overlapping bars replaces them (newest wins) in both month files, once each."""
    first = hourly(FEB - timedelta(hours=4), 8, close=100.0)
    store.write_bars("AAPL", first)
    second = hourly(FEB - timedelta(hours=2), 8, close=500.0)
    store.write_bars("AAPL", second)
    got = store.read_bars("AAPL", JAN, MAR)
    assert [b.timestamp for b in got] == [
        FEB - timedelta(hours=4) + timedelta(hours=i) for i in range(10)
    ]
    assert got[:2] == first[:2]
    assert got[2:] == second


def test_duplicates_within_one_write_keep_the_last(store: ParquetStore) -> None:
    """Within one call, the later of two bars with the same key wins."""
    store.write_bars("AAPL", [bar(T0, 1.0), bar(T0, 2.0), bar(T0, 3.0)])
    assert [b.close for b in store.read_bars("AAPL", JAN, MAR)] == [3.0]


def test_bar_sizes_have_files_of_their_own_and_filter_on_read(
    store: ParquetStore, root: Path
) -> None:
    """Each bar size lives in its own files; read_bars filters by bar size, or merges all."""
    minute = [bar(T0 + timedelta(minutes=i), size=BarSize.MIN_1) for i in range(3)]
    daily = [bar(T0.replace(hour=5), size=BarSize.DAY_1)]
    store.write_bars("AAPL", minute + daily)
    assert data_files(root) == [
        "prices/bars=1d/symbol=AAPL/2020s.parquet",
        "prices/bars=1min/symbol=AAPL/2026-01.parquet",
    ]
    assert store.read_bars("AAPL", JAN, FEB) == daily + minute
    assert store.read_bars("AAPL", JAN, FEB, bar_size=BarSize.MIN_1) == minute
    assert store.read_bars("AAPL", JAN, FEB, bar_size="1 day") == daily
    assert store.read_bars("AAPL", JAN, FEB, bar_size="1d") == daily
    assert len(store.read_bars("AAPL", JAN, FEB)) == 4
    # Same timestamp, different bar sizes: two distinct bars.
    store.write_bars("AAPL", [bar(T0, size=BarSize.HOUR_1)])
    assert len(store.read_bars("AAPL", T0, T0 + timedelta(seconds=1))) == 2


def test_unknown_bar_size_is_refused(store: ParquetStore) -> None:
    """A bar size IB does not know is bad input."""
    with pytest.raises(InvalidStoreInput, match="unknown bar size"):
        store.read_bars("AAPL", JAN, FEB, bar_size="7 fortnights")


def test_read_bars_table_is_the_columnar_twin(store: ParquetStore) -> None:
    """read_bars_table returns the same rows as Arrow, in the model's schema, without metadata."""
    bars = hourly(FEB - timedelta(hours=3), 6)
    store.write_bars("AAPL", bars)
    table = store.read_bars_table("AAPL", JAN, MAR, bar_size=BarSize.HOUR_1)
    assert table.schema.equals(arrow_schema(PriceBar))
    assert table.schema.metadata is None
    assert bars_from_table(table) == bars


def test_one_bar_size_of_every_symbol_reads_as_one_hive_dataset(
    store: ParquetStore, root: Path
) -> None:
    """prices/bars=<size> opens as one Hive-partitioned dataset: that size only, every symbol."""
    store.write_bars("AAPL", hourly(FEB - timedelta(hours=2), 4))
    store.write_bars("AAPL", [bar(T0, size=BarSize.MIN_1), bar(T0, size=BarSize.DAY_1)])
    store.write_bars("MSFT", hourly(T0, 3, symbol="MSFT"))
    store.write_bars("BRK B", hourly(MAR, 2, symbol="BRK B"))
    store.write_bars("3988", hourly(MAR, 1, symbol="3988"))  # a symbol that looks like a number
    dataset = ds.dataset(root / "prices" / "bars=1h", format="parquet", partitioning="hive")
    assert dataset.schema.remove_metadata().equals(arrow_schema(PriceBar))
    table = dataset.to_table()
    assert table.num_rows == 10
    assert table.column("bar_size").unique().to_pylist() == ["1 hour"]
    counts = table.group_by("symbol").aggregate([("close", "count")]).to_pydict()
    assert dict(zip(counts["symbol"], counts["close_count"], strict=True)) == {
        "AAPL": 4,
        "MSFT": 3,
        "BRK B": 2,
        "3988": 1,
    }
    # The partition key prunes directories; the rows say the same as the files.
    filtered = dataset.to_table(filter=ds.field("symbol") == "BRK B")
    assert filtered.column("symbol").to_pylist() == ["BRK B", "BRK B"]
    # The whole of prices/ reads too: the "bars" partition column tells the bar sizes apart.
    every = ds.dataset(root / "prices", format="parquet", partitioning="hive")
    assert every.schema.names == [*arrow_schema(PriceBar).names, "bars"]
    assert every.to_table(filter=ds.field("bars") == "1d").column("bar_size").to_pylist() == [
        "1 day"
    ]
    assert every.to_table(filter=ds.field("bar_size") == "1 min").num_rows == 1


def test_symbols_lists_price_directories(store: ParquetStore, root: Path) -> None:
    """symbols() lists symbols with bars, sorted, ignoring directories with invalid names."""
    assert store.symbols() == []
    store.write_bars("MSFT", hourly(T0, 1, symbol="MSFT"))
    store.write_bars("AAPL", hourly(T0, 1))
    store.write_bars("NVDA", [bar(T0, symbol="NVDA", size=BarSize.DAY_1)])
    (root / "prices" / "bars=1h" / "symbol=not a symbol!").mkdir()
    (root / "prices" / "bars=1h" / "AMZN").mkdir()
    (root / "prices" / "bars=1h" / "stray.txt").write_text("x")
    (root / "prices" / "stray.txt").write_text("x")
    assert store.symbols() == ["AAPL", "MSFT", "NVDA"]


def test_bars_of_another_symbol_are_refused(store: ParquetStore, root: Path) -> None:
    """write_bars refuses bars whose symbol differs from the one named, writing nothing."""
    with pytest.raises(InvalidStoreInput, match="MSFT"):
        store.write_bars("AAPL", [bar(T0), bar(T0, symbol="MSFT")])
    assert not root.exists()


def test_naive_datetimes_are_refused(store: ParquetStore) -> None:
    """Range bounds without a timezone are refused instead of guessed."""
    with pytest.raises(InvalidStoreInput, match="timezone-aware"):
        store.read_bars("AAPL", datetime(2026, 1, 1), FEB)
    with pytest.raises(InvalidStoreInput, match="timezone-aware"):
        store.read_fundamental("AAPL", datetime(2026, 1, 1))


def test_empty_write_without_covering_does_nothing(store: ParquetStore, root: Path) -> None:
    """Writing no bars and declaring no coverage creates no file."""
    store.write_bars("AAPL", [])
    assert not root.exists()


# -- coverage --------------------------------------------------------------------------------


def test_coverage_defaults_to_the_span_of_each_batch(store: ParquetStore) -> None:
    """Without covering=, a batch covers its first bar's start to its last bar's end."""
    store.write_bars("AAPL", hourly(T0, 3))
    store.write_bars("AAPL", hourly(T0 + timedelta(hours=3), 2))  # touches: merges
    store.write_bars("AAPL", hourly(T0 + timedelta(days=1), 1))
    assert store.bar_coverage("AAPL", BarSize.HOUR_1) == [
        (T0, T0 + timedelta(hours=5)),
        (T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)),
    ]
    assert store.bar_coverage("AAPL", BarSize.DAY_1) == []
    assert store.bar_coverage("MSFT", BarSize.HOUR_1) == []


def test_covering_declares_a_whole_window_across_months(store: ParquetStore) -> None:
    """covering= records the requested window, even stretches without bars, across month files."""
    window = (JAN + timedelta(days=20), FEB + timedelta(days=10))
    store.write_bars("AAPL", hourly(FEB - timedelta(hours=1), 2), covering=window)
    assert store.bar_coverage("AAPL", "1 hour") == [window]
    gaps = store.bar_gaps("AAPL", BarSize.HOUR_1, JAN, MAR)
    assert gaps == [(JAN, window[0]), (window[1], MAR)]
    assert store.bar_gaps("AAPL", BarSize.HOUR_1, *window) == []
    assert store.bar_gaps("AAPL", BarSize.HOUR_1, MAR, JAN) == []


def test_covering_an_empty_window_needs_a_bar_size(store: ParquetStore, root: Path) -> None:
    """A window with no bars (a holiday) is recorded when bar_size= says which series it is."""
    holiday = (T0, T0 + timedelta(days=1))
    with pytest.raises(InvalidStoreInput, match="exactly one bar size"):
        store.write_bars("AAPL", [], covering=holiday)
    store.write_bars("AAPL", [], covering=holiday, bar_size="1 day")
    assert store.bar_coverage("AAPL", BarSize.DAY_1) == [holiday]
    assert store.read_bars("AAPL", JAN, FEB) == []
    assert data_files(root) == ["prices/bars=1d/symbol=AAPL/2020s.parquet"]


def test_covering_is_validated(store: ParquetStore) -> None:
    """covering= must be a non-empty range holding every bar, for a single bar size."""
    bars = hourly(T0, 3)
    with pytest.raises(InvalidStoreInput, match="outside the covering range"):
        store.write_bars("AAPL", bars, covering=(T0 + timedelta(hours=1), T0 + timedelta(days=1)))
    with pytest.raises(InvalidStoreInput, match="outside the covering range"):
        store.write_bars("AAPL", bars, covering=(T0, T0 + timedelta(hours=2)))
    with pytest.raises(InvalidStoreInput, match="empty covering range"):
        store.write_bars("AAPL", bars, covering=(T0, T0))
    mixed = [*bars, bar(T0, size=BarSize.DAY_1)]
    with pytest.raises(InvalidStoreInput, match="exactly one bar size"):
        store.write_bars("AAPL", mixed, covering=(T0, T0 + timedelta(days=1)))
    assert store.bar_coverage("AAPL", BarSize.HOUR_1) == []


def test_corrupt_coverage_metadata_is_a_store_error(store: ParquetStore, root: Path) -> None:
    """Coverage metadata that does not parse is reported with the file's name."""
    store.write_bars("AAPL", hourly(T0, 2))
    path = bar_dir(root) / "2026.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"ibbot.coverage": b"{not json"}), path)
    with pytest.raises(StoreError, match=r"coverage metadata in .*2026\.parquet"):
        store.bar_coverage("AAPL", BarSize.HOUR_1)


# -- names that become paths -----------------------------------------------------------------

BAD_SYMBOLS = ["../x", "..", ".", "", "aapl", "A/B", "A\\B", ".HIDDEN", "AAPL ", "X" * 33, "A\x00B"]
BAD_STRATEGIES = ["../x", "", "a/b", "a.b", ".hidden", "x" * 65, "-lead"]


@pytest.mark.parametrize("symbol", BAD_SYMBOLS)
def test_unsafe_symbols_are_refused_everywhere(
    store: ParquetStore, root: Path, symbol: str
) -> None:
    """Symbols that could escape the tree or are not IB symbols never reach the file system."""
    calls = [
        lambda: store.write_bars(symbol, []),
        lambda: store.read_bars(symbol, JAN, FEB),
        lambda: store.bar_coverage(symbol, BarSize.DAY_1),
        lambda: store.read_fundamental(symbol),
        lambda: store.read_fundamentals(symbol),
        lambda: store.read_contract(symbol),
    ]
    for call in calls:
        with pytest.raises(InvalidStoreInput, match="invalid symbol"):
            call()
    with pytest.raises(InvalidStoreInput):
        store.write_fundamental(symbol, FundamentalData(symbol, T0, "X"))
    assert not root.exists()


@pytest.mark.parametrize("name", BAD_STRATEGIES)
def test_unsafe_strategy_names_are_refused(store: ParquetStore, root: Path, name: str) -> None:
    """Strategy names that are not plain file names are refused for state files."""
    with pytest.raises(InvalidStoreInput, match="invalid strategy name"):
        store.save_strategy_state(name, {})
    with pytest.raises(InvalidStoreInput, match="invalid strategy name"):
        store.load_strategy_state(name)
    assert not root.exists()


@pytest.mark.parametrize("kind", ["../x", "", "Decisions", "audit/x", "1st"])
def test_unsafe_audit_kinds_are_refused(store: ParquetStore, root: Path, kind: str) -> None:
    """Audit kinds must be lower-case identifiers."""
    with pytest.raises(InvalidStoreInput, match="invalid audit kind"):
        store.log_audit(kind, {})
    with pytest.raises(InvalidStoreInput, match="invalid audit kind"):
        store.read_audit(kind)
    assert not root.exists()


@pytest.mark.parametrize("symbol", ["BRK B", "BF.B", "BRK-B", "A", "7203", "SPY"])
def test_real_ib_symbols_are_accepted(store: ParquetStore, symbol: str) -> None:
    """IB symbols with share-class separators (space, dot, dash) and digits are valid."""
    store.write_bars(symbol, [bar(T0, symbol=symbol)])
    assert store.read_bars(symbol, JAN, FEB) == [bar(T0, symbol=symbol)]


# -- atomic writes ---------------------------------------------------------------------------


def test_failed_rename_keeps_the_old_file_and_no_temp(
    store: ParquetStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the commit rename fails, the old bar file is intact and the temp file is removed."""
    store.write_bars("AAPL", hourly(T0, 3, close=100.0))
    path = bar_dir(root) / "2026.parquet"
    before = path.read_bytes()

    def refuse(source: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_module, "replace_file", refuse)
    with pytest.raises(StoreError, match=r"cannot write .*2026\.parquet"):
        store.write_bars("AAPL", hourly(T0, 3, close=999.0))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert data_files(root) == ["prices/bars=1h/symbol=AAPL/2026.parquet"]
    assert [b.close for b in store.read_bars("AAPL", JAN, FEB)] == [100.0, 101.0, 102.0]


def _crash_while_writing(root: Path, body: str) -> None:
    """Run ``body`` in a child process that dies (os._exit) at the commit rename of any write."""
    code = textwrap.dedent(
        """
        import os, sys
        from datetime import UTC, datetime, timedelta
        from ibbot.models import PriceBar, BarSize
        from ibbot.store import ParquetStore
        from ibbot.store import atomic

        def crash(source, target):
            os._exit(17)  # the process dies after the temp file is complete, before the rename

        atomic.replace_file = crash
        store = ParquetStore(sys.argv[1])
        T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
        """
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], timeout=60, check=False, capture_output=True
    )
    assert done.returncode == 17, done.stderr.decode()


def test_crash_between_temp_write_and_rename_leaves_old_data_readable(
    store: ParquetStore, root: Path
) -> None:
    """A process killed mid-write leaves the old file intact and an inert temp file nobody reads."""
    bars = hourly(T0, 3, close=100.0)
    store.write_bars("AAPL", bars)
    store.save_strategy_state("sma_cross", {"position": 10})
    _crash_while_writing(
        root,
        """
        bars = [PriceBar("AAPL", T0 + timedelta(hours=i), 1, 2, 0, 1, 5, BarSize.HOUR_1)
                for i in range(3)]
        store.write_bars("AAPL", bars)
        """,
    )
    _crash_while_writing(root, 'store.save_strategy_state("sma_cross", {"position": 99})')
    leftovers = list(root.rglob("*.tmp"))
    assert len(leftovers) == 2
    assert all(p.name.startswith(".") for p in leftovers)
    assert store.read_bars("AAPL", JAN, FEB) == bars
    assert store.load_strategy_state("sma_cross") == {"position": 10}
    assert ds.dataset(root / "prices", format="parquet").to_table().num_rows == 3
    # Later writes work and still ignore the leftover.
    store.write_bars("AAPL", [bar(T0, 555.0)])
    assert store.read_bars("AAPL", T0, T0 + timedelta(hours=1))[0].close == 555.0


# -- corrupt and foreign files ---------------------------------------------------------------


def test_garbage_parquet_is_a_store_error_and_other_months_still_read(
    store: ParquetStore, root: Path
) -> None:
    """Garbage in one file: reads touching it name the file; other files read fine."""
    store.write_bars("AAPL", hourly(NEW_YEAR - timedelta(hours=2), 4))
    path = bar_dir(root) / "2027.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(StoreError, match=r"corrupt or unreadable Parquet file .*2027\.parquet"):
        store.read_bars("AAPL", JAN, NEW_YEAR + timedelta(days=1))
    assert len(store.read_bars("AAPL", JAN, NEW_YEAR)) == 2
    # A write into the broken file fails without overwriting it (nothing is lost).
    with pytest.raises(StoreError, match=r"2027\.parquet"):
        store.write_bars("AAPL", [bar(NEW_YEAR + timedelta(hours=5))])
    assert path.read_bytes() == b"this is not parquet at all"


def test_write_spanning_a_corrupt_month_changes_nothing(store: ParquetStore, root: Path) -> None:
    """A write touching a good and a corrupt file is refused before either file changes."""
    store.write_bars("AAPL", hourly(NEW_YEAR - timedelta(hours=2), 4, close=100.0))
    (bar_dir(root) / "2027.parquet").write_bytes(b"PAR1garbagePAR1")
    with pytest.raises(StoreError, match=r"2027\.parquet"):
        store.write_bars("AAPL", hourly(NEW_YEAR - timedelta(hours=2), 4, close=900.0))
    assert [b.close for b in store.read_bars("AAPL", JAN, NEW_YEAR)] == [100.0, 101.0]


def test_parquet_with_a_foreign_schema_is_a_store_error(store: ParquetStore, root: Path) -> None:
    """A Parquet file of another shape in the tree is named in a clear StoreError."""
    directory = bar_dir(root)
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), directory / "2026.parquet")
    with pytest.raises(StoreError, match=r"foreign Parquet file .*2026\.parquet.*unexpected"):
        store.read_bars("AAPL", JAN, FEB)


def test_parquet_with_a_wrong_column_type_is_a_store_error(store: ParquetStore, root: Path) -> None:
    """A bar file whose timestamp column is text is refused, naming the column and the file."""
    store.write_bars("AAPL", hourly(T0, 2))
    path = bar_dir(root) / "2026.parquet"
    table = pq.read_table(path)
    index = table.schema.get_field_index("timestamp")
    table = table.set_column(index, "timestamp", pa.array(["x", "y"]))
    pq.write_table(table, path)
    with pytest.raises(StoreError, match=r"'timestamp' is string, expected timestamp"):
        store.read_bars("AAPL", JAN, FEB)


def test_bar_file_missing_a_key_column_or_holding_nulls_is_refused(
    store: ParquetStore, root: Path
) -> None:
    """Key columns must be present and non-null."""
    store.write_bars("AAPL", hourly(T0, 2))
    path = bar_dir(root) / "2026.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["bar_size"]), path)
    with pytest.raises(StoreError, match="missing column 'bar_size'"):
        store.read_bars("AAPL", JAN, FEB)
    index = table.schema.get_field_index("close")
    pq.write_table(table.set_column(index, "close", pa.nulls(2, pa.float64())), path)
    with pytest.raises(StoreError, match="nulls in column 'close'"):
        store.read_bars("AAPL", JAN, FEB)


def test_bar_file_of_another_symbol_or_unknown_size_is_refused(
    store: ParquetStore, root: Path
) -> None:
    """A file whose rows belong to another symbol, or hold another bar size, is refused."""
    store.write_bars("MSFT", hourly(T0, 2, symbol="MSFT"))
    target = bar_dir(root)
    target.mkdir(parents=True)
    msft = bar_dir(root, "MSFT") / "2026.parquet"
    table = pq.read_table(msft)
    pq.write_table(table, target / "2026.parquet")
    with pytest.raises(StoreError, match="holds bars of"):
        store.read_bars("AAPL", JAN, FEB)
    index = table.schema.get_field_index("bar_size")
    odd = table.set_column(index, "bar_size", pa.array(["3 fortnights"] * 2))
    pq.write_table(odd, msft)
    with pytest.raises(StoreError, match="unknown bar size"):
        store.read_bars("MSFT", JAN, FEB)
    daily = table.set_column(index, "bar_size", pa.array(["1 day"] * 2))
    pq.write_table(daily, msft)
    with pytest.raises(StoreError, match="holds '1 day' bars, not '1 hour'"):
        store.read_bars("MSFT", JAN, FEB)


def test_old_file_without_an_optional_column_still_reads(store: ParquetStore, root: Path) -> None:
    """A file written before an optional field existed reads with that field as None."""
    store.write_bars("AAPL", [bar(T0, wap=1.5, count=3)])
    path = bar_dir(root) / "2026.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["wap", "bar_count"]), path)
    (got,) = store.read_bars("AAPL", JAN, FEB)
    assert got.wap is None
    assert got.bar_count is None
    store.write_bars("AAPL", [bar(T0 + timedelta(hours=1), wap=2.5)])
    assert pq.read_schema(path).remove_metadata().equals(arrow_schema(PriceBar))


def test_stray_files_in_the_tree_are_ignored(store: ParquetStore, root: Path) -> None:
    """Files whose names the layout does not produce (notes, temp files) are not read as data."""
    store.write_bars("AAPL", hourly(T0, 2))
    (bar_dir(root) / "notes.txt").write_text("hello")
    (bar_dir(root) / "2026-01.parquet").write_bytes(b"junk")  # a month: not an hourly file's name
    (bar_dir(root) / "0000.parquet").write_bytes(b"junk")
    (bar_dir(root) / ".2026.parquet.1-ab.tmp").write_bytes(b"junk")
    (root / "prices" / "bars=7fortnights").mkdir()
    (root / "prices" / "bars=1h" / "symbol=../x").mkdir(parents=True)
    assert len(store.read_bars("AAPL", JAN, MAR)) == 2


# -- contracts -------------------------------------------------------------------------------


def _contract(symbol: str = "AAPL", exchange: str = "SMART") -> ContractInfo:
    return ContractInfo(
        symbol, 265598, "APPLE INC", "Technology", "Computers", "Computers", exchange, "USD",
        primary_exchange="NASDAQ", trading_hours="20260105:0930-20260105:1600",
    )  # fmt: skip


def test_contract_round_trip_and_replacement(store: ParquetStore, root: Path) -> None:
    """A contract is stored per symbol as JSON; writing again replaces it; absent reads None."""
    assert store.read_contract("AAPL") is None
    store.write_contract(_contract())
    store.write_contract(_contract(exchange="NASDAQ"))
    assert store.read_contract("AAPL") == _contract(exchange="NASDAQ")
    assert data_files(root) == ["contracts/AAPL.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{broken", "corrupt JSON file"),
        (b"[1, 2]", "corrupt contract file"),
        (b'{"symbol": "AAPL"}', "corrupt contract file"),
    ],
)
def test_corrupt_contract_file_is_a_store_error(
    store: ParquetStore, root: Path, content: bytes, message: str
) -> None:
    """Unreadable contract files are reported with their path."""
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "AAPL.json").write_bytes(content)
    with pytest.raises(StoreError, match=rf"{message} .*AAPL\.json"):
        store.read_contract("AAPL")


def test_contract_file_of_another_symbol_is_refused(store: ParquetStore, root: Path) -> None:
    """A contract file describing another symbol is a foreign file."""
    store.write_contract(_contract("MSFT"))
    (root / "contracts" / "MSFT.json").rename(root / "contracts" / "AAPL.json")
    with pytest.raises(StoreError, match="describes 'MSFT'"):
        store.read_contract("AAPL")


# -- fundamentals ----------------------------------------------------------------------------


def fundamental(
    t: datetime,
    shares: float,
    *,
    source: str = "ib",
    report_type: str = "ReportSnapshot",
    symbol: str = "AAPL",
) -> FundamentalData:
    return FundamentalData(
        symbol,
        t,
        "Apple Inc.",
        cik="0000320193",
        shares_outstanding=shares,
        raw=f"<ReportSnapshot shares='{shares}'/>",
        source=source,
        report_type=report_type,
        values={"TTMREV": 1.0e11},
        details={"filing": {"form": "10-K"}},
    )


def test_fundamentals_round_trip_keeps_raw_and_source(store: ParquetStore, root: Path) -> None:
    """A record comes back whole: raw document, source, values and details."""
    record = fundamental(T0, 15e9, source="sec")
    store.write_fundamental("AAPL", record)
    assert store.read_fundamental("AAPL") == record
    assert data_files(root) == ["fundamentals/AAPL/2026-01-05.json"]
    stored = json.loads((root / "fundamentals" / "AAPL" / "2026-01-05.json").read_text())
    assert stored[0]["raw"] == record.raw
    assert stored[0]["source"] == "sec"


def test_as_of_lookup_is_point_in_time(store: ParquetStore) -> None:
    """as_of returns the latest record known at that instant: never a later one."""
    first, second = T0, T0 + timedelta(days=3, hours=2)
    store.write_fundamental("AAPL", fundamental(second, 2.0))
    store.write_fundamental("AAPL", fundamental(first, 1.0))
    assert store.read_fundamental("AAPL", first - timedelta(microseconds=1)) is None
    assert store.read_fundamental("AAPL", first).shares_outstanding == 1.0  # type: ignore[union-attr]
    between = first + timedelta(days=2)
    assert store.read_fundamental("AAPL", between).shares_outstanding == 1.0  # type: ignore[union-attr]
    assert store.read_fundamental("AAPL", second).shares_outstanding == 2.0  # type: ignore[union-attr]
    assert store.read_fundamental("AAPL").shares_outstanding == 2.0  # type: ignore[union-attr]
    assert store.read_fundamental("MSFT") is None


def test_several_records_a_day_and_source_filter(store: ParquetStore) -> None:
    """A day holds several records; source and report type filters pick among them."""
    store.write_fundamental("AAPL", fundamental(T0, 1.0, source="ib"))
    store.write_fundamental("AAPL", fundamental(T0 + timedelta(hours=1), 2.0, source="sec"))
    store.write_fundamental(
        "AAPL", fundamental(T0 + timedelta(hours=2), 3.0, report_type="ReportsFinStatements")
    )
    late = T0 + timedelta(hours=3)
    assert store.read_fundamental("AAPL", late).shares_outstanding == 3.0  # type: ignore[union-attr]
    assert store.read_fundamental("AAPL", late, "sec").shares_outstanding == 2.0  # type: ignore[union-attr]
    snapshot = store.read_fundamental("AAPL", late, "ib", report_type="ReportSnapshot")
    assert snapshot is not None
    assert snapshot.shares_outstanding == 1.0
    assert store.read_fundamental("AAPL", late, "edgar") is None
    assert store.read_fundamental("AAPL", T0 + timedelta(minutes=30), "sec") is None


def test_rewriting_the_same_record_replaces_it(store: ParquetStore) -> None:
    """Same timestamp, source and report type: the newest write replaces the record."""
    store.write_fundamental("AAPL", fundamental(T0, 1.0))
    store.write_fundamental("AAPL", fundamental(T0, 9.0))
    store.write_fundamental("AAPL", fundamental(T0, 5.0, source="sec"))
    history = store.read_fundamentals("AAPL")
    assert [(r.source, r.shares_outstanding) for r in history] == [("ib", 9.0), ("sec", 5.0)]


def test_fundamentals_history_range(store: ParquetStore) -> None:
    """read_fundamentals returns [start, end) in time order across day files, filtered by source."""
    times = [T0 + timedelta(days=i, hours=i) for i in range(5)]
    for i, t in enumerate(times):
        store.write_fundamental("AAPL", fundamental(t, float(i), source="sec" if i % 2 else "ib"))
    got = store.read_fundamentals("AAPL", times[1], times[4])
    assert [r.timestamp for r in got] == times[1:4]
    assert [r.shares_outstanding for r in store.read_fundamentals("AAPL", source="sec")] == [
        1.0,
        3.0,
    ]
    assert store.read_fundamentals("AAPL", end=times[0]) == []


def test_fundamentals_of_another_symbol_are_refused(store: ParquetStore) -> None:
    """write_fundamental refuses a record whose symbol differs from the one named."""
    with pytest.raises(InvalidStoreInput, match="'MSFT'"):
        store.write_fundamental("AAPL", fundamental(T0, 1.0, symbol="MSFT"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe garbage", "corrupt JSON file"),
        (b'{"records": []}', "expected a JSON array"),
        (b"[42]", "not a JSON object"),
        (b'[{"symbol": "AAPL"}]', "missing field"),
        (b'[{"symbol": "MSFT", "timestamp": "2026-01-05T00:00:00+00:00", "company_name": ""}]',
         "holds a record of 'MSFT'"),
    ],
)  # fmt: skip
def test_corrupt_fundamentals_file_is_a_store_error(
    store: ParquetStore, root: Path, content: bytes, message: str
) -> None:
    """A fundamentals day file that cannot be read back is named in the error."""
    directory = root / "fundamentals" / "AAPL"
    directory.mkdir(parents=True)
    (directory / "2026-01-05.json").write_bytes(content)
    with pytest.raises(StoreError, match=rf"{message}"):
        store.read_fundamental("AAPL")
    with pytest.raises(StoreError, match=r"2026-01-05\.json"):
        store.write_fundamental("AAPL", fundamental(T0, 1.0))


# -- strategy state --------------------------------------------------------------------------


def test_strategy_state_round_trip(store: ParquetStore, root: Path, clock: SimulatedClock) -> None:
    """State saves atomically as JSON, loads back equal, is replaced by later saves."""
    assert store.load_strategy_state("value_strategy") is None
    state = {"positions": {"AAPL": 10}, "history": [1.5, 2.5], "note": "ok", "flag": None}
    store.save_strategy_state("value_strategy", state)
    assert store.load_strategy_state("value_strategy") == state
    clock.advance(60)
    store.save_strategy_state("value_strategy", {"positions": {}})
    assert store.load_strategy_state("value_strategy") == {"positions": {}}
    document = json.loads((root / "state" / "value_strategy.json").read_text())
    assert document["saved_at"] == (T0 + timedelta(seconds=60)).isoformat()
    assert data_files(root) == ["state/value_strategy.json"]


def test_state_that_json_cannot_hold_is_refused_and_old_state_kept(store: ParquetStore) -> None:
    """A state with values JSON cannot encode is refused; the previous state stays."""
    store.save_strategy_state("s1", {"n": 1})
    with pytest.raises(InvalidStoreInput, match="cannot be stored as JSON"):
        store.save_strategy_state("s1", {"n": object()})
    with pytest.raises(InvalidStoreInput, match="cannot be stored as JSON"):
        store.save_strategy_state("s1", {"n": float("nan")})
    assert store.load_strategy_state("s1") == {"n": 1}


def test_state_encodes_datetimes_and_models(store: ParquetStore) -> None:
    """Datetimes, enums, tuples and models in state are stored in their JSON form."""
    store.save_strategy_state("s1", {"at": T0, "size": BarSize.DAY_1, "pair": (1, 2)})
    assert store.load_strategy_state("s1") == {
        "at": T0.isoformat(),
        "size": "1 day",
        "pair": [1, 2],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "corrupt JSON file"),
        (b"[]", "foreign state file"),
        (b'{"state": 3}', "foreign state file"),
    ],
)
def test_corrupt_state_file_is_a_store_error(
    store: ParquetStore, root: Path, content: bytes, message: str
) -> None:
    """Invalid state JSON is reported with the file's path, never treated as 'no state'."""
    (root / "state").mkdir(parents=True)
    (root / "state" / "s1.json").write_bytes(content)
    with pytest.raises(StoreError, match=rf"{message} .*s1\.json"):
        store.load_strategy_state("s1")


# -- audit -----------------------------------------------------------------------------------


def _decision(symbol: str = "AAPL", strategy: str = "sma_cross") -> Decision:
    return Decision(
        symbol,
        Action.BUY,
        0.1,
        0.8,
        "fast SMA 101.2 crossed above slow SMA 100.9",
        strategy_name=strategy,
        decision_id="d-1",
        timestamp=T0,
        price=101.0,
        data={"fast": 101.2, "slow": 100.9},
    )


def _order(symbol: str = "AAPL") -> tuple[Order, OrderResult]:
    order = Order(
        "sma_cross", symbol, OrderSide.BUY, 10, OrderType.LIMIT, 101.0,
        decision_id="d-1", created_at=T0,
    )  # fmt: skip
    result = OrderResult(
        7, OrderStatus.FILLED, 100.9, 10, perm_id=99, symbol=symbol, strategy_name="sma_cross",
        decision_id="d-1", timestamp=T0 + timedelta(seconds=1), commission=1.0,
    )  # fmt: skip
    return order, result


def test_decisions_and_orders_round_trip(store: ParquetStore, root: Path) -> None:
    """Decisions and orders are appended as JSONL by day and decode back to the models."""
    decision = _decision()
    store.log_decision("sma_cross", decision)
    order, result = _order()
    store.log_order("sma_cross", order, result)
    assert store.read_decisions() == [decision]
    assert store.read_orders() == [(order, result)]
    assert data_files(root) == [
        "audit/decisions/2026-01-05.jsonl",
        "audit/orders/2026-01-05.jsonl",
    ]
    line = json.loads((root / "audit" / "orders" / "2026-01-05.jsonl").read_text())
    assert line["kind"] == "orders"
    assert line["strategy"] == "sma_cross"
    assert line["record"]["order_ref"] == "sma_cross:d-1"
    (entry,) = store.read_audit(AuditKind.DECISIONS)
    assert entry.logged_at == T0
    assert entry.record["reasoning"] == decision.reasoning


def test_an_order_line_written_ahead_is_in_the_file_before_it_is_synced(
    store: ParquetStore,
) -> None:
    """log_order_ahead writes the line at once (readable); its sync() runs once, later calls nothing."""
    order, result = _order()
    pending = store.log_order_ahead("sma_cross", order, result)
    assert store.read_orders() == [(order, result)]
    assert not pending.synced
    pending.sync()
    assert pending.synced
    pending.sync()
    store.log_order("sma_cross", order, result)
    assert store.read_orders() == [(order, result), (order, result)]


def test_a_new_audit_file_is_durable_whichever_of_its_first_lines_syncs_first(
    store: ParquetStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory entries a new day file needs are fsynced by the first sync of any of its lines,
    not only by the sync of the line that created it; once done, later lines skip them."""
    synced: list[Path] = []
    fsync_dir = audit_module.fsync_dir

    def record(path: Path) -> None:
        synced.append(path)
        fsync_dir(path)

    monkeypatch.setattr(audit_module, "fsync_dir", record)
    order, result = _order()
    first = store.log_order_ahead("sma_cross", order, result)
    second = store.log_order_ahead("sma_cross", order, result)
    created = [root.parent, root, root / "audit", root / "audit" / "orders"]
    second.sync()
    assert sorted(synced) == created
    synced.clear()
    first.sync()
    assert sorted(synced) == created
    synced.clear()
    store.log_order("sma_cross", order, result)
    assert synced == []
    assert len(store.read_orders()) == 3


def test_audit_filters_and_day_files(store: ParquetStore, clock: SimulatedClock) -> None:
    """read_audit filters by since/until, symbol and strategy, across day files, oldest first."""
    store.log_audit(AuditKind.RISK, {"rule": "max_order_notional"}, strategy="a", symbol="AAPL")
    clock.advance(86_400)
    store.log_audit(AuditKind.RISK, {"rule": "daily_loss"}, strategy="b", symbol="MSFT")
    clock.advance(60)
    store.log_audit("risk", {"rule": "kill_switch"})
    rules = [e.record["rule"] for e in store.read_audit("risk")]
    assert rules == ["max_order_notional", "daily_loss", "kill_switch"]
    day2 = T0 + timedelta(days=1)
    assert [e.record["rule"] for e in store.read_audit("risk", since=day2)] == [
        "daily_loss",
        "kill_switch",
    ]
    assert [e.record["rule"] for e in store.read_audit("risk", until=day2)] == [
        "max_order_notional"
    ]
    assert [e.strategy for e in store.read_audit("risk", symbol="MSFT")] == ["b"]
    assert [e.symbol for e in store.read_audit("risk", strategy="a")] == ["AAPL"]
    assert store.read_audit("lifecycle") == []


def test_decision_readers_filter_by_symbol_and_strategy(store: ParquetStore) -> None:
    """read_decisions and read_orders pass their filters through."""
    store.log_decision("s1", _decision("AAPL", "s1"))
    store.log_decision("s2", _decision("MSFT", "s2"))
    order, result = _order("MSFT")
    store.log_order("sma_cross", order, result)
    assert [d.symbol for d in store.read_decisions(symbol="MSFT")] == ["MSFT"]
    assert [d.strategy_name for d in store.read_decisions(strategy="s1")] == ["s1"]
    assert store.read_orders(symbol="AAPL") == []
    assert store.read_orders(since=T0 + timedelta(days=1)) == []


def test_torn_last_line_is_skipped_with_a_warning_and_appends_continue(
    store: ParquetStore, root: Path
) -> None:
    """A crash-torn line is skipped with a warning naming file and line; the next append is clean."""
    store.log_audit("lifecycle", {"event": "start"})
    store.log_audit("lifecycle", {"event": "connected"})
    path = root / "audit" / "lifecycle" / "2026-01-05.jsonl"
    with path.open("ab") as f:
        f.write(b'{"kind": "lifecycle", "logged_at": "2026-01-05T14:3')
    with capture_logs() as logs:
        entries = store.read_audit("lifecycle")
    assert [e.record["event"] for e in entries] == ["start", "connected"]
    assert logs == [
        {
            "event": "store.audit_line_skipped",
            "log_level": "warning",
            "file": str(path),
            "line": 3,
            "reason": logs[0]["reason"],
        }
    ]
    with capture_logs() as logs:
        store.log_audit("lifecycle", {"event": "stopped"})
    assert logs[0]["event"] == "store.audit_torn_line_closed"
    lines = path.read_bytes().split(b"\n")
    assert json.loads(lines[3])["record"] == {"event": "stopped"}
    with capture_logs():
        assert [e.record["event"] for e in store.read_audit("lifecycle")] == [
            "start",
            "connected",
            "stopped",
        ]


@pytest.mark.parametrize(
    "line",
    [
        b"[1, 2, 3]",
        b'{"logged_at": "2026-01-05T14:30:00+00:00"}',
        b'{"logged_at": "2026-01-05T14:30:00", "record": {}}',
        b'{"logged_at": "2026-01-05T14:30:00+00:00", "record": {}, "symbol": 5}',
        b"\xff\xfe",
    ],
)
def test_malformed_audit_lines_are_skipped_not_fatal(
    store: ParquetStore, root: Path, line: bytes
) -> None:
    """Lines that are not complete envelopes are skipped with a warning; the rest reads."""
    store.log_audit("lifecycle", {"event": "start"})
    path = root / "audit" / "lifecycle" / "2026-01-05.jsonl"
    with path.open("ab") as f:
        f.write(line + b"\n")
    store.log_audit("lifecycle", {"event": "stop"})
    with capture_logs() as logs:
        assert [e.record["event"] for e in store.read_audit("lifecycle")] == ["start", "stop"]
    assert [(entry["event"], entry["line"]) for entry in logs] == [("store.audit_line_skipped", 2)]


def test_undecodable_decision_records_are_skipped(store: ParquetStore) -> None:
    """A decisions line whose record is not a Decision is skipped with a warning."""
    store.log_audit(AuditKind.DECISIONS, {"symbol": "AAPL"}, strategy="s1")
    store.log_audit(AuditKind.ORDERS, {"order": {}}, strategy="s1")
    store.log_decision("s1", _decision())
    with capture_logs() as logs:
        assert store.read_decisions() == [_decision()]
        assert store.read_orders() == []
    assert [entry["event"] for entry in logs] == ["store.audit_record_skipped"] * 2


def test_every_audit_record_is_fsynced(
    store: ParquetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each appended record is forced to disk before log_* returns."""
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    store.log_audit("lifecycle", {"n": 0})  # creates the directories and the file
    monkeypatch.setattr(os, "fsync", counting_fsync)
    for n in range(1, 4):
        store.log_audit("lifecycle", {"n": n})
    assert len(synced) == 3


def test_audit_record_that_json_cannot_hold_is_refused(store: ParquetStore, root: Path) -> None:
    """A record with a value JSON cannot encode is refused before anything is appended."""
    with pytest.raises(InvalidStoreInput, match="cannot be stored as JSON"):
        store.log_audit("lifecycle", {"x": {1, object()}})
    assert not (root / "audit" / "lifecycle").exists() or data_files(root) == []


def test_writes_after_close_are_refused(store: ParquetStore) -> None:
    """A closed store refuses writes (nothing is silently dropped); close is idempotent."""
    with store:
        store.write_bars("AAPL", hourly(T0, 1))
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.write_bars("AAPL", hourly(T0, 1))
    with pytest.raises(StoreError, match="is closed"):
        store.log_audit("lifecycle", {})
    assert len(store.read_bars("AAPL", JAN, FEB)) == 1


def test_stray_day_files_are_ignored(store: ParquetStore, root: Path) -> None:
    """Names that are not real days (2026-02-30, notes) in fundamentals and audit are not read."""
    store.write_fundamental("AAPL", fundamental(T0, 1.0))
    store.log_audit("lifecycle", {"event": "start"})
    for directory in (root / "fundamentals" / "AAPL", root / "audit" / "lifecycle"):
        (directory / "2026-02-30.json").write_text("junk")
        (directory / "2026-02-30.jsonl").write_text("junk")
        (directory / "notes.json").write_text("junk")
    assert store.read_fundamentals("AAPL") == [fundamental(T0, 1.0)]
    assert len(store.read_audit("lifecycle")) == 1


def test_audit_records_may_hold_models_enums_and_times(store: ParquetStore) -> None:
    """Models, enums, datetimes and sets in an audit record are stored in JSON form."""
    order, _ = _order()
    store.log_audit(
        AuditKind.RISK,
        {"order": order, "side": OrderSide.BUY, "at": T0, "rules": frozenset({"max_position"})},
    )
    (entry,) = store.read_audit(AuditKind.RISK)
    assert entry.record["order"]["order_type"] == "LMT"
    assert entry.record["side"] == "BUY"
    assert entry.record["at"] == T0.isoformat()
    assert entry.record["rules"] == ["max_position"]
