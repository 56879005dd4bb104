"""Benchmark of the stores: ParquetStore's bars, events and a universe, then PostgreSQL beside it.

Run: ``uv run python benchmarks/store.py [--bars N] [--events N] [--repeat N]
[--symbols N --years N] [--backend-bars N] [--dsn DSN | --no-postgres]``

Each figure is the best of ``--repeat`` runs and is printed beside a baseline measured in the same
run on the same data: a bare ``pyarrow.parquet.write_table`` / ``read_table`` of one file (no
month split, no de-duplication, no fsync, no validation). The ratio is store time / baseline time.

The universe section (``--symbols`` x ``--years`` of daily bars, 100 x 20 by default; 0 skips it)
compares the layout before bar-size files (``prices/<SYMBOL>/<YYYY-MM>.parquet``, read the way the
store read it then) with the current one, after migrating the first into the second: file counts,
reading every symbol's bars, reading the whole universe as one pyarrow dataset, the migration.

The last part writes ``--backend-bars`` (1,000,000) one-minute bars through each backend's
``write_bars`` (into an empty store, then all overlapping) and reads them back with
``read_bars_table``, side by side: the ratio there is PostgreSQL time / Parquet time. The database
is ``--dsn`` (emptied first: use a scratch database), or a throwaway server started from the OS's
PostgreSQL binaries (as the tests do) when none is given. The issue's target: >= 200,000 bars/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import structlog

from ibbot.models import BarSize, Event, EventType, PriceBar, Tick, from_arrow, to_arrow
from ibbot.store import AsyncStore, ParquetStore
from ibbot.store.bars import BAR_SCHEMA, bars_to_table
from ibbot.store.parquet_io import read_parquet
from ibbot.store.ranges import next_month

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

START = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)


def minute_bars(n: int, symbol: str = "AAPL") -> list[PriceBar]:
    """``n`` one-minute bars over regular sessions (390 a weekday), about a year for 100,000."""
    bars: list[PriceBar] = []
    day = START
    price = 100.0
    while len(bars) < n:
        if day.weekday() < 5:
            for minute in range(min(390, n - len(bars))):
                price *= 1.0 + ((minute * 7919) % 13 - 6) * 1e-4
                bars.append(
                    PriceBar(symbol, day + timedelta(minutes=minute), price, price * 1.001,
                             price * 0.999, price, 1000.0 + minute, BarSize.MIN_1, price, 12)
                )  # fmt: skip
        day += timedelta(days=1)
    return bars


def ticks(n: int) -> list[Event]:
    """``n`` tick events spread over two days (so compaction of the first day is included)."""
    step = timedelta(seconds=2 * 86_400 / n)
    events = []
    for i in range(n):
        t = START + i * step
        symbol = ("AAPL", "MSFT", "NVDA", "SPY")[i % 4]
        tick = Tick(symbol, t, bid=100.0, ask=100.02, last=100.01, bid_size=3, ask_size=5)
        events.append(Event(EventType.TICK, symbol, t, tick, ingested_at=t))
    return events


def best(repeat: int, run: Callable[[], Any], setup: Callable[[], None] | None = None) -> float:
    """Best wall time of ``repeat`` runs of ``run`` (``setup`` before each, not timed)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def row(label: str, seconds: float, baseline: float, count: int, unit: str) -> None:
    rate = count / seconds
    print(
        f"  {label:<44} {seconds * 1e3:9.1f} ms {rate:14,.0f} {unit}/s   x{seconds / baseline:5.2f}"
    )


