"""The start of a run against a gateway that has moved on: leftovers cleaned, fills booked first."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ib_async import IB, LimitOrder, Stock

from ibbot.models import EventType
from ibbot.store import ParquetStore
from tests.integration.app_support import (
    DEADLINE,
    Watch,
    app_settings,
    book_totals,
    fill_of,
    running,
    running_gateway,
    sim_positions,
    strategy,
)
from tests.integration.log_tap import LogTap, event_is

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import Settings
    from ibbot.sim.gateway import SimulatedGateway


async def resting_order(settings: Settings, gateway: SimulatedGateway, quantity: int) -> int:
    """A DAY limit order far below the market, placed under ibbot's client id and orderRef as an
    earlier run would have; returns its order id (it works on after the client leaves)."""
    ib = IB()
    await ib.connectAsync(
        "127.0.0.1", gateway.port, clientId=settings.ib.client_id, timeout=DEADLINE
    )
    try:
        (aapl,) = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        order = LimitOrder("BUY", quantity, 1.0, orderRef="holder:earlier-run-1", tif="DAY")
        order.orderId = ib.client.getReqId()
        trade = ib.placeOrder(aapl, order)
        while not trade.order.permId:
            await ib.updateEvent
    finally:
        ib.disconnect()
    await gateway.wait_for_clients(lambda ids: settings.ib.client_id not in ids)
    return int(order.orderId)


async def test_a_fill_made_during_a_drop_at_start_is_booked_before_the_book_is_reconciled(
    tmp_path: Path,
) -> None:
    """The gateway drops just as the start reconciliation begins and fills a resting order of an
    earlier run meanwhile: the book is compared with IB's positions only once that fill is booked
    (no mismatch, nothing halted), and the fill is booked once."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("holder", "HoldQuantity", quantity=5)],
            ib={"reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.5},
        )
        order_id = await resting_order(settings, gateway, quantity=3)
        tap = LogTap(
            ["app.", "reconciliation.", "connection.", "executor.", "trade.fill"]
        ).install()

        def drop_and_fill(_: object) -> None:
            gateway.drop_connections()
            gateway.fill_order(settings.ib.client_id, order_id)

        def booked_away(line: dict[str, object]) -> bool:
            return line["event"] == "trade.fill" and line["quantity"] == 3.0

        tap.on(event_is("app.warmed_up", strategy="holder"), drop_and_fill)
        async with (
            running(settings, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL) as watch,
        ):
            await watch.until(fill_of("holder", "AAPL"), what="holder's AAPL fills")
            await tap.wait_for(
                lambda: (
                    any(booked_away(line) for line in tap.lines)
                    and bool(tap.of("reconciliation.done"))
                ),
                seconds=DEADLINE,
                what="the fill made while away booked, and a reconciliation",
            )
            trader = orchestrator.trader
            assert trader is not None
            assert trader.gate.halted_symbols == {}
        # The log is in the order things happened on the loop: the fill made while away was in
        # the book before the book was first compared with IB's positions.
        events = [line["event"] for line in tap.lines]
        booked = next(i for i, line in enumerate(tap.lines) if booked_away(line))
        assert booked < events.index("reconciliation.done")
        assert book_totals(trader.book.quantities()) == sim_positions(gateway)
    done = tap.of("reconciliation.done")
    assert done
    assert all(line["mismatches"] == 0 for line in done)
    assert tap.of("reconciliation.mismatch") == []
    fills = ParquetStore(settings.store.path).read_audit("fills")
    earlier = [f for f in fills if f.record["decision_id"] == "earlier-run-1"]
    assert len(earlier) == 1
    assert earlier[0].record["commission"] is not None


async def test_leftover_temporary_files_of_a_killed_write_are_removed_at_start(
    tmp_path: Path,
) -> None:
    """Temporary files an earlier, killed ibbot left beside the data are removed at start and
    reported in one line; those of a process still running and ordinary files are kept."""
    settings = app_settings(
        tmp_path, strategies=[strategy("holder", "HoldQuantity", quantity=1)], watchlist=["AAPL"]
    )
    data = settings.store.path
    dead = 2**22 + 12_345  # above Linux's default pid_max: no process has it
    leftovers = [
        data / "prices" / "bars=1min" / "symbol=AAPL" / f".2026-03.parquet.{dead}-0a1b2c3d.tmp",
        data / "state" / f".holder.json.{dead}-deadbeef.tmp",
        # this pid, in an earlier life (a container restarts ibbot under the same pid)
        data / "contracts" / f".AAPL.json.{os.getpid()}-12345678.tmp",
    ]
    alive = data / "events" / f".2026-03-04.parquet.{os.getppid()}-01234567.tmp"
    ordinary = data / "notes" / "keep.tmp"
    for path in [*leftovers, alive, ordinary]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    tap = LogTap(["store."]).install()
    async with running(settings):
        pass
    assert [path for path in leftovers if path.exists()] == []
    assert alive.exists()
    assert ordinary.exists()
    (line,) = tap.of("store.leftovers_removed")
    assert line["files"] == len(leftovers)
