"""Benchmark of the stores: ParquetStore's bars and events, then PostgreSQL beside Parquet.

Run: ``uv run python benchmarks/store.py [--bars N] [--events N] [--repeat N]
[--backend-bars N] [--dsn DSN | --no-postgres]``

Each figure is the best of ``--repeat`` runs and is printed beside a baseline measured in the same
run on the same data: a bare ``pyarrow.parquet.write_table`` / ``read_table`` of one file (no
month split, no de-duplication, no fsync, no validation). The ratio is store time / baseline time.

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
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import structlog

from ibbot.models import BarSize, Event, EventType, PriceBar, Tick, from_arrow, to_arrow
from ibbot.store import AsyncStore, ParquetStore
from ibbot.store.bars import bars_to_table

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
        if args.no_postgres:
            return
        with scratch_database(args.dsn) as dsn:
            if dsn is None:
                print("\nBackends: skipped (no PostgreSQL binaries; give --dsn)")
                return
            bench_backends(Path(tmp), args.backend_bars, args.repeat, dsn)


if __name__ == "__main__":
    main()