def bench_bars(workdir: Path, n: int, repeat: int) -> None:
    bars = minute_bars(n)
    months = len({(b.timestamp.year, b.timestamp.month) for b in bars})
    end = bars[-1].timestamp + timedelta(days=1)
    print(f"\nBars: {n:,} one-minute bars of one symbol over {months} month files")
    root = workdir / "bars"

    def fresh() -> None:
        shutil.rmtree(root, ignore_errors=True)

    table = bars_to_table(bars)
    plain = workdir / "plain.parquet"
    base_write = best(repeat, lambda: pq.write_table(table, plain))
    base_build_write = best(repeat, lambda: pq.write_table(to_arrow(PriceBar, bars), plain))
    print(f"  baseline write_table (prebuilt table)         {base_write * 1e3:9.1f} ms")
    print(f"  baseline to_arrow + write_table               {base_build_write * 1e3:9.1f} ms")
    store = ParquetStore(root)
    write = best(repeat, lambda: store.write_bars("AAPL", bars), setup=fresh)
    row("write_bars, empty store (vs prebuilt)", write, base_write, n, "bars")
    row("write_bars, empty store (vs to_arrow+write)", write, base_build_write, n, "bars")
    rewrite = best(repeat, lambda: store.write_bars("AAPL", bars))
    row("write_bars, all overlapping (de-duplicated)", rewrite, base_build_write, n, "bars")
    one_day = bars[-390:]
    append = best(repeat, lambda: store.write_bars("AAPL", one_day))
    print(f"  write_bars, one day (390 bars) into its month {append * 1e3:9.1f} ms per call")

    base_read = best(repeat, lambda: pq.read_table(plain))
    base_objects = best(repeat, lambda: from_arrow(PriceBar, pq.read_table(plain)))
    print(f"  baseline read_table                           {base_read * 1e3:9.1f} ms")
    print(f"  baseline read_table + from_arrow (objects)    {base_objects * 1e3:9.1f} ms")
    read_table = best(repeat, lambda: store.read_bars_table("AAPL", START, end, BarSize.MIN_1))
    row("read_bars_table (Arrow, no objects)", read_table, base_read, n, "bars")
    read_objects = best(repeat, lambda: store.read_bars("AAPL", START, end, BarSize.MIN_1))
    row("read_bars (PriceBar objects)", read_objects, base_objects, n, "bars")
    coverage = best(repeat, lambda: store.bar_gaps("AAPL", BarSize.MIN_1, START, end))
    print(f"  bar_gaps over the whole year                  {coverage * 1e3:9.1f} ms")


def bench_events(workdir: Path, n: int, repeat: int) -> None:
    events = ticks(n)
    print(f"\nEvents: {n:,} tick events over 2 days, batches of 10,000")
    root = workdir / "events"

    def fresh() -> None:
        shutil.rmtree(root, ignore_errors=True)

    plain = workdir / "events.parquet"
    base = best(repeat, lambda: pq.write_table(to_arrow(Event, events), plain))
    print(f"  baseline to_arrow + write_table (one file)    {base * 1e3:9.1f} ms")

    def sync_run() -> None:
        with ParquetStore(root) as store:
            for event in events:
                store.write_event(event)

    row("write_event + close (sync)", best(repeat, sync_run, setup=fresh), base, n, "events")

    async def async_events() -> None:
        async with AsyncStore(ParquetStore(root)) as store:
            for event in events:
                await store.write_event(event)

    def async_run() -> None:
        asyncio.run(async_events())

    row("AsyncStore.write_event + close", best(repeat, async_run, setup=fresh), base, n, "events")
    read = best(repeat, lambda: ParquetStore(root).read_events(START, START + timedelta(days=3)))
    base_read = best(repeat, lambda: from_arrow(Event, pq.read_table(plain)))
    print(f"  baseline read_table + from_arrow              {base_read * 1e3:9.1f} ms")
    row("read_events (all, as Event objects)", read, base_read, n, "events")


def daily_bars(symbol: str, years: int, seed: int) -> list[PriceBar]:
    """Weekday daily bars of ``symbol`` for ``years`` years ending 2024, stamped at midnight UTC."""
    day = datetime(2025 - years, 1, 1, tzinfo=UTC)
    end = datetime(2025, 1, 1, tzinfo=UTC)
    bars, price = [], 50.0 + seed
    while day < end:
        if day.weekday() < 5:
            price *= 1.0 + ((len(bars) * 7919 + seed) % 13 - 6) * 1e-3
            bars.append(
                PriceBar(symbol, day, price, price * 1.01, price * 0.99, price, 1e6, BarSize.DAY_1)
            )
        day += timedelta(days=1)
    return bars


def write_legacy(root: Path, symbol: str, bars: list[PriceBar]) -> int:
    """``bars`` as month files in the layout before bar-size files (no fsync: setup, not timed)."""
    table = bars_to_table(bars)
    months = pc.floor_temporal(table.column("timestamp"), unit="month")
    directory = root / "prices" / symbol
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for month in pc.unique(months).to_pylist():
        part = table.filter(pc.equal(months, month))
        first, last = part.column("timestamp")[0].as_py(), part.column("timestamp")[-1].as_py()
        cover = {"1 day": [[first.isoformat(), (last + timedelta(days=1)).isoformat()]]}
        meta = {b"ibbot.coverage": json.dumps(cover).encode()}
        pq.write_table(part.replace_schema_metadata(meta), directory / f"{month:%Y-%m}.parquet")
        count += 1
    return count


