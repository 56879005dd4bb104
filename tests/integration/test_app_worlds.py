"""Worlds kept apart end to end: one world per store, ids unique across runs of the embedded
simulator, and the fundamentals strategies deciding on every rerun."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest

from ibbot import cli
from ibbot.app import Orchestrator
from ibbot.models import EventType
from ibbot.store import AuditKind, ParquetStore, WorldMismatch, read_world
from tests.integration.app_support import (
    Watch,
    app_settings,
    fill_of,
    running,
    running_gateway,
    strategy,
    until_all,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import Settings

SHIPPED = (
    strategy(
        "example_value", "ibbot.strategies.example_value.ExampleValueStrategy", capital=10_000.0
    ),
    strategy(
        "sma_cross",
        "ibbot.strategies.sma_cross.SmaCrossStrategy",
        fast=5,
        slow=20,
        weight=0.2,
    ),
    strategy("value_momentum", "ibbot.strategies.value_momentum.ValueMomentumStrategy"),
)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_reruns_of_the_embedded_simulator_never_repeat_an_id(tmp_path: Path) -> None:
    """Two runs of the embedded simulator in one store (the same simulated hour, a fresh account
    each): decision ids, orderRefs and exec ids all distinct; every audit line, event and state
    save names its run."""
    settings = app_settings(tmp_path, strategies=[strategy("holder", "HoldQuantity", quantity=10)])
    for _ in range(2):
        async with (
            running(settings) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL) as fills,
        ):
            await until_all(fills, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
    store = ParquetStore(settings.store.path)
    decisions = [e.record["decision_id"] for e in store.read_audit(AuditKind.DECISIONS)]
    assert len(decisions) == len(set(decisions)) > 4
    exec_ids = [e.record["exec_id"] for e in store.read_audit("fills")]
    assert len(exec_ids) == len(set(exec_ids)) == 4
    runs = sorted({e.run_id for e in store.read_audit(AuditKind.LIFECYCLE)})
    assert len(runs) == 2
    assert {d.rpartition("@")[2] for d in decisions} == set(runs)
    refs = {
        run: {e.record["order_ref"] for e in store.read_audit(AuditKind.ORDERS) if e.run_id == run}
        for run in runs
    }
    assert refs[runs[0]]
    assert refs[runs[1]]
    assert not refs[runs[0]] & refs[runs[1]]
    for kind in ("decisions", "orders", "fills", "lifecycle", "reconciliation"):
        assert {e.run_id for e in store.read_audit(kind)} == set(runs), kind
    run_ids = set()
    for path in (settings.store.path / "events").glob("*.parquet"):
        run_ids.update(pq.read_table(path, columns=["run_id"]).column("run_id").to_pylist())
    assert run_ids == set(runs)
    for name in ("holder", "ibbot-position-book"):
        saved = json.loads((settings.store.path / "state" / f"{name}.json").read_text())
        assert saved["run_id"] == runs[1]
    world = read_world(settings.store.path)
    assert world is not None
    assert world.key == "simulator:seed=42"


async def test_a_store_of_one_world_refuses_another_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store the embedded simulator (seed 42) wrote: a run, or a backfill, against a gateway with
    another market is refused with one line, and the store is left as it was."""
    simulated = app_settings(tmp_path, strategies=[])
    async with running(simulated):
        pass
    before = snapshot(simulated.store.path)
    async with running_gateway(seed=7) as gateway:
        other = app_settings(tmp_path, strategies=[], port=gateway.port)
        assert other.store.path == simulated.store.path
        with pytest.raises(WorldMismatch, match="embedded simulator with seed 42"):
            await Orchestrator(other, market_clock=gateway.clock).run(handle_signals=False)
        argv = [
            *("--set", f"store.path={other.store.path}"),
            *("--set", "ib.simulate=false", "--set", f"ib.port={gateway.port}"),
            *("backfill", "AAPL", "--duration", "1 D"),
        ]
        code = await asyncio.to_thread(cli.main, argv)
    err = capsys.readouterr().err
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("ibbot:")]
    assert "holds the data of the embedded simulator with seed 42" in line
    assert "the gateway account DU****567" in line
    assert snapshot(simulated.store.path) == before


