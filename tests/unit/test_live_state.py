"""StateKeeper, the warm-up feed and the activity summary: state tied to its account, history in the
order it became known, the console's one line."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ibbot.clock import SimulatedClock
from ibbot.live import (
    BOOK_STATE,
    Activity,
    FreshAccountStore,
    StateKeeper,
    history_events,
    summary_line,
    world_of,
)
from ibbot.models import (
    BarSize,
    Event,
    EventType,
    Fill,
    FundamentalData,
    OrderSide,
    PriceBar,
    Tick,
    to_dict,
)
from ibbot.store import AsyncStore, ParquetStore
from ibbot.strategies.sma_cross import SmaCrossStrategy
from ibbot.trading import PositionBook

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def fill(exec_id: str, account: str = "DU1", strategy: str = "sma") -> Fill:
    """10 AAPL bought at 100."""
    return Fill(
        exec_id,
        1,
        1,
        "AAPL",
        OrderSide.BUY,
        10.0,
        100.0,
        NOW,
        strategy_name=strategy,
        account=account,
    )


async def test_worlds_hash_the_account_and_make_every_embedded_simulator_new(
    tmp_path: Path,
) -> None:
    """The same account is the same world (its id not in clear); each embedded simulator's run is new."""
    clock = SimulatedClock(NOW)
    async with AsyncStore(ParquetStore(tmp_path, clock=clock)) as store:

        async def world(account: str, *, embedded: bool = False, run_id: str = "r1") -> str:
            keeper = StateKeeper(
                store, account=account, embedded=embedded, clock=clock, run_id=run_id
            )
            return await keeper.world()

        assert await world("DU1234567") == await world("DU1234567", run_id="r2")
        assert await world("DU1234567") != await world("DU7654321")
        assert "DU1234567" not in await world("DU1234567")
        embedded = await world("DU1234567", embedded=True)
        assert embedded != await world("DU1234567", embedded=True, run_id="r2")
    assert embedded == world_of("anything", embedded=True, run_id="r1") == "embedded-simulator:r1"


async def test_a_book_saved_under_the_former_bare_hash_is_still_restored(tmp_path: Path) -> None:
    """A book saved before pseudonyms (world: a bare SHA-256 of the id) belongs to the same account."""
    clock = SimulatedClock(NOW)
    async with AsyncStore(ParquetStore(tmp_path, clock=clock)) as store:
        book = PositionBook()
        book.apply_fill(fill("e1"))
        former = "account:" + hashlib.sha256(b"DU1").hexdigest()[:16]
        await store.save_strategy_state(
            BOOK_STATE,
            {"version": 1, "world": former, "saved_at": NOW.isoformat(), "book": book.dump()},
        )
        restored = await StateKeeper(store, account="DU1", embedded=False, clock=clock).load_book()
        assert restored is not None
        assert restored.quantities() == {"sma": {"AAPL": 10.0}}
        other = StateKeeper(store, account="DU2", embedded=False, clock=clock)
        assert await other.load_book() is None


async def test_state_is_restored_only_into_the_same_account(tmp_path: Path) -> None:
    """Saved for DU1: a keeper for DU1 restores book and strategy; DU2 or a new simulator do not."""
    clock = SimulatedClock(NOW)
    async with AsyncStore(ParquetStore(tmp_path, clock=clock)) as store:
        book = PositionBook()
        book.apply_fill(fill("e1"))
        strategy = SmaCrossStrategy(name="sma", allocated_capital=10_000, params={})
        strategy.on_event(Event(EventType.FILL, "AAPL", NOW, fill("e1")))
        saver = StateKeeper(store, account="DU1", embedded=False, clock=clock)
        await saver.save([strategy], book)

        same = StateKeeper(store, account="DU1", embedded=False, clock=clock)
        restored = await same.load_book()
        assert restored is not None
        assert restored.quantities() == {"sma": {"AAPL": 10.0}}
        fresh = SmaCrossStrategy(name="sma", allocated_capital=10_000, params={})
        assert await same.restore(fresh)
        assert fresh.position_quantity("AAPL") == 10.0
        assert not await same.restore(
            SmaCrossStrategy(name="other", allocated_capital=1, params={})
        )

        for other in (
            StateKeeper(store, account="DU2", embedded=False, clock=clock),
            StateKeeper(store, account="DU1", embedded=True, clock=clock),
        ):
            assert await other.load_book() is None
            assert not other.restoring
            assert not await other.restore(fresh)
            assert await other.fills_since_save() == []


async def test_audited_fills_since_the_save_are_replayed_for_this_account_only(
    tmp_path: Path,
) -> None:
    """Fills audited after (or shortly before) the last save, of this account, come back."""
    clock = SimulatedClock(NOW)
    async with AsyncStore(ParquetStore(tmp_path, clock=clock)) as store:
        await store.log_audit("fills", to_dict(fill("old")))
        clock.advance(3_600)
        await StateKeeper(store, account="DU1", embedded=False, clock=clock).save(
            [], PositionBook()
        )
        clock.advance(60)
        await store.log_audit("fills", to_dict(fill("mine")))
        await store.log_audit("fills", to_dict(fill("theirs", account="DU9")))
        await store.log_audit("fills", {"exec_id": "broken"})
        keeper = StateKeeper(store, account="DU1", embedded=False, clock=clock)
        assert await keeper.load_book() is not None
        assert [f.exec_id for f in await keeper.fills_since_save()] == ["mine"]


