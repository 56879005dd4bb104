"""ParquetStore events: batching, part files, compaction by day, crash leftovers, reads."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ibbot.errors import StoreError
from ibbot.models import (
    Action,
    BarSize,
    Decision,
    Event,
    EventType,
    PriceBar,
    Tick,
    arrow_schema,
)
from ibbot.store import InvalidStoreInput, ParquetStore
from ibbot.store import atomic as atomic_module

if TYPE_CHECKING:
    from pathlib import Path

DAY1 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
INGESTED = datetime(2026, 1, 7, tzinfo=UTC)


def tick(t: datetime, price: float = 100.0, symbol: str = "AAPL") -> Event:
    return Event(
        EventType.TICK, symbol, t, Tick(symbol, t, bid=price - 0.01, ask=price + 0.01, last=price),
        ingested_at=INGESTED,
    )  # fmt: skip


def names(root: Path) -> list[str]:
    directory = root / "events"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(root: Path) -> ParquetStore:
    return ParquetStore(root, event_batch_size=3)


def test_events_are_buffered_until_a_batch_is_full(store: ParquetStore, root: Path) -> None:
    """Events stay in memory until batch_size of them arrived, then go out as one part file."""
    store.write_event(tick(DAY1))
    store.write_event(tick(DAY1 + timedelta(seconds=1)))
    assert names(root) == []
    store.write_event(tick(DAY1 + timedelta(seconds=2)))
    assert names(root) == ["2026-01-05-part-000001.parquet"]
    assert pq.read_table(root / "events" / "2026-01-05-part-000001.parquet").num_rows == 3


def test_reads_include_buffered_events(store: ParquetStore) -> None:
    """read_events sees events that are still in the buffer."""
    events = [tick(DAY1 + timedelta(seconds=i)) for i in range(4)]
    for event in events:
        store.write_event(event)
    assert store.read_events(DAY1, DAY2) == events


def test_each_flush_writes_only_its_own_batch(store: ParquetStore, root: Path) -> None:
    """Flushing within a day adds one part per batch and never rewrites earlier events."""
    for i in range(9):
        store.write_event(tick(DAY1 + timedelta(seconds=i)))
    assert names(root) == [f"2026-01-05-part-{n:06d}.parquet" for n in (1, 2, 3)]
    sizes = [pq.read_table(root / "events" / name).num_rows for name in names(root)]
    assert sizes == [3, 3, 3]
    store.flush()  # nothing buffered: nothing written
    assert len(names(root)) == 3


def test_a_finished_day_is_compacted_into_the_plan_day_file(
    store: ParquetStore, root: Path
) -> None:
    """Once a later day's events are flushed, the earlier day's parts fold into <day>.parquet."""
    day1 = [tick(DAY1 + timedelta(seconds=i), 100 + i) for i in range(6)]
    for event in day1:
        store.write_event(event)
    assert len(names(root)) == 2
    day2 = [tick(DAY2 + timedelta(seconds=i)) for i in range(3)]
    for event in day2:
        store.write_event(event)
    assert names(root) == ["2026-01-05.parquet", "2026-01-06-part-000001.parquet"]
    assert store.read_events(DAY1, DAY2 + timedelta(days=1)) == day1 + day2
    store.close()
    assert names(root) == ["2026-01-05.parquet", "2026-01-06.parquet"]
    assert store.read_events(DAY1, DAY2 + timedelta(days=1)) == day1 + day2


def test_close_flushes_and_compacts(store: ParquetStore, root: Path) -> None:
    """close() writes the partial batch and leaves one file per day; a second close is harmless."""
    store.write_event(tick(DAY1))
    store.close()
    store.close()
    assert names(root) == ["2026-01-05.parquet"]
    assert [e.timestamp for e in store.read_events(DAY1, DAY2)] == [DAY1]
    with pytest.raises(StoreError, match="is closed"):
        store.write_event(tick(DAY1))


def test_compaction_appends_to_an_existing_day_file(root: Path) -> None:
    """A later run adding events to a compacted day keeps the earlier events."""
    with ParquetStore(root, event_batch_size=2) as first:
        first.write_event(tick(DAY1))
    with ParquetStore(root, event_batch_size=2) as second:
        second.write_event(tick(DAY1 + timedelta(seconds=5)))
        second.write_event(tick(DAY1 + timedelta(seconds=1)))
    assert names(root) == ["2026-01-05.parquet"]
    got = ParquetStore(root).read_events(DAY1, DAY2)
    assert [e.timestamp for e in got] == [DAY1 + timedelta(seconds=s) for s in (0, 1, 5)]


def test_a_new_run_continues_part_numbers(root: Path) -> None:
    """A new store instance never overwrites part files an earlier run left behind."""
    first = ParquetStore(root, event_batch_size=1)
    first.write_event(tick(DAY1))
    second = ParquetStore(root, event_batch_size=1)
    second.write_event(tick(DAY1 + timedelta(seconds=1)))
    assert names(root) == ["2026-01-05-part-000001.parquet", "2026-01-05-part-000002.parquet"]
    assert len(second.read_events(DAY1, DAY2)) == 2


def test_parts_left_by_a_crash_during_compaction_are_not_read_twice(
    store: ParquetStore, root: Path
) -> None:
    """Parts already absorbed by the day file (crash before their deletion) are skipped, then removed."""
    events = [tick(DAY1 + timedelta(seconds=i)) for i in range(6)]
    for event in events:
        store.write_event(event)
    saved = root.parent / "saved"
    shutil.copytree(root / "events", saved)
    store.compact_events()
    assert names(root) == ["2026-01-05.parquet"]
    for part in saved.iterdir():  # the crash: the day file was committed, the parts not yet deleted
        shutil.copy(part, root / "events" / part.name)
    fresh = ParquetStore(root, event_batch_size=3)
    assert fresh.read_events(DAY1, DAY2) == events
    fresh.write_event(tick(DAY1 + timedelta(seconds=10)))
    fresh.close()
    assert names(root) == ["2026-01-05.parquet"]
    assert len(fresh.read_events(DAY1, DAY2)) == 7


def test_read_events_filters_by_range_and_type(store: ParquetStore) -> None:
    """Ranges are [start, end) across days; types filter by EventType or its string value."""
    bar = PriceBar("AAPL", DAY1, 1, 2, 0.5, 1.5, 100, BarSize.MIN_1)
    decision = Decision("AAPL", Action.HOLD, 0.0, 0.5, "no signal", timestamp=DAY1)
    events = [
        tick(DAY1),
        Event(EventType.PRICE_BAR, "AAPL", DAY1 + timedelta(minutes=1), bar, ingested_at=INGESTED),
        Event(EventType.DECISION, "AAPL", DAY2, decision, ingested_at=INGESTED),
        Event(
            EventType.ERROR, None, DAY2 + timedelta(hours=1), {"code": 162}, ingested_at=INGESTED
        ),
    ]
    for event in reversed(events):
        store.write_event(event)
    store.flush()
    assert store.read_events(DAY1, DAY2 + timedelta(days=1)) == events
    assert store.read_events(DAY1, DAY2) == events[:2]
    assert store.read_events(DAY1 + timedelta(minutes=1), DAY2 + timedelta(hours=1)) == events[1:3]
    assert store.read_events(DAY1, DAY2 + timedelta(days=1), ["price_bar", EventType.ERROR]) == [
        events[1],
        events[3],
    ]
    assert store.read_events(DAY2, DAY1) == []
    got_bar = store.read_events(DAY1, DAY2, [EventType.PRICE_BAR])[0].payload
    assert got_bar == bar


def test_unknown_event_type_filter_is_refused(store: ParquetStore) -> None:
    """Asking for an event type that does not exist is bad input, not an empty result."""
    with pytest.raises(InvalidStoreInput, match="unknown event type"):
        store.read_events(DAY1, DAY2, ["price_bars"])


def test_failed_flush_keeps_the_events_for_the_next_try(
    store: ParquetStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a part file cannot be written, its events return to the buffer: none are lost."""
    events = [tick(DAY1 + timedelta(seconds=i)) for i in range(2)]
    later = tick(DAY2)
    for event in [*events, later]:
        store.enqueue_event(event)

    def refuse(source: Path, target: Path) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(atomic_module, "replace_file", refuse)
    with pytest.raises(StoreError, match="cannot write"):
        store.flush()
    monkeypatch.undo()
    assert list(root.rglob("*.parquet")) == []
    assert store.read_events(DAY1, DAY2 + timedelta(days=1)) == [*events, later]
    store.flush()
    assert store.read_events(DAY1, DAY2 + timedelta(days=1)) == [*events, later]
    assert len(names(root)) == 2


