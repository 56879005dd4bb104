"""One conformance suite, run against every store backend: the Parquet directory and PostgreSQL.

What a caller of the DataStore protocol may rely on, whichever backend holds the data: bars with
de-duplication of overlaps and coverage, the Arrow twin, contracts, point-in-time fundamentals,
events, strategy state, account pseudonyms, the audit trail read back exactly once per append,
refusal of bad input, writes refused after close, and crash safety (a writer killed mid-write
leaves the whole record or none of it). PostgreSQL runs for real (see ``postgres_server``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ibbot.accounts import is_pseudonym
from ibbot.clock import SimulatedClock
from ibbot.errors import StoreError
from ibbot.models import BarSize, Event, EventType, OrderSide, PriceBar, arrow_schema
from ibbot.store import AuditKind, DataStore, InvalidStoreInput, bars_from_table
from ibbot.store.factory import open_store_at
from tests.unit.test_store import (
    FEB,
    JAN,
    MAR,
    T0,
    _contract,
    _decision,
    _order,
    bar,
    fundamental,
    hourly,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from ibbot.store.parquet_store import ParquetStore
    from ibbot.store.postgres import PostgresStore

    Store = ParquetStore | PostgresStore

BACKENDS = ["parquet", "postgres"]


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store lives: a directory, or an empty database on the session's server."""
    if request.param == "parquet":
        return str(tmp_path / "data")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def opened(location: str, clock: SimulatedClock) -> Iterator[Callable[..., Store]]:
    """Opens stores at the test's location (closed at the end); ``run_id=`` passes through."""
    stores: list[Store] = []

    def open_(*, run_id: str | None = None, event_batch_size: int | None = None) -> Store:
        store = open_store_at(location, clock=clock, run_id=run_id)
        if event_batch_size is not None:
            store._events._batch_size = event_batch_size
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


@pytest.fixture
def store(opened: Callable[..., Store]) -> Store:
    return opened()


# -- bars ------------------------------------------------------------------------------------


def test_store_satisfies_the_protocol(store: Store) -> None:
    """Every backend implements every method of the DataStore protocol."""
    assert isinstance(store, DataStore)


def test_bars_round_trip_with_every_field(store: Store) -> None:
    """Bars come back equal to what was written, optional fields included, in time order."""
    bars = [
        bar(T0 + timedelta(hours=2), 101.0, wap=100.5, count=42),
        bar(T0, 99.0),
        bar(T0 + timedelta(hours=1), 100.123456789012, wap=99.8, count=7),
    ]
    store.write_bars("AAPL", bars)
    got = store.read_bars("AAPL", T0, T0 + timedelta(days=1))
    assert got == sorted(bars, key=lambda b: b.timestamp)
    assert all(b.timestamp.tzinfo is UTC for b in got)
    assert all(type(b.bar_size) is BarSize for b in got)


def test_range_is_inclusive_start_exclusive_end_across_months(store: Store) -> None:
    """A range read includes a bar at start, excludes one at end, across a month boundary."""
    bars = hourly(FEB - timedelta(hours=5), 10)
    store.write_bars("AAPL", bars)
    assert store.read_bars("AAPL", bars[2].timestamp, bars[8].timestamp) == bars[2:8]
    assert store.read_bars("AAPL", bars[3].timestamp, bars[3].timestamp) == []
    assert store.read_bars("AAPL", bars[8].timestamp, bars[2].timestamp) == []
    assert store.read_bars("MSFT", JAN, MAR) == []
    assert store.read_bars_table("MSFT", JAN, MAR).num_rows == 0


def test_overlapping_rewrite_keeps_the_newest(store: Store) -> None:
    """Re-writing overlapping bars replaces them (newest wins), each key stored once."""
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


def test_duplicates_within_one_write_keep_the_last(store: Store) -> None:
    """Within one call, the later of two bars with the same key wins."""
    store.write_bars("AAPL", [bar(T0, 1.0), bar(T0, 2.0), bar(T0, 3.0)])
    assert [b.close for b in store.read_bars("AAPL", JAN, MAR)] == [3.0]