def legacy_read_table(root: Path, symbol: str, start: datetime, end: datetime) -> pa.Table:
    """read_bars_table(symbol, start, end, "1 day") as the store did it on the month layout."""
    required = frozenset(BAR_SCHEMA.names) - {"wap", "bar_count"}
    directory = root / "prices" / symbol
    months = {}
    for name in os.listdir(directory):
        if name.endswith(".parquet") and len(name) == 15:
            months[datetime(int(name[:4]), int(name[5:7]), 1, tzinfo=UTC)] = name
    lo = pa.scalar(start, type=BAR_SCHEMA.field("timestamp").type)
    hi = pa.scalar(end, type=BAR_SCHEMA.field("timestamp").type)
    tables = []
    for month in sorted(months):
        if month >= end or next_month(month) <= start:
            continue
        table = read_parquet(directory / months[month], BAR_SCHEMA, required).table
        if pc.unique(table.column("symbol")).to_pylist() != [symbol]:
            raise AssertionError(symbol)
        for size in pc.unique(table.column("bar_size")).to_pylist():
            BarSize(size)
        stamps = table.column("timestamp")
        mask = pc.and_(pc.greater_equal(stamps, lo), pc.less(stamps, hi))
        mask = pc.and_(mask, pc.equal(table.column("bar_size"), "1 day"))
        tables.append(table.filter(mask))
    return pa.concat_tables(tables).replace_schema_metadata(None)


def count_files(directory: Path) -> int:
    return sum(1 for _, _, names in os.walk(directory) for n in names if n.endswith(".parquet"))


def bench_universe(workdir: Path, symbols: int, years: int, repeat: int) -> None:
    names = [f"S{i:03d}" for i in range(symbols)]
    root = workdir / "universe"
    universe = {name: daily_bars(name, years, i) for i, name in enumerate(names)}
    n = sum(len(bars) for bars in universe.values())
    print(f"\nUniverse: {symbols} symbols x {years} years of daily bars ({n:,} bars)")
    for name, bars in universe.items():
        write_legacy(root, name, bars)
    before_files = count_files(root / "prices")
    start, end = datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

    def legacy_all() -> int:
        return sum(legacy_read_table(root, s, start, end).num_rows for s in names)

    assert legacy_all() == n
    legacy_read = best(repeat, legacy_all)
    legacy_ds = best(repeat, lambda: ds.dataset(root / "prices", format="parquet").to_table())
    expected = {s: legacy_read_table(root, s, start, end) for s in names}
    began = time.perf_counter()
    store = ParquetStore(root)
    migration = store.migrate_prices()
    migrate_s = time.perf_counter() - began
    after_files = count_files(root / "prices")
    assert all(store.read_bars_table(s, start, end, "1 day").equals(expected[s]) for s in names)

    def current_all() -> int:
        return sum(store.read_bars_table(s, start, end, BarSize.DAY_1).num_rows for s in names)

    assert current_all() == n
    current_read = best(repeat, current_all)
    daily = root / "prices" / "bars=1d"
    current_ds = best(repeat, lambda: ds.dataset(daily, partitioning="hive").to_table())
    last = universe[names[0]][-1]
    nxt = PriceBar(last.symbol, last.timestamp + timedelta(days=3), 1, 2, 0, 1, 5, BarSize.DAY_1)
    append = best(repeat, lambda: store.write_bars(names[0], [nxt]))
    print(f"  files, month layout (before)                  {before_files:9,}")
    print(f"  files, one bar size per file (after)          {after_files:9,}   "
          f"x{after_files / before_files:.4f}")  # fmt: skip
    print(f"  read_bars_table of every symbol, before       {legacy_read * 1e3:9.1f} ms")
    row("read_bars_table of every symbol, after", current_read, legacy_read, n, "bars")
    print(f"  pyarrow dataset of prices/, before            {legacy_ds * 1e3:9.1f} ms")
    row("pyarrow dataset of prices/bars=1d, after", current_ds, legacy_ds, n, "bars")
    label = f"migration ({migration.legacy_files:,} -> {migration.files_written:,} files)"
    print(f"  {label:<44} {migrate_s * 1e3:9.1f} ms")
    print(f"  write_bars, one daily bar into its decade     {append * 1e3:9.1f} ms per call")


