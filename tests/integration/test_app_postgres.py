"""`ibbot run` with its store in PostgreSQL: the same run as on files, on a real server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from ibbot.app import Orchestrator
from ibbot.models import EventType
from ibbot.store import AuditKind, WorldMismatch
from ibbot.store.postgres import PostgresStore
from tests.integration.app_support import (
    DEADLINE,
    TRADING_START,
    Watch,
    app_settings,
    book_totals,
    fill_of,
    sim_positions,
    strategy,
    until_all,
)

if TYPE_CHECKING:
    from pathlib import Path


async def test_a_run_on_the_postgres_store_trades_audits_and_saves_its_book(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Bars, decisions, write-ahead orders, the book and the world all land in the database."""
    settings = app_settings(
        tmp_path,
        strategies=[strategy("holder", "HoldQuantity", quantity=10)],
        store={"backend": "postgres", "dsn": postgres_dsn},
    )
    orchestrator = Orchestrator(settings)
    run = asyncio.ensure_future(orchestrator.run(duration=60.0, handle_signals=False))
    async with asyncio.timeout(DEADLINE):
        await orchestrator.started.wait()
    gateway = orchestrator.simulator
    assert gateway is not None
    async with Watch(orchestrator.bus, EventType.FILL) as fills:
        await until_all(fills, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
    orchestrator.stop("test: both holdings filled")
    async with asyncio.timeout(DEADLINE):
        assert await run == 0

    with PostgresStore(postgres_dsn) as store:
        day = (TRADING_START.replace(hour=0), TRADING_START.replace(hour=23))
        assert len(store.read_bars("AAPL", *day)) > 30
        assert any(d.record["outcome"] == "sent" for d in store.read_audit(AuditKind.DECISIONS))
        orders = store.read_orders(strategy="holder")
        assert any(result.status.value == "filled" for _, result in orders)
        saved = store.load_strategy_state("ibbot-position-book")
        assert saved is not None
        book = saved["book"]["positions"]
        quantities = {n: {p["symbol"]: p["quantity"] for p in held} for n, held in book.items()}
        assert book_totals(quantities) == sim_positions(gateway) == {"AAPL": 10.0, "MSFT": 10.0}
        lifecycle = [e.record["event"] for e in store.read_audit(AuditKind.LIFECYCLE)]
        assert lifecycle == ["app.starting", "app.started", "app.stopping", "app.stopped"]
        assert store.world_document()["world"] == f"simulator:seed={settings.sim.seed}"  # type: ignore[index]
        assert store.read_events(*day, types=[EventType.FILL])
    # Nothing of the store went to the directory: no world.json, no prices there.
    assert not (settings.store.path / "world.json").exists()
    assert not (settings.store.path / "prices").exists()
    # Another world is refused by the database's record before it writes anything.
    other = app_settings(
        tmp_path,
        strategies=[],
        store={"backend": "postgres", "dsn": postgres_dsn},
        sim={"seed": settings.sim.seed + 1},
    )
    with PostgresStore(postgres_dsn) as store:
        lines_before = len(store.read_audit(AuditKind.LIFECYCLE))
    with pytest.raises(WorldMismatch, match="embedded simulator with seed 42"):
        async with asyncio.timeout(DEADLINE):
            await Orchestrator(other).run(duration=5.0, handle_signals=False)
    with PostgresStore(postgres_dsn) as store:
        assert len(store.read_audit(AuditKind.LIFECYCLE)) == lines_before