def test_bar_sizes_are_distinct_series_filtered_on_read(store: Store) -> None:
    """Bar sizes are separate keys; read_bars filters by size (IB's spellings accepted)."""
    minute = [bar(T0 + timedelta(minutes=i), size=BarSize.MIN_1) for i in range(3)]
    daily = [bar(T0.replace(hour=5), size=BarSize.DAY_1)]
    store.write_bars("AAPL", minute + daily)
    assert store.read_bars("AAPL", JAN, FEB, bar_size=BarSize.MIN_1) == minute
    assert store.read_bars("AAPL", JAN, FEB, bar_size="1d") == daily
    store.write_bars("AAPL", [bar(T0, size=BarSize.HOUR_1)])
    both = store.read_bars("AAPL", T0, T0 + timedelta(seconds=1))
    assert [b.bar_size for b in both] == sorted([BarSize.MIN_1, BarSize.HOUR_1], key=str)
    with pytest.raises(InvalidStoreInput, match="unknown bar size"):
        store.read_bars("AAPL", JAN, FEB, bar_size="7 fortnights")


def test_read_bars_table_is_the_columnar_twin(store: Store) -> None:
    """read_bars_table returns the same rows as Arrow, in the model's schema, without metadata."""
    bars = hourly(FEB - timedelta(hours=3), 6)
    store.write_bars("AAPL", bars)
    table = store.read_bars_table("AAPL", JAN, MAR, bar_size=BarSize.HOUR_1)
    assert table.schema.equals(arrow_schema(PriceBar))
    assert table.schema.metadata is None
    assert bars_from_table(table) == bars


def test_symbols_with_spaces_and_dots_and_symbols_listing(store: Store) -> None:
    """Real IB symbols ("BRK B", "BF.B") round-trip; symbols() lists them sorted."""
    assert store.symbols() == []
    for symbol in ("MSFT", "BRK B", "BF.B"):
        store.write_bars(symbol, hourly(T0, 2, symbol=symbol))
    assert store.symbols() == ["BF.B", "BRK B", "MSFT"]
    assert len(store.read_bars("BRK B", JAN, FEB)) == 2


def test_bad_bar_input_is_refused_and_writes_nothing(store: Store) -> None:
    """Foreign symbols, unsafe names and naive times are refused before anything is written."""
    with pytest.raises(InvalidStoreInput, match="MSFT"):
        store.write_bars("AAPL", [bar(T0), bar(T0, symbol="MSFT")])
    with pytest.raises(InvalidStoreInput, match="invalid symbol"):
        store.write_bars("../x", [])
    with pytest.raises(InvalidStoreInput, match="timezone-aware"):
        store.read_bars("AAPL", datetime(2026, 1, 1), FEB)
    with pytest.raises(InvalidStoreInput, match="timezone-aware"):
        store.read_fundamental("AAPL", datetime(2026, 1, 1))
    assert store.read_bars("AAPL", JAN, MAR) == []
    assert store.symbols() == []


# -- coverage --------------------------------------------------------------------------------


def test_coverage_defaults_to_the_span_of_each_batch(store: Store) -> None:
    """Without covering=, a batch covers its first bar's start to its last bar's end."""
    store.write_bars("AAPL", hourly(T0, 3))
    store.write_bars("AAPL", hourly(T0 + timedelta(hours=3), 2))  # touches: merges
    store.write_bars("AAPL", hourly(T0 + timedelta(days=1), 1))
    assert store.bar_coverage("AAPL", BarSize.HOUR_1) == [
        (T0, T0 + timedelta(hours=5)),
        (T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)),
    ]
    assert store.bar_coverage("AAPL", BarSize.DAY_1) == []


def test_covering_declares_a_window_and_gaps_are_what_is_left(store: Store) -> None:
    """covering= records the whole window (even without bars); bar_gaps is the rest."""
    window = (JAN + timedelta(days=20), FEB + timedelta(days=10))
    store.write_bars("AAPL", hourly(FEB - timedelta(hours=1), 2), covering=window)
    assert store.bar_coverage("AAPL", "1 hour") == [window]
    assert store.bar_gaps("AAPL", BarSize.HOUR_1, JAN, MAR) == [(JAN, window[0]), (window[1], MAR)]
    assert store.bar_gaps("AAPL", BarSize.HOUR_1, *window) == []
    holiday = (MAR, MAR + timedelta(days=1))
    with pytest.raises(InvalidStoreInput, match="exactly one bar size"):
        store.write_bars("AAPL", [], covering=holiday)
    store.write_bars("AAPL", [], covering=holiday, bar_size="1 day")
    assert store.bar_coverage("AAPL", BarSize.DAY_1) == [holiday]


