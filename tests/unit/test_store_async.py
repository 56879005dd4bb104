"""AsyncStore: every call runs off the event loop; concurrent writers of the same files stay consistent."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from ibbot.clock import SimulatedClock
from ibbot.models import (
    Action,
    BarSize,
    ContractInfo,
    Decision,
    Event,
    EventType,
    FundamentalData,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    PriceBar,
)
from ibbot.store import AsyncStore, AuditKind, ParquetStore

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def bar(i: int, close: float = 100.0) -> PriceBar:
    return PriceBar(
        "AAPL", T0 + timedelta(minutes=i), close, close, close, close, 10, BarSize.MIN_1
    )


class ThreadRecordingStore(ParquetStore):
    """A ParquetStore that notes which thread ran each call and signals the loop after flushes."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.threads: dict[str, set[int]] = {}
        self.flushed: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def _note(self, name: str) -> None:
        self.threads.setdefault(name, set()).add(threading.get_ident())

    def write_bars(self, symbol: str, bars: Any, **kwargs: Any) -> None:
        self._note("write_bars")
        super().write_bars(symbol, bars, **kwargs)

    def read_bars(self, *args: Any, **kwargs: Any) -> list[PriceBar]:
        self._note("read_bars")
        return super().read_bars(*args, **kwargs)

    def enqueue_event(self, event: Event) -> bool:
        self._note("enqueue_event")
        return super().enqueue_event(event)

    def flush(self) -> None:
        self._note("flush")
        super().flush()
        if self.flushed is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.flushed.set)


@pytest.fixture
def sync_store(tmp_path: Path) -> ThreadRecordingStore:
    return ThreadRecordingStore(tmp_path / "data", clock=SimulatedClock(T0), event_batch_size=4)


async def test_calls_run_in_worker_threads(sync_store: ThreadRecordingStore) -> None:
    """File work happens off the loop's thread; buffering an event stays on it."""
    loop_thread = threading.get_ident()
    store = AsyncStore(sync_store)
    await store.write_bars("AAPL", [bar(0)])
    assert await store.read_bars("AAPL", T0, T0 + DAY) == [bar(0)]
    for i in range(4):
        await store.write_event(Event(EventType.PRICE_BAR, "AAPL", T0, bar(i)))
    assert sync_store.threads["enqueue_event"] == {loop_thread}
    for name in ("write_bars", "read_bars", "flush"):
        assert loop_thread not in sync_store.threads[name], name


async def test_concurrent_writes_to_one_month_file_lose_nothing(
    sync_store: ThreadRecordingStore,
) -> None:
    """Many coroutines merging bars into the same month file concurrently: every bar survives."""
    store = AsyncStore(sync_store)
    await asyncio.gather(*(store.write_bars("AAPL", [bar(i, 100.0 + i)]) for i in range(24)))
    got = await store.read_bars("AAPL", T0, T0 + DAY)
    assert [b.close for b in got] == [100.0 + i for i in range(24)]
    assert await store.bar_coverage("AAPL", BarSize.MIN_1) == [(T0, T0 + timedelta(minutes=24))]


async def test_concurrent_audit_appends_stay_whole_lines(sync_store: ThreadRecordingStore) -> None:
    """Concurrent appends to one audit file never interleave within a line."""
    store = AsyncStore(sync_store)
    text = "x" * 5000
    await asyncio.gather(
        *(store.log_audit(AuditKind.LIFECYCLE, {"n": n, "text": text}) for n in range(30))
    )
    entries = await store.read_audit(AuditKind.LIFECYCLE)
    assert sorted(e.record["n"] for e in entries) == list(range(30))
    assert all(e.record["text"] == text for e in entries)


async def test_concurrent_state_saves_leave_one_complete_state(
    sync_store: ThreadRecordingStore,
) -> None:
    """Concurrent saves of the same strategy's state end with one of them, whole."""
    store = AsyncStore(sync_store)
    states = [{"n": n, "payload": list(range(200))} for n in range(20)]
    await asyncio.gather(*(store.save_strategy_state("s1", s) for s in states))
    assert await store.load_strategy_state("s1") in states


