"""A protected position survives ibbot's death: IB keeps the stop working while nobody is there.

``ibbot run`` in a subprocess (on the test gateway's simulated clock) with a strategy whose entries
carry a stop-loss is SIGKILLed while long (no shutdown, no last save); the simulated market then
falls through the stop, which IB (the simulated gateway) fills on its own. The next run finds the
fill among IB's executions, books it exactly once, and the strategy, its book and the account are
flat; a further restart adds nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import tomli_w

from ibbot.live import BOOK_STATE
from ibbot.models import EventType, OrderLeg, split_leg
from ibbot.store import AuditKind, ParquetStore
from tests.integration.app_support import (
    Watch,
    app_settings,
    running,
    running_gateway,
    sim_orders,
    sim_positions,
    strategy,
)
from tests.integration.test_app_shutdown import REPO, Service

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import Settings
    from ibbot.sim.gateway import SimulatedGateway

GUARD = "guard"


def guarded_settings(tmp_path: Path, port: int) -> Settings:
    """One strategy buying 10 AAPL once, protected by a stop 10% below and a target 50% above."""
    return app_settings(
        tmp_path,
        port=port,
        watchlist=("AAPL",),
        strategies=[
            strategy(GUARD, "EnterOnce", quantity=10, stop_loss_pct=0.1, take_profit_pct=0.5)
        ],
        app={"state_save_interval": 1.0},
        logging={"level": "DEBUG"},
    )


def config_file(settings: Settings, tmp_path: Path) -> Path:
    document = settings.model_dump(mode="json", exclude_none=True)
    document["sim"]["control_port"] = "off"
    document["app"]["control_port"] = "off"
    path = tmp_path / "settings.toml"
    path.write_text(tomli_w.dumps(document))
    return path


async def spawn(config: Path, gateway: SimulatedGateway) -> Service:
    """``ibbot run`` in a subprocess, on the gateway's simulated clock (see run_against_gateway)."""
    now, origin = gateway.clock.now(), time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.run_against_gateway",
        str(config),
        now.isoformat(),
        repr(origin),
        repr(gateway.config.time_scale),
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Service(process)


def working_stop(gateway: SimulatedGateway) -> dict[str, Any] | None:
    """The guard's stop-loss as the gateway holds it (None while there is none)."""
    for order in gateway.truth()["exchange"]["open_orders"]:
        if split_leg(order["order_ref"].partition(":")[2])[1] is OrderLeg.STOP_LOSS:
            return dict(order)
    return None


def saved(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved book's and the guard strategy's state."""
    store = ParquetStore(settings.store.path)
    book = store.load_strategy_state(BOOK_STATE)
    guard = store.load_strategy_state(GUARD)
    assert book is not None
    assert guard is not None
    return book, guard


def entered(settings: Settings) -> bool:
    guard = ParquetStore(settings.store.path).load_strategy_state(GUARD)
    return guard is not None and guard["symbols"].get("AAPL", {}).get("indicators", {}).get(
        "entered", False
    )


async def test_a_stop_fills_while_ibbot_is_killed_and_the_restart_books_it_once(
    tmp_path: Path,
) -> None:
    """SIGKILL while long; the price falls through the stop at the gateway; the restart books the
    stop's fill once (audit, book, strategy), sends no order, and everything is flat."""
    async with running_gateway() as gateway:
        settings = guarded_settings(tmp_path, gateway.port)
        service = await spawn(config_file(settings, tmp_path), gateway)
        try:
            fill = await service.until("trade.fill")
            assert (fill["strategy"], fill["side"], fill["position"]) == (GUARD, "BUY", 10.0)
            while not entered(settings):  # the state saved since the fill, as the crash finds it
                await service.until("app.state_saved")
            stop = working_stop(gateway)
            assert stop is not None
            assert stop["status"] == "PreSubmitted"
        finally:
            service.process.kill()  # SIGKILL: no drain, no last save, no goodbye to IB
            await service.process.wait()
        await gateway.wait_for_clients(lambda ids: settings.ib.client_id not in ids)
        assert sim_positions(gateway) == {"AAPL": 10.0}

        crash = round(float(stop["stop_price"]) * 0.9, 2)
        gateway.set_price("AAPL", crash)  # IB fills the stop with nobody connected
        assert sim_positions(gateway) == {}
        assert working_stop(gateway) is None

        async with running(settings, gateway) as second:
            trader = second.trader
            assert trader is not None
            watch = Watch(second.bus, EventType.FILL, EventType.PRICE_BAR)
            async with watch:
                if trader.book.quantity(GUARD, "AAPL") != 0.0:
                    await watch.until(
                        lambda _: trader.book.quantity(GUARD, "AAPL") == 0.0,
                        what="the stop's fill in the book",
                    )
        for _ in range(2):  # after the restart, and after a plain one: nothing twice
            book, guard = saved(settings)
            held = {p["symbol"]: p["quantity"] for p in book["book"]["positions"].get(GUARD, [])}
            assert held.get("AAPL", 0.0) == 0.0
            assert guard["positions"].get("AAPL", {"quantity": 0.0})["quantity"] == 0.0
            store = ParquetStore(settings.store.path)
            stops = [
                e
                for e in store.read_audit("fills")
                if split_leg(e.record["decision_id"])[1] is OrderLeg.STOP_LOSS
            ]
            assert len(stops) == 1
            assert stops[0].record["price"] < crash * 1.001
            async with running(settings, gateway):
                pass
        refs = [o["order_ref"] for o in sim_orders(gateway)]
        assert len(refs) == 3  # the entry, its take-profit and its stop: nothing sent since
        starts = [
            r.record["mismatches"]
            for r in ParquetStore(settings.store.path).read_audit(AuditKind.RECONCILIATION)
            if r.record.get("reason") == "start"
        ]
        assert starts[-2:] == [0, 0]