async def test_an_unreadable_book_starts_afresh(tmp_path: Path) -> None:
    """A book state of the right world but the wrong shape: logged, not restored."""
    clock = SimulatedClock(NOW)
    async with AsyncStore(ParquetStore(tmp_path, clock=clock)) as store:
        keeper = StateKeeper(store, account="DU1", embedded=False, clock=clock)
        await store.save_strategy_state(BOOK_STATE, {"world": await keeper.world(), "book": {}})
        assert await keeper.load_book() is None
        assert not keeper.restoring
        (tmp_path / "state" / f"{BOOK_STATE}.json").write_text("[1, 2]")
        assert await keeper.load_book() is None


async def test_a_fresh_account_store_shows_only_its_runs_fills_and_orders(tmp_path: Path) -> None:
    """The executor of a new simulated account sees no fill or order of an earlier run, even one
    audited at a later simulated time (each run of the embedded simulator starts at the same one)."""
    later = SimulatedClock(NOW + timedelta(hours=1))
    with ParquetStore(tmp_path, clock=later, run_id="earlier") as earlier:
        earlier.log_audit("fills", {"exec_id": "before"})
        earlier.log_audit("orders", {"order_ref": "before"})
        earlier.log_audit("decisions", {"decision_id": "before"})
    with ParquetStore(tmp_path, clock=SimulatedClock(NOW), run_id="this") as parquet:
        parquet.log_audit("fills", {"exec_id": "after"})
        parquet.log_audit("orders", {"order_ref": "after"})
        view = FreshAccountStore(parquet, run_id="this")
        assert [e.record["exec_id"] for e in await view.read_audit("fills")] == ["after"]
        early = NOW - timedelta(days=7)
        assert [e.record["exec_id"] for e in await view.read_audit("fills", early)] == ["after"]
        assert [e.record["order_ref"] for e in await view.read_audit("orders")] == ["after"]
        assert len(await view.read_audit("decisions")) == 1


async def test_history_comes_in_the_order_it_became_known(tmp_path: Path) -> None:
    """Bars at their end, fundamentals at their time (first on ties); IB statements typed apart;
    a bar still open at the end of the window is left out."""

    def bar(minute: int) -> PriceBar:
        return PriceBar("AAPL", NOW + timedelta(minutes=minute), 1, 1, 1, 1, 10, BarSize.MIN_1)

    def record(minute: int, source: str, report: str) -> FundamentalData:
        return FundamentalData(
            "AAPL", NOW + timedelta(minutes=minute), "Apple", source=source, report_type=report
        )

    async with AsyncStore(ParquetStore(tmp_path)) as store:
        await store.write_bars("AAPL", [bar(0), bar(1), bar(2)])
        for data in (
            record(1, "ib", "ReportSnapshot"),
            record(2, "ib", "ReportsFinStatements"),
            record(2, "sec", "CompanyFacts"),
        ):
            await store.write_fundamental("AAPL", data)
        events = await history_events(
            store,
            ["AAPL"],
            start=NOW,
            end=NOW + timedelta(minutes=2, seconds=30),
            bar_size=BarSize.MIN_1,
        )
    assert [(e.type.value, e.ingested_at.minute) for e in events] == [
        ("fundamental_data", 1),
        ("price_bar", 1),
        ("financial_statements", 2),
        ("fundamental_data", 2),
        ("price_bar", 2),
    ]
    assert {e.source for e in events} == {"history"}


def test_activity_keeps_the_last_price_and_the_summary_reads_as_one_line() -> None:
    """Ticks and bars set the price; the summary lists holdings and P&L at those prices."""
    activity = Activity()
    activity.observe(Event(EventType.TICK, "AAPL", NOW, Tick("AAPL", NOW, last=105.0)))
    activity.observe(
        Event(EventType.PRICE_BAR, "MSFT", NOW, PriceBar("MSFT", NOW, 1, 1, 1, 50.0, 1))
    )
    activity.observe(Event(EventType.TICK, "KO", NOW, Tick("KO", NOW)))
    assert activity.prices == {"AAPL": 105.0, "MSFT": 50.0}
    assert (activity.price("KO"), activity.events, activity.events_since_last_call()) == (
        None,
        0,
        0,
    )
    book = PositionBook()
    book.apply_fill(fill("e1"))
    line, realized, unrealized = summary_line(book, activity.prices, ["idle", "sma"])
    assert line == "sma AAPL +10"
    assert (realized, unrealized) == (0.0, 50.0)
    assert summary_line(PositionBook(), {}, [])[0] == "flat"