async def test_by_default_the_simulator_and_a_gateway_keep_their_own_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's splice: `ibbot backfill` from the embedded simulator, then from a gateway with
    another market, both with the default store: two stores, each with its own world and its own
    complete history (nothing taken for covered because the other market was)."""
    monkeypatch.chdir(tmp_path)
    sim_store, gateway_store = tmp_path / "data" / "sim-42", tmp_path / "data"
    # Both markets on the wall clock (ibbot asks a real gateway for bars up to its own now), so
    # both backfills ask for the same week: a week always holds whole sessions, where the last
    # day may hold part of one or none (a weekend).
    common = ["--set", "sim.start=none", "--set", "sim.control_port=off", "--log-level", "ERROR"]
    async with running_gateway(seed=7, start=None, time_scale=1.0) as gateway:
        embedded = await asyncio.to_thread(
            cli.main, [*common, "backfill", "AAPL", "--duration", "1 W"]
        )
        real = await asyncio.to_thread(
            cli.main,
            [
                *common,
                *("--set", "ib.simulate=false", "--set", f"ib.port={gateway.port}"),
                *("backfill", "AAPL", "--duration", "1 W"),
            ],
        )
    out = capsys.readouterr().out
    assert (embedded, real) == (0, 0), out
    assert (sim_store / "prices" / "bars=1min" / "symbol=AAPL").is_dir()
    sim_world, gateway_world = read_world(sim_store), read_world(gateway_store)
    assert sim_world is not None
    assert gateway_world is not None
    assert sim_world.key == "simulator:seed=42"
    assert gateway_world.key.startswith("account:DU****567#")
    ever = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    sim_bars = {b.timestamp: b.close for b in ParquetStore(sim_store).read_bars("AAPL", *ever)}
    gateway_bars = {
        b.timestamp: b.close for b in ParquetStore(gateway_store).read_bars("AAPL", *ever)
    }
    assert len(sim_bars) > 300  # each fetched its whole week
    assert len(gateway_bars) > 300
    common_minutes = sim_bars.keys() & gateway_bars.keys()
    assert common_minutes  # the same day...
    assert [sim_bars[t] for t in common_minutes] != [gateway_bars[t] for t in common_minutes]


async def _decided(orchestrator: Orchestrator, names: tuple[str, ...], *, live: str) -> None:
    """Wait until each of ``names`` has decided in this run (on the warm-up history or live), and
    ``live`` since the live feed opened (the watch starts after it has)."""
    async with Watch(orchestrator.bus, EventType.DECISION) as watch:
        waiting = {n for n in names if not orchestrator.strategies[n].decisions} | {live}
        while waiting:
            event = await watch.until(
                lambda e: e.payload["decision"].strategy_name in waiting,
                what=f"a decision of {sorted(waiting)}",
            )
            waiting.discard(event.payload["decision"].strategy_name)


WATCHLIST = ("AAPL", "JPM", "XOM")


def _shipped(tmp_path: Path, *, refresh_hours: float) -> Settings:
    return app_settings(
        tmp_path,
        strategies=SHIPPED,
        watchlist=WATCHLIST,
        collector={"fundamental_refresh_hours": refresh_hours},
    )


async def test_every_shipped_strategy_decides_in_each_of_three_reruns(tmp_path: Path) -> None:
    """Three consecutive runs of the embedded simulator in one directory: example_value,
    sma_cross and value_momentum decide in each, example_value on fundamentals published live.
    The first run refreshes fundamentals every 3 simulated minutes, so it stores records later in
    simulated time than the next runs' only fetch (each run starts at the same instant): those
    must not silence them."""
    names = tuple(s["name"] for s in SHIPPED)
    first_run = _shipped(tmp_path, refresh_hours=0.05)
    async with (
        running(first_run) as first,
        Watch(first.bus, EventType.FUNDAMENTAL_DATA) as watch,
    ):
        await _decided(first, names, live="example_value")
        seen = dict.fromkeys(WATCHLIST, 0)
        while min(seen.values()) < 2:  # every symbol fetched, then refreshed (or refreshed twice)
            event = await watch.until(lambda e: e.source == "ib", what="fundamentals")
            seen[event.symbol or ""] += 1
    for _ in range(2):
        async with running(_shipped(tmp_path, refresh_hours=24.0)) as again:
            await _decided(again, names, live="example_value")
            counts = {name: again.strategies[name].decisions for name in names}
        assert all(counts.values()), counts


async def test_a_halted_symbol_is_resolved_by_adopting_the_brokers_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The book claims 17 AAPL, the broker holds 10: the start halts AAPL and says how to resolve
    it; `ibbot reconcile` lists it, `ibbot reconcile --adopt AAPL` books the broker's 10, lifts
    the halt and audits it."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("holder", "HoldQuantity", quantity=10)],
            app={"control_port": 0},
        )
        async with (
            running(settings, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL) as watch,
        ):
            await until_all(watch, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
        state_file = settings.store.path / "state" / "ibbot-position-book.json"
        saved = json.loads(state_file.read_text())
        for position in saved["state"]["book"]["positions"]["holder"]:
            if position["symbol"] == "AAPL":
                position["quantity"] = 17.0
        state_file.write_text(json.dumps(saved))
        store = ["--set", f"store.path={settings.store.path}"]
        async with running(settings, gateway) as orchestrator:
            assert set(orchestrator.status()["halted"]) == {"AAPL"}
            listed = await asyncio.to_thread(cli.main, [*store, "reconcile"])
            listing = capsys.readouterr().out
            adopted = await asyncio.to_thread(cli.main, [*store, "reconcile", "--adopt", "aapl"])
            answer = capsys.readouterr().out
            assert orchestrator.status()["halted"] == {}
            trader = orchestrator.trader
            assert trader is not None
            assert trader.book.quantities()["holder"] == {"AAPL": 10.0, "MSFT": 10.0}
            run_id = orchestrator.run_id
    assert (listed, adopted) == (0, 0)
    assert "AAPL halted: AAPL: book 17 (holder 17) != broker 10" in listing
    assert "ibbot reconcile --adopt AAPL" in listing
    # Only the command's own lines: the service's log lines may share the captured stdout.
    answers = [line for line in answer.splitlines() if line.startswith(("adopted:", "refused:"))]
    assert answers == [
        "adopted: AAPL: the broker's 10 adopted by hand; "
        "book before {'holder': 17.0}, after {'holder': 10.0}"
    ]
    lines = ParquetStore(settings.store.path).read_audit(AuditKind.RECONCILIATION, symbol="AAPL")
    halted, by_hand = lines
    assert "`ibbot reconcile --adopt AAPL` takes the broker's quantity" in halted.record["message"]
    assert (by_hand.record["reason"], by_hand.record["outcome"]) == ("adopted by hand", "adopted")
    assert by_hand.record["book_before"] == {"holder": 17.0}
    assert by_hand.record["book_after"] == {"holder": 10.0}
    assert by_hand.run_id == run_id
