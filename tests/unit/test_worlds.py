"""Worlds kept apart: the store's world.json, the default store of each world, run ids in every
record, and ids that never repeat across runs of the embedded simulator."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from structlog.testing import capture_logs

from ibbot.clock import SimulatedClock
from ibbot.errors import StoreError
from ibbot.exchange.fills import ExecutionLog
from ibbot.models import BarSize, Event, EventType, PriceBar
from ibbot.runs import is_run_id, new_run_id, qualify_decision_id
from ibbot.settings import Settings, load_settings
from ibbot.store import (
    ParquetStore,
    World,
    WorldMismatch,
    claim_connected_world,
    claim_world,
    read_world,
)

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SIM = World.simulator(42)


def claim(root: Path, world: World) -> bool:
    return claim_world(root, world, run_id="r1", now=NOW)


def bar() -> PriceBar:
    return PriceBar("AAPL", NOW, 1.0, 1.0, 1.0, 1.0, 10.0, BarSize.MIN_1)


def save_book(root: Path, world: str) -> None:
    with ParquetStore(root) as store:
        store.save_strategy_state("ibbot-position-book", {"world": world, "book": {}})


# --- the default store of each world --------------------------------------------------------------


def test_each_world_gets_its_own_store_by_default() -> None:
    """Unset, store.path is data/sim-<seed> for the embedded simulator and data for a gateway; set,
    it is used as given."""
    assert Settings().store.path == Path("data/sim-42")
    assert Settings(sim={"seed": 7}).store.path == Path("data/sim-7")
    assert Settings(ib={"simulate": False}).store.path == Path("data")
    assert Settings(store={"path": "elsewhere"}).store.path == Path("elsewhere")
    again = Settings(**Settings().model_dump())
    assert again.store.path == Path("data/sim-42")  # derived once, not twice


def test_the_shipped_settings_file_leaves_the_store_to_the_world() -> None:
    """settings.toml sets no store.path: the demo on the simulator keeps its data in data/sim-42."""
    shipped = Path(__file__).resolve().parents[2] / "settings.toml"
    settings = load_settings(config_file=shipped, environ={})
    assert settings.ib.simulate
    assert settings.store.path == Path("data/sim-42")
    gateway = load_settings(config_file=shipped, environ={"IBBOT_IB__SIMULATE": "false"})
    assert gateway.store.path == Path("data")


# --- world.json ---------------------------------------------------------------------------------


def test_a_store_records_its_world_and_refuses_another_in_one_line(tmp_path: Path) -> None:
    """The first claim records the world; the same world again is fine; another is refused, with
    one line naming both worlds and what to do, and nothing written."""
    assert claim(tmp_path, SIM) is True
    assert read_world(tmp_path) == SIM
    assert claim(tmp_path, SIM) is False
    before = (tmp_path / "world.json").read_bytes()
    with pytest.raises(WorldMismatch) as refused:
        claim(tmp_path, World.account("DU****567#0123456789abcdef"))
    message = str(refused.value)
    assert "\n" not in message
    assert "the embedded simulator with seed 42" in message
    assert "the gateway account DU****567" in message
    assert "store.path" in message
    with pytest.raises(WorldMismatch, match=r"seed 42.*seed 7"):
        claim(tmp_path, World.simulator(7))
    assert (tmp_path / "world.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world.json"]


def test_a_gateway_is_known_by_its_account_pseudonym(tmp_path: Path) -> None:
    """A gateway's world is its account under the store's key: the id itself is never written, the
    same account is the same world, another account is refused."""
    world = claim_connected_world(
        tmp_path, simulated=False, seed=42, account="DU1234567", run_id="r1", now=NOW
    )
    assert world.key.startswith("account:DU****567#")
    assert "DU1234567" not in (tmp_path / "world.json").read_text()
    again = claim_connected_world(
        tmp_path, simulated=False, seed=1, account="DU1234567", run_id="r2", now=NOW
    )
    assert again == world
    with pytest.raises(WorldMismatch, match="DU\\*\\*\\*\\*321"):
        claim_connected_world(
            tmp_path, simulated=False, seed=42, account="DU7654321", run_id="r3", now=NOW
        )


def test_a_gateway_refused_by_a_simulators_store_leaves_no_key_there(tmp_path: Path) -> None:
    """Against the simulator's store a gateway is refused before its account's key file is made."""
    claim(tmp_path, SIM)
    with pytest.raises(WorldMismatch, match="seed 42"):
        claim_connected_world(
            tmp_path, simulated=False, seed=42, account="DU1234567", run_id="r1", now=NOW
        )
    assert not (tmp_path / "state").exists()


def test_an_old_store_of_the_embedded_simulator_is_refused_with_the_way_out(
    tmp_path: Path,
) -> None:
    """A store without world.json whose book is an embedded simulator's (seed unknown): refused, the
    line says to move it aside; nothing is moved or written."""
    save_book(tmp_path, "embedded-simulator:5f1e")
    for world in (SIM, World.account("DU****567#0123456789abcdef")):
        with pytest.raises(
            WorldMismatch, match=re.escape(f"mv {tmp_path} {tmp_path}-before-worlds")
        ):
            claim(tmp_path, world)
    assert not (tmp_path / "world.json").exists()


def test_an_old_store_whose_lifecycle_says_simulated_is_refused(tmp_path: Path) -> None:
    """Without a book, the lifecycle audit's app.starting (simulated) tells the embedded simulator."""
    with ParquetStore(tmp_path) as store:
        store.log_audit("lifecycle", {"event": "app.starting", "simulated": True})
    with pytest.raises(WorldMismatch, match="before ibbot recorded worlds"):
        claim(tmp_path, World.account("DU****567#0123456789abcdef"))