def test_covering_is_validated(store: Store) -> None:
    """covering= must be a non-empty range holding every bar; a refused write records nothing."""
    bars = hourly(T0, 3)
    with pytest.raises(InvalidStoreInput, match="outside the covering range"):
        store.write_bars("AAPL", bars, covering=(T0 + timedelta(hours=1), T0 + timedelta(days=1)))
    with pytest.raises(InvalidStoreInput, match="empty covering range"):
        store.write_bars("AAPL", bars, covering=(T0, T0))
    assert store.bar_coverage("AAPL", BarSize.HOUR_1) == []
    assert store.read_bars("AAPL", JAN, MAR) == []


# -- contracts and fundamentals --------------------------------------------------------------


def test_contract_round_trip_and_replacement(store: Store) -> None:
    """A contract is stored per symbol; writing again replaces it; an absent one reads None."""
    assert store.read_contract("AAPL") is None
    store.write_contract(_contract())
    store.write_contract(_contract(exchange="NASDAQ"))
    assert store.read_contract("AAPL") == _contract(exchange="NASDAQ")


def test_fundamentals_round_trip_keeps_raw_and_source(store: Store) -> None:
    """A record comes back whole: raw document, source, values and details."""
    record = fundamental(T0, 15e9, source="sec")
    store.write_fundamental("AAPL", record)
    assert store.read_fundamental("AAPL") == record


def test_as_of_lookup_is_point_in_time(store: Store) -> None:
    """as_of returns the latest record known at that instant, never a later one."""
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


def test_source_and_report_type_filters(store: Store) -> None:
    """Several records a day; source and report type filters pick among them."""
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


def test_same_key_replaces_and_the_last_written_wins_ties(store: Store) -> None:
    """Same timestamp, source and report type: replaced; equal times: the last written wins."""
    store.write_fundamental("AAPL", fundamental(T0, 1.0))
    store.write_fundamental("AAPL", fundamental(T0, 5.0, source="sec"))
    store.write_fundamental("AAPL", fundamental(T0, 9.0))
    history = store.read_fundamentals("AAPL")
    assert sorted((r.source, r.shares_outstanding) for r in history) == [("ib", 9.0), ("sec", 5.0)]
    assert store.read_fundamental("AAPL", T0).shares_outstanding == 9.0  # type: ignore[union-attr]


def test_fundamentals_history_range(store: Store) -> None:
    """read_fundamentals returns [start, end) in time order, filtered by source."""
    times = [T0 + timedelta(days=i, hours=i) for i in range(5)]
    for i, t in enumerate(times):
        store.write_fundamental("AAPL", fundamental(t, float(i), source="sec" if i % 2 else "ib"))
    assert [r.timestamp for r in store.read_fundamentals("AAPL", times[1], times[4])] == times[1:4]
    assert [r.shares_outstanding for r in store.read_fundamentals("AAPL", source="sec")] == [
        1.0,
        3.0,
    ]
    assert store.read_fundamentals("AAPL", end=times[0]) == []
    with pytest.raises(InvalidStoreInput, match="'MSFT'"):
        store.write_fundamental("AAPL", fundamental(T0, 1.0, symbol="MSFT"))


# -- events ----------------------------------------------------------------------------------


def _event(t: datetime, n: int, symbol: str = "AAPL") -> Event:
    """A price-bar event whose close is ``n`` (to tell events apart)."""
    return Event(EventType.PRICE_BAR, symbol, t, bar(t, float(n)), source="test", ingested_at=t)


def _closes(events: list[Event]) -> list[float]:
    return [e.payload.close for e in events]  # type: ignore[union-attr]