@contextlib.contextmanager
def scratch_database(dsn: str | None) -> Iterator[str | None]:
    """``dsn``, or a throwaway server's database (None when PostgreSQL is not installed)."""
    if dsn is not None:
        yield dsn
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pg_server import find_binaries, running_server  # noqa: PLC0415

    binaries = find_binaries()
    if binaries is None:
        yield None
        return
    with running_server(binaries) as server:
        yield server.dsn()


def bench_backends(workdir: Path, n: int, repeat: int, dsn: str) -> None:
    from ibbot.store.postgres import PostgresStore  # noqa: PLC0415
    from ibbot.store.postgres.connection import describe_dsn  # noqa: PLC0415

    bars = minute_bars(n)
    end = bars[-1].timestamp + timedelta(days=1)
    print(f"\nBackends: {n:,} one-minute bars, Parquet directory vs {describe_dsn(dsn)}")
    print(f"  {'':<44} {'Parquet':>12} {'PostgreSQL':>12} {'bars/s (PG)':>14}  PG/Parquet")
    root = workdir / "backends"
    parquet = ParquetStore(root)
    postgres = PostgresStore(dsn)

    def empty_parquet() -> None:
        shutil.rmtree(root, ignore_errors=True)

    def empty_postgres() -> None:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE bars, bar_coverage")
            conn.execute("VACUUM ANALYZE bars")

    def compare(label: str, on_files: float, on_database: float, count: int = n) -> None:
        print(
            f"  {label:<44} {on_files * 1e3:9.0f} ms {on_database * 1e3:9.0f} ms"
            f" {count / on_database:14,.0f}  x{on_database / on_files:5.2f}"
        )

    try:
        compare(
            "write_bars, empty store",
            best(repeat, lambda: parquet.write_bars("AAPL", bars), setup=empty_parquet),
            best(repeat, lambda: postgres.write_bars("AAPL", bars), setup=empty_postgres),
        )
        compare(
            "write_bars, all overlapping, same values",
            best(repeat, lambda: parquet.write_bars("AAPL", bars)),
            best(repeat, lambda: postgres.write_bars("AAPL", bars)),
        )
        changed = [replace(bar, close=bar.close + 0.01) for bar in bars]
        compare(
            "write_bars, all overlapping, new values",
            best(repeat, lambda: parquet.write_bars("AAPL", changed)),
            best(repeat, lambda: postgres.write_bars("AAPL", changed)),
        )
        compare(
            "read_bars_table (Arrow)",
            best(repeat, lambda: parquet.read_bars_table("AAPL", START, end, BarSize.MIN_1)),
            best(repeat, lambda: postgres.read_bars_table("AAPL", START, end, BarSize.MIN_1)),
        )
        one_day = bars[-390:]
        compare(
            "write_bars, one day (390 bars) into its month",
            best(repeat, lambda: parquet.write_bars("AAPL", one_day)),
            best(repeat, lambda: postgres.write_bars("AAPL", one_day)),
            len(one_day),
        )
    finally:
        parquet.close()
        postgres.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--symbols", type=int, default=100, help="universe symbols (0: skip)")
    parser.add_argument("--years", type=int, default=20, help="universe years of daily bars")
    parser.add_argument("--backend-bars", type=int, default=1_000_000)
    parser.add_argument("--dsn", help="a scratch PostgreSQL database (its bars are emptied)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the backends part")
    args = parser.parse_args()
    # The store's debug lines (one per compacted file) would bury the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"ParquetStore benchmark (best of {args.repeat}; x = store time / baseline time)")
    with tempfile.TemporaryDirectory(prefix="ibbot-store-bench-") as tmp:
        bench_bars(Path(tmp), args.bars, args.repeat)
        bench_events(Path(tmp), args.events, args.repeat)
        if args.symbols:
            bench_universe(Path(tmp), args.symbols, args.years, args.repeat)
        if args.no_postgres:
            return
        with scratch_database(args.dsn) as dsn:
            if dsn is None:
                print("\nBackends: skipped (no PostgreSQL binaries; give --dsn)")
                return
            bench_backends(Path(tmp), args.backend_bars, args.repeat, dsn)


if __name__ == "__main__":
    main()