def test_an_old_store_of_this_account_is_recorded_and_of_another_refused(tmp_path: Path) -> None:
    """A store without world.json whose book names this account (or its former bare hash) becomes
    this account's; one naming another account is refused."""
    mine = World.account("DU****567#0123456789abcdef", aliases=frozenset({"account:cafe"}))
    save_book(tmp_path / "a", mine.key)
    assert claim(tmp_path / "a", mine) is True
    save_book(tmp_path / "b", "account:cafe")
    assert claim(tmp_path / "b", mine) is True
    save_book(tmp_path / "c", "account:DU****999#ffffffffffffffff")
    with pytest.raises(WorldMismatch, match="another account"):
        claim(tmp_path / "c", mine)


def test_an_old_store_that_says_nothing_is_recorded_with_a_warning(tmp_path: Path) -> None:
    """Bars alone (a backfill, an import) name no world: recorded as this one, with a warning."""
    with ParquetStore(tmp_path) as store:
        store.write_bars("AAPL", [bar()])
    with capture_logs() as logs:
        assert claim(tmp_path, SIM) is True
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["store.world_assumed"]


def test_a_world_file_that_is_not_ours_is_an_error_naming_it(tmp_path: Path) -> None:
    """A world.json that is not an object with 'world' is refused by name, never overwritten."""
    (tmp_path / "world.json").write_text("[1]")
    with pytest.raises(StoreError, match=r"world\.json"):
        claim(tmp_path, SIM)
    assert (tmp_path / "world.json").read_text() == "[1]"


# --- run ids ------------------------------------------------------------------------------------


def test_run_ids_sort_by_start_and_qualify_decision_ids_once() -> None:
    """A run id is the UTC start plus random hex; a decision id gets it once, never twice."""
    first, second = new_run_id(NOW), new_run_id(NOW)
    assert first.startswith("20260304T150000Z-")
    assert is_run_id(first)
    assert first != second  # two runs started in the same second
    qualified = qualify_decision_id("sma-AAPL-1", first)
    assert qualified == f"sma-AAPL-1@{first}"
    assert qualify_decision_id(qualified, first) == qualified
    assert qualify_decision_id("", first) == ""


def test_every_audit_line_event_and_state_save_carries_the_run_id(tmp_path: Path) -> None:
    """The store writes its run id into each audit line, each event row and each saved state."""
    clock = SimulatedClock(NOW)
    with ParquetStore(tmp_path, clock=clock, run_id="run-a") as store:
        store.log_audit("decisions", {"decision_id": "d1"}, strategy="s", symbol="AAPL")
        store.write_event(Event(EventType.PRICE_BAR, "AAPL", NOW, bar(), "ib"))
        store.save_strategy_state("s", {"x": 1})
        assert [e.run_id for e in store.read_audit("decisions")] == ["run-a"]
    line = json.loads((tmp_path / "audit" / "decisions" / "2026-03-04.jsonl").read_text())
    assert line["run_id"] == "run-a"
    (events,) = (tmp_path / "events").iterdir()
    assert pq.read_table(events).column("run_id").to_pylist() == ["run-a"]
    assert json.loads((tmp_path / "state" / "s.json").read_text())["run_id"] == "run-a"
    with ParquetStore(tmp_path) as reread:
        assert len(reread.read_events(NOW, NOW.replace(hour=16))) == 1


def test_audit_lines_are_filed_by_the_market_day_of_the_stores_clock(tmp_path: Path) -> None:
    """With a simulated market clock, a line is stamped and filed by the simulated day."""
    with ParquetStore(tmp_path, clock=SimulatedClock(NOW)) as store:
        store.log_audit("fills", {"exec_id": "e1"})
    assert [p.name for p in (tmp_path / "audit" / "fills").iterdir()] == ["2026-03-04.jsonl"]


def test_exec_ids_of_a_new_session_never_repeat_an_earlier_ones() -> None:
    """The same account in two sessions (two runs of the embedded simulator) gets other exec and
    perm ids; one session's ids are the same in every process."""

    def ids(session: str) -> tuple[list[str], list[int]]:
        log = ExecutionLog("DU1234567", session)
        return [log.next_exec_id() for _ in range(3)], [log.next_perm_id() for _ in range(3)]

    first, second = ids("20260304T150000Z-aaaa"), ids("20260304T150001Z-bbbb")
    assert not set(first[0]) & set(second[0])
    assert not set(first[1]) & set(second[1])
    assert ids("20260304T150000Z-aaaa") == first
    assert ids("") == ids("")