def test_events_are_buffered_flushed_and_read_in_time_order(opened: Callable[..., Store]) -> None:
    """Events read back in time order (ties in the order written), buffered ones included."""
    store = opened(event_batch_size=3)
    store.write_event(_event(T0 + timedelta(seconds=2), 0))
    store.write_event(_event(T0, 1))
    assert _closes(store.read_events(JAN, FEB)) == [1.0, 0.0]
    store.write_event(_event(T0, 2))  # fills the batch: flushed
    store.write_event(_event(T0 + timedelta(days=40), 3))
    store.flush()
    got = store.read_events(JAN, MAR)
    assert _closes(got) == [1.0, 2.0, 0.0, 3.0]
    assert got[0] == _event(T0, 1)
    assert _closes(store.read_events(FEB, MAR)) == [3.0]
    assert store.read_events(JAN, MAR, types=[EventType.TICK]) == []
    assert len(store.read_events(JAN, MAR, types=["price_bar"])) == 4
    with pytest.raises(InvalidStoreInput, match="unknown event type"):
        store.read_events(JAN, MAR, types=["nonsense"])


def test_events_survive_close_and_reopen(opened: Callable[..., Store]) -> None:
    """close() writes the buffer; a later store reads the events back."""
    first = opened()
    first.write_event(_event(T0, 7))
    first.close()
    assert opened().read_events(JAN, FEB) == [_event(T0, 7)]


# -- strategy state and accounts -------------------------------------------------------------


def test_strategy_state_round_trip_and_refusals(store: Store) -> None:
    """State loads back equal, is replaced by later saves; JSON-less values are refused."""
    assert store.load_strategy_state("value_strategy") is None
    state = {"positions": {"AAPL": 10}, "history": [1.5, 2.5], "note": "ok", "flag": None}
    store.save_strategy_state("value_strategy", state)
    assert store.load_strategy_state("value_strategy") == state
    store.save_strategy_state("value_strategy", {"at": T0, "size": BarSize.DAY_1, "pair": (1, 2)})
    assert store.load_strategy_state("value_strategy") == {
        "at": T0.isoformat(),
        "size": "1 day",
        "pair": [1, 2],
    }
    with pytest.raises(InvalidStoreInput, match="cannot be stored as JSON"):
        store.save_strategy_state("value_strategy", {"n": float("nan")})
    assert store.load_strategy_state("value_strategy") == {
        "at": T0.isoformat(),
        "size": "1 day",
        "pair": [1, 2],
    }
    with pytest.raises(InvalidStoreInput, match="invalid strategy name"):
        store.save_strategy_state("../evil", {})


def test_account_ids_become_stable_pseudonyms_at_rest(opened: Callable[..., Store]) -> None:
    """An account id is written as its pseudonym, the same in every store on the same data."""
    store = opened()
    pseudonym = store.account_pseudonym("DU1234567")
    assert is_pseudonym(pseudonym)
    assert pseudonym.startswith("DU****567#")
    store.save_strategy_state("s1", {"account": "DU1234567"})
    assert store.load_strategy_state("s1") == {"account": pseudonym}
    store.log_audit("reconciliation", {"account": "DU1234567"})
    assert store.read_audit("reconciliation")[0].record == {"account": pseudonym}
    assert opened().account_pseudonym("DU1234567") == pseudonym


# -- audit -----------------------------------------------------------------------------------


def test_decisions_and_orders_round_trip(opened: Callable[..., Store]) -> None:
    """Decisions and orders decode back to the models, with the run that logged them."""
    store = opened(run_id="run-1")
    decision = _decision()
    store.log_decision("sma_cross", decision)
    order, result = _order()
    store.log_order("sma_cross", order, result)
    assert store.read_decisions() == [decision]
    assert store.read_orders() == [(order, result)]
    (entry,) = store.read_audit(AuditKind.DECISIONS)
    assert entry.logged_at == T0
    assert entry.run_id == "run-1"
    assert entry.strategy == "sma_cross"
    assert entry.record["reasoning"] == decision.reasoning
    (line,) = store.read_audit(AuditKind.ORDERS)
    assert line.record["order_ref"] == "sma_cross:d-1"


def test_each_append_is_read_back_exactly_once(opened: Callable[..., Store]) -> None:
    """An order written ahead and synced, then logged, gives two lines; every append one line."""
    store = opened()
    order, result = _order()
    pending = store.log_order_ahead("sma_cross", order, result)
    # Written ahead: readable by another store (another process) before the sync returns.
    assert len(opened().read_audit(AuditKind.ORDERS)) == 1
    pending.sync()
    pending.sync()  # once is enough; again does nothing
    assert pending.synced
    store.log_order("sma_cross", order, result)
    for n in range(20):
        store.log_audit("lifecycle", {"n": n})
    assert len(store.read_orders()) == 2
    assert [e.record["n"] for e in store.read_audit("lifecycle")] == list(range(20))


