"""The legacy price layout migrates to one bar size per file: identical read-back, resumable, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from structlog.testing import capture_logs

from ibbot.cli import main
from ibbot.errors import StoreError
from ibbot.models import BarSize, PriceBar, arrow_schema
from ibbot.store import ParquetStore
from ibbot.store.bars import bars_from_table, bars_to_table
from ibbot.store.ranges import TimeRange, merge_ranges, split_by_month

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA = arrow_schema(PriceBar)
EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def series(symbol: str, size: BarSize, start: datetime, n: int, step: timedelta) -> list[PriceBar]:
    """``n`` bars with distinct prices (so a row in the wrong place cannot go unnoticed)."""
    bars = []
    for i in range(n):
        wap, count = 100.25 + i if i % 3 else None, i if i % 2 else None
        bars.append(
            PriceBar(symbol, start + i * step, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i,
                     1000.0 + i, size, wap, count)
        )  # fmt: skip
    return bars


Coverage = dict[str, list[TimeRange]]
Truth = tuple[dict[str, pa.Table], dict[tuple[str, str], list[TimeRange]]]


def write_legacy(root: Path, symbol: str, bars: list[PriceBar], coverage: Coverage) -> None:
    """Write ``prices/<SYMBOL>/<YYYY-MM>.parquet`` exactly as ibbot did before bar-size files."""
    table = bars_to_table(bars)
    months = pc.floor_temporal(table.column("timestamp"), unit="month")
    by_month = {m: table.filter(pc.equal(months, m)) for m in pc.unique(months).to_pylist()}
    cover: dict[datetime, dict[str, list[TimeRange]]] = {}
    for size, ranges in coverage.items():
        for month, pieces in split_by_month(ranges).items():
            cover.setdefault(month, {})[size] = pieces
    directory = root / "prices" / symbol
    directory.mkdir(parents=True, exist_ok=True)
    for month in sorted(set(by_month) | set(cover)):
        part = by_month.get(month, SCHEMA.empty_table())
        part = part.sort_by([("timestamp", "ascending"), ("bar_size", "ascending")])
        ranges = {
            s: [[a.isoformat(), b.isoformat()] for a, b in r]
            for s, r in sorted(cover.get(month, {}).items())
        }
        meta = {b"ibbot.coverage": json.dumps(ranges, separators=(",", ":")).encode()}
        pq.write_table(part.replace_schema_metadata(meta), directory / f"{month:%Y-%m}.parquet")


def legacy_store(root: Path) -> None:
    """Three symbols, five bar sizes, many months, a decade boundary, coverage without bars."""
    t = datetime(2019, 11, 28, 14, 30, tzinfo=UTC)
    minutes = series("AAPL", BarSize.MIN_1, t, 3000, timedelta(minutes=29))  # ~2 months
    hours = series("AAPL", BarSize.HOUR_1, t, 2500, timedelta(hours=3))  # 2019-2020
    days = series("AAPL", BarSize.DAY_1, t.replace(hour=5), 500, timedelta(days=1))
    holiday = (datetime(2021, 7, 4, tzinfo=UTC), datetime(2021, 7, 6, tzinfo=UTC))
    write_legacy(
        root,
        "AAPL",
        minutes + hours + days,
        {
            "1 min": [(minutes[0].timestamp, minutes[-1].timestamp + timedelta(minutes=1))],
            "1 hour": [(hours[0].timestamp, hours[1000].timestamp)],
            "1 day": [(datetime(2019, 11, 1, tzinfo=UTC), days[-1].timestamp), holiday],
        },
    )
    msft = series("MSFT", BarSize.DAY_1, datetime(2005, 1, 3, tzinfo=UTC), 5000, timedelta(days=1))
    write_legacy(root, "MSFT", msft, {"1 day": [(msft[0].timestamp, msft[-1].timestamp)]})
    weeks = series(
        "BRK B", BarSize.WEEK_1, datetime(2018, 1, 1, tzinfo=UTC), 200, timedelta(weeks=1)
    )
    write_legacy(root, "BRK B", weeks, {})


def legacy_truth(root: Path) -> Truth:
    """What the legacy files hold: each symbol's rows in read order, and coverage per size."""
    tables, coverage = {}, {}
    for directory in sorted((root / "prices").iterdir()):
        files = sorted(directory.glob("*.parquet"))
        tables[directory.name] = pa.concat_tables(
            [pq.read_table(f).replace_schema_metadata(None) for f in files]
        )
        for f in files:
            raw = json.loads(pq.read_schema(f).metadata[b"ibbot.coverage"])
            for size, ranges in raw.items():
                coverage.setdefault((directory.name, size), []).extend(
                    (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ranges
                )
    return tables, {key: merge_ranges(r) for key, r in coverage.items()}


def assert_reads_back(store: ParquetStore, truth: Truth) -> None:
    """Every read the store offers gives exactly what the legacy files held, bar for bar."""
    tables, coverage = truth
    assert store.symbols() == sorted(tables)
    assert sum(t.num_rows for t in tables.values()) == 3000 + 2500 + 500 + 5000 + 200
    for symbol, table in tables.items():
        assert store.read_bars_table(symbol, *EVER).equals(table), symbol
        for size in pc.unique(table.column("bar_size")).to_pylist():
            only = table.filter(pc.equal(table.column("bar_size"), size))
            assert store.read_bars_table(symbol, *EVER, bar_size=size).equals(only), (symbol, size)
            assert store.bar_coverage(symbol, size) == coverage.get((symbol, size), [])
        # A range read across file boundaries, inclusive start and exclusive end.
        ts = table.column("timestamp")
        lo, hi = ts[len(ts) // 5].as_py(), ts[4 * len(ts) // 5].as_py()
        mask = pc.and_(pc.greater_equal(ts, ts[len(ts) // 5]), pc.less(ts, ts[4 * len(ts) // 5]))
        assert store.read_bars_table(symbol, lo, hi).equals(table.filter(mask)), symbol
        assert store.read_bars(symbol, lo, hi) == bars_from_table(table.filter(mask))
    gaps = store.bar_gaps("AAPL", "1 day", datetime(2019, 1, 1, tzinfo=UTC), EVER[1])
    assert gaps[0] == (datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 11, 1, tzinfo=UTC))


def layout(root: Path) -> list[str]:
    """Data files under prices/, relative paths (temp files left out)."""
    return sorted(
        str(p.relative_to(root / "prices"))
        for p in (root / "prices").rglob("*.parquet")
        if not p.name.startswith(".")
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    legacy_store(tmp_path / "data")
    return tmp_path / "data"


def test_first_use_migrates_and_reads_back_bar_for_bar(root: Path) -> None:
    """A legacy store reads back identically after migrating on first use, logged once."""
    truth = legacy_truth(root)
    before = len(layout(root))
    with capture_logs() as logs, ParquetStore(root) as store:
        assert_reads_back(store, truth)
    migrated = [e for e in logs if e["event"] == "store.prices_migrated"]
    assert len(migrated) == 1
    assert migrated[0]["symbols"] == 3
    assert migrated[0]["legacy_files"] == before
    files = layout(root)
    assert files == [
        "bars=1d/symbol=AAPL/2010s.parquet",
        "bars=1d/symbol=AAPL/2020s.parquet",
        "bars=1d/symbol=MSFT/2000s.parquet",
        "bars=1d/symbol=MSFT/2010s.parquet",
        "bars=1h/symbol=AAPL/2019.parquet",
        "bars=1h/symbol=AAPL/2020.parquet",
        "bars=1min/symbol=AAPL/2019-11.parquet",
        "bars=1min/symbol=AAPL/2019-12.parquet",
        "bars=1min/symbol=AAPL/2020-01.parquet",
        "bars=1w/symbol=BRK B/all.parquet",
    ]
    assert before > 10 * len(files)
    assert sorted(os.listdir(root / "prices")) == ["bars=1d", "bars=1h", "bars=1min", "bars=1w"]
    # A second store on the migrated directory finds nothing to do and says nothing.
    with capture_logs() as logs, ParquetStore(root) as store:
        assert_reads_back(store, truth)
        assert not store.migrate_prices().done_anything
    assert [e for e in logs if e["event"].startswith("store.")] == []


def test_migration_is_idempotent(root: Path) -> None:
    """Migrating a migrated store changes no byte."""
    store = ParquetStore(root)
    assert store.migrate_prices().symbols == 3
    snapshot = {p: (root / "prices" / p).read_bytes() for p in layout(root)}
    assert not store.migrate_prices().done_anything
    assert not ParquetStore(root).migrate_prices().done_anything
    assert {p: (root / "prices" / p).read_bytes() for p in layout(root)} == snapshot


KILL_AT_REPLACE = """
from ibbot.store import atomic
calls = 0
def replace(source, target):
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os._exit(17)  # killed with the temp file complete, before its rename
    os.replace(source, target)
atomic.replace_file = replace
"""

KILL_AT_UNLINK = """
real_unlink = os.unlink
calls = 0
def unlink(path, *args, **kwargs):
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os._exit(17)  # killed while deleting the legacy files
    real_unlink(path, *args, **kwargs)
os.unlink = unlink
"""


@pytest.mark.parametrize(
    ("patch", "at"),
    [(KILL_AT_REPLACE, 1), (KILL_AT_REPLACE, 4), (KILL_AT_REPLACE, 7), (KILL_AT_UNLINK, 3)],
    ids=["first-file", "mid-symbol", "second-symbol", "deleting-legacy-files"],
)
def test_migration_killed_midway_resumes_to_the_same_bars(root: Path, patch: str, at: int) -> None:
    """A process killed during migration leaves a store that the next use finishes, identically."""
    truth = legacy_truth(root)
    code = textwrap.dedent(
        "import os, sys\n" + patch + "from ibbot.store import ParquetStore\n"
        "ParquetStore(sys.argv[1]).migrate_prices()\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root), str(at)], timeout=120, check=False,
        capture_output=True,
    )  # fmt: skip
    assert done.returncode == 17, done.stderr.decode()
    assert any((root / "prices").glob("*/*.parquet")), "the kill came after the migration"
    with capture_logs() as logs, ParquetStore(root) as store:
        assert_reads_back(store, truth)
    assert [e["event"] for e in logs if e["event"] == "store.prices_migrated"] == [
        "store.prices_migrated"
    ]
    assert not [p for p in (root / "prices").iterdir() if not p.name.startswith("bars=")]


def test_rows_written_in_the_new_layout_win_over_legacy_ones(tmp_path: Path) -> None:
    """Re-merging a legacy month never overwrites a newer bar already in the new layout."""
    root = tmp_path / "data"
    t = datetime(2024, 3, 4, tzinfo=UTC)
    newer = series("AAPL", BarSize.DAY_1, t, 2, timedelta(days=1))
    newer = [PriceBar(b.symbol, b.timestamp, 1, 2, 0, 1.5, 9, b.bar_size) for b in newer]
    ParquetStore(root).write_bars("AAPL", newer)
    older = series("AAPL", BarSize.DAY_1, t - timedelta(days=1), 4, timedelta(days=1))
    write_legacy(root, "AAPL", older, {"1 day": [(older[0].timestamp, t)]})
    got = ParquetStore(root).read_bars("AAPL", *EVER)
    assert got == [older[0], *newer, older[3]]


def test_a_legacy_directory_with_foreign_files_is_kept_with_a_warning(root: Path) -> None:
    """Files the store did not write stay where they were; the bars still migrate."""
    (root / "prices" / "MSFT" / "notes.txt").write_text("mine")
    truth = legacy_truth(root)
    with capture_logs() as logs:
        store = ParquetStore(root)
        assert_reads_back(store, truth)
    kept = [e for e in logs if e["event"] == "store.legacy_directory_kept"]
    assert [e["directory"] for e in kept] == [str(root / "prices" / "MSFT")]
    assert os.listdir(root / "prices" / "MSFT") == ["notes.txt"]


def test_a_corrupt_legacy_file_stops_the_migration_of_its_symbol(root: Path) -> None:
    """A legacy file that cannot be read is named; nothing of its symbol moves, the rest does.

    Bars are refused until it is repaired or removed: a backtest must not run on half a history.
    """
    bad = root / "prices" / "MSFT" / "2010-03.parquet"
    good = pq.read_table(bad)
    bad.write_bytes(b"not parquet")
    count = len(list((root / "prices" / "MSFT").iterdir()))
    store = ParquetStore(root)
    with pytest.raises(StoreError, match=r"1 symbol.*MSFT/2010-03\.parquet"):
        store.read_bars("AAPL", *EVER)
    assert len(list((root / "prices" / "MSFT").iterdir())) == count
    assert sorted(os.listdir(root / "prices")) == [
        "MSFT",
        "bars=1d",
        "bars=1h",
        "bars=1min",
        "bars=1w",
    ]
    with pytest.raises(StoreError, match=r"MSFT/2010-03\.parquet"):
        store.read_bars("AAPL", *EVER)  # not marked done: every use tries again
    pq.write_table(good, bad)
    assert len(store.read_bars("MSFT", *EVER)) == 5000


def test_appending_daily_bars_one_day_at_a_time_leaves_one_file(tmp_path: Path) -> None:
    """Writes merge into the span's file: daily appends over three months make one file, not 3."""
    store = ParquetStore(tmp_path / "data")
    bars = series("AAPL", BarSize.DAY_1, datetime(2023, 1, 20, tzinfo=UTC), 60, timedelta(days=1))
    for one in bars:
        store.write_bars("AAPL", [one])
    assert layout(tmp_path / "data") == ["bars=1d/symbol=AAPL/2020s.parquet"]
    assert store.read_bars("AAPL", *EVER) == bars
    assert store.bar_coverage("AAPL", "1 day") == [
        (bars[0].timestamp, bars[-1].timestamp + timedelta(days=1))
    ]


def test_store_migrate_and_info_commands(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ibbot store migrate` moves a legacy store and says so; again, it has nothing to do."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(root.parent)
    truth = legacy_truth(root)
    argv = ["--log-level", "error", "--set", f"store.path={root}", "store"]
    assert main([*argv, "migrate"]) == 0
    out = capsys.readouterr().out
    assert f"{root}: migrated 3 symbol(s): 230 month file(s) -> 10 file(s)" in out
    assert main([*argv, "migrate"]) == 0
    assert capsys.readouterr().out == f"{root}: bars already in the current layout; nothing to do\n"
    assert main([*argv, "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["directory", "symbols", "files", "MB"]
    assert [line.split()[:3] for line in lines[2:]] == [
        ["bars=1min", "1", "3"],
        ["bars=1h", "1", "2"],
        ["bars=1d", "2", "4"],
        ["bars=1w", "1", "1"],
    ]
    assert_reads_back(ParquetStore(root), truth)


def test_threads_using_a_legacy_store_at_once_migrate_it_once(root: Path) -> None:
    """Concurrent first uses (AsyncStore's worker threads) wait for one migration, then read."""
    truth = legacy_truth(root)
    store = ParquetStore(root)
    start = threading.Barrier(4)

    def first_use(symbol: str) -> pa.Table:
        start.wait()
        return store.read_bars_table(symbol, *EVER)

    with capture_logs() as logs, ThreadPoolExecutor(4) as pool:
        tables = list(pool.map(first_use, ["AAPL", "MSFT", "BRK B", "AAPL"]))
    assert [e["event"] for e in logs] == ["store.prices_migrated"]
    assert [t.num_rows for t in tables] == [6000, 5000, 200, 6000]
    assert tables[1].equals(truth[0]["MSFT"])
    assert_reads_back(store, truth)