async def test_flush_periodically_writes_trickling_events(
    sync_store: ThreadRecordingStore, tmp_path: Path
) -> None:
    """A periodic flusher on the injected clock writes events that never fill a batch."""
    clock = SimulatedClock(T0)
    sync_store.loop = asyncio.get_running_loop()
    sync_store.flushed = asyncio.Event()
    store = AsyncStore(sync_store)
    await store.write_event(Event(EventType.PRICE_BAR, "AAPL", T0, bar(0)))
    events_dir = tmp_path / "data" / "events"
    async with asyncio.TaskGroup() as group:
        flusher = group.create_task(store.flush_periodically(clock, 5.0))
        await clock.wait_for_sleepers()
        assert not events_dir.exists()
        clock.advance(5.0)
        async with asyncio.timeout(10):
            await sync_store.flushed.wait()
        flusher.cancel()
    assert [p.name for p in events_dir.iterdir()] == ["2026-01-05-part-000001.parquet"]


async def test_flush_interval_must_be_positive(sync_store: ThreadRecordingStore) -> None:
    """A zero interval would spin; it is refused."""
    with pytest.raises(ValueError, match="interval"):
        await AsyncStore(sync_store).flush_periodically(SimulatedClock(T0), 0)


async def test_every_method_round_trips_through_the_wrapper(
    sync_store: ThreadRecordingStore,
) -> None:
    """Each awaitable twin reaches the wrapped store with its arguments and returns its result."""
    async with AsyncStore(sync_store) as store:
        assert store.store is sync_store
        await store.write_bars("AAPL", [], covering=(T0, T0 + DAY), bar_size="1 min")
        await store.write_bars("AAPL", [bar(0)])
        assert (await store.read_bars_table("AAPL", T0, T0 + DAY)).num_rows == 1
        assert await store.bar_gaps("AAPL", "1 min", T0, T0 + 2 * DAY) == [(T0 + DAY, T0 + 2 * DAY)]
        assert await store.symbols() == ["AAPL"]

        info = ContractInfo("AAPL", 1, "APPLE", "Tech", "Comp", "Comp", "SMART", "USD")
        await store.write_contract(info)
        assert await store.read_contract("AAPL") == info

        record = FundamentalData("AAPL", T0, "Apple", source="sec", raw="{}")
        await store.write_fundamental("AAPL", record)
        assert await store.read_fundamental("AAPL", T0, "sec") == record
        assert await store.read_fundamentals("AAPL", T0, T0 + DAY, "sec") == [record]

        event = Event(EventType.PRICE_BAR, "AAPL", T0, bar(0))
        await store.write_event(event)
        await store.flush()
        assert await store.read_events(T0, T0 + DAY, ["price_bar"]) == [event]

        await store.save_strategy_state("s1", {"k": 1})
        assert await store.load_strategy_state("s1") == {"k": 1}

        decision = Decision("AAPL", Action.BUY, 0.1, 0.9, "why", "s1", "d1", T0)
        await store.log_decision("s1", decision)
        assert await store.read_decisions(symbol="AAPL") == [decision]
        order = Order("s1", "AAPL", OrderSide.BUY, 5, decision_id="d1", created_at=T0)
        result = OrderResult(1, OrderStatus.SUBMITTED, symbol="AAPL", timestamp=T0)
        await store.log_order("s1", order, result)
        assert await store.read_orders(strategy="s1") == [(order, result)]
        await store.log_audit("risk", {"rule": "max_open_orders"}, strategy="s1")
        assert [e.record for e in await store.read_audit("risk", until=T0 + DAY)] == [
            {"rule": "max_open_orders"}
        ]
    await store.close()  # idempotent after the context manager closed it
    assert sync_store.threads["flush"]