def test_corrupt_event_file_is_a_store_error_naming_it(store: ParquetStore, root: Path) -> None:
    """A broken events file is reported by name; other days still read."""
    for i in range(3):
        store.write_event(tick(DAY2 + timedelta(seconds=i)))
    (root / "events" / "2026-01-05.parquet").write_bytes(b"garbage")
    with pytest.raises(StoreError, match=r"2026-01-05\.parquet"):
        store.read_events(DAY1, DAY2)
    assert len(store.read_events(DAY2, DAY2 + timedelta(days=1))) == 3


def test_events_directory_reads_as_one_dataset(store: ParquetStore, root: Path) -> None:
    """Day files and not-yet-compacted parts open together as one pyarrow dataset."""
    for i in range(4):
        store.write_event(tick(DAY1 + timedelta(hours=i * 8)))
    store.flush()
    table = ds.dataset(root / "events", format="parquet").to_table()
    assert table.num_rows == 4
    # The event's fields, then the run that wrote it.
    schema = arrow_schema(Event).append(pa.field("run_id", pa.string()))
    assert table.schema.remove_metadata().equals(schema)
    assert sorted(set(table.column("type").to_pylist())) == ["tick"]


def test_batch_size_must_be_positive(root: Path) -> None:
    """A non-positive batch size is a programming error caught at construction."""
    with pytest.raises(ValueError, match="batch size"):
        ParquetStore(root, event_batch_size=0)


def test_compact_events_folds_todays_parts(store: ParquetStore, root: Path) -> None:
    """compact_events folds today's parts too (used before handing the directory to a reader)."""
    for i in range(3):
        store.write_event(tick(DAY1 + timedelta(seconds=i)))
    store.compact_events()
    assert names(root) == ["2026-01-05.parquet"]
    assert len(store.read_events(DAY1, DAY2)) == 3


def test_close_compacts_parts_an_earlier_crashed_run_left(root: Path) -> None:
    """Parts of a run that died before close are folded into day files by the next run's close."""
    crashed = ParquetStore(root, event_batch_size=1)
    crashed.write_event(tick(DAY1))
    crashed.write_event(tick(DAY2))  # compacts DAY1; DAY2 stays a part when the process dies
    assert names(root) == ["2026-01-05.parquet", "2026-01-06-part-000001.parquet"]
    ParquetStore(root).close()
    assert names(root) == ["2026-01-05.parquet", "2026-01-06.parquet"]
    assert len(ParquetStore(root).read_events(DAY1, DAY2 + timedelta(days=1))) == 2