def test_audit_filters_across_days(store: Store, clock: SimulatedClock) -> None:
    """read_audit filters by since/until, symbol and strategy, across days, oldest first."""
    store.log_audit(AuditKind.RISK, {"rule": "max_order_notional"}, strategy="a", symbol="AAPL")
    clock.advance(86_400)
    store.log_audit(AuditKind.RISK, {"rule": "daily_loss"}, strategy="b", symbol="MSFT")
    clock.advance(60)
    store.log_audit("risk", {"rule": "kill_switch"})
    assert [e.record["rule"] for e in store.read_audit("risk")] == [
        "max_order_notional",
        "daily_loss",
        "kill_switch",
    ]
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
    with pytest.raises(InvalidStoreInput, match="invalid audit kind"):
        store.log_audit("Bad-Kind", {})


def test_undecodable_audit_records_are_skipped_with_a_warning(store: Store) -> None:
    """A decisions/orders line whose record is not the model is skipped with a warning."""
    store.log_audit(AuditKind.DECISIONS, {"symbol": "AAPL"}, strategy="s1")
    store.log_audit(AuditKind.ORDERS, {"order": {}}, strategy="s1")
    store.log_decision("s1", _decision())
    with capture_logs() as logs:
        assert store.read_decisions() == [_decision()]
        assert store.read_orders() == []
    assert [entry["event"] for entry in logs] == ["store.audit_record_skipped"] * 2


def test_audit_records_hold_models_and_refuse_what_json_cannot(store: Store) -> None:
    """Models, enums, times and sets are stored in JSON form; other values are refused."""
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
    with pytest.raises(InvalidStoreInput, match="cannot be stored as JSON"):
        store.log_audit("lifecycle", {"x": {1, object()}})
    assert store.read_audit("lifecycle") == []


def test_writes_after_close_are_refused(store: Store) -> None:
    """A closed store refuses writes (nothing silently dropped); close is idempotent."""
    store.write_bars("AAPL", hourly(T0, 1))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.write_bars("AAPL", hourly(T0, 1))
    with pytest.raises(StoreError, match="is closed"):
        store.log_audit("lifecycle", {})


# -- crash safety ----------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, sys
    from datetime import UTC, datetime, timedelta
    from ibbot.models import BarSize, PriceBar
    from ibbot.store.factory import open_store_at

    location, n = sys.argv[1], int(sys.argv[2])
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    bars = [
        PriceBar("AAPL", t0 + timedelta(minutes=i), 1.0, 2.0, 0.5, 1.5, 10.0, BarSize.MIN_1)
        for i in range(n)
    ]
    store = open_store_at(location)
    store.write_bars("AAPL", bars[:10])
    store.log_audit("lifecycle", {"event": "first"})

    def stop_here():
        print("mid-write", flush=True)
        sys.stdin.read()  # killed here

    if location.startswith("postgresql"):
        import psycopg

        def sent_not_committed(self):  # every statement of the write sent, no COMMIT yet
            stop_here()

        psycopg.Connection.commit = sent_not_committed
    else:
        def written_not_renamed(source, target):  # the new file complete, not yet in place
            stop_here()

        os.replace = written_not_renamed
    store.write_bars("AAPL", bars)
    store.log_audit("lifecycle", {"event": "second"})
    """
)


def test_a_writer_killed_mid_write_leaves_no_partial_record(location: str) -> None:
    """SIGKILL in the middle of a big write (its bars and coverage sent but not committed; its
    file written, not renamed): the earlier write is whole, nothing of the interrupted one is."""
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, location, "50000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ) as writer:
        assert writer.stdout is not None
        lines = iter(writer.stdout.readline, b"")
        assert b"mid-write\n" in lines  # (log lines may come first)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    with open_store_at(location) as store:
        assert store.read_bars_table("AAPL", JAN, MAR).num_rows == 10
        assert store.bar_coverage("AAPL", BarSize.MIN_1) == [(t0, t0 + timedelta(minutes=10))]
        assert [e.record["event"] for e in store.read_audit("lifecycle")] == ["first"]
