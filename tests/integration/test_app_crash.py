"""A restart after a crash: every order an earlier run left unfinished is settled, none placed twice.

The crash is what it leaves behind, built exactly: write-ahead lines in ``audit/orders`` (status
"sending", nothing after them) and, at the simulated gateway, what did or did not happen to those
orders while nobody wrote it down. The orders that reached IB are placed by a plain ib_async client
with ibbot's client id and ``orderRef``, as the crashed run would have. The next run goes through
the whole orchestrator, so the position book it saves is compared with the simulated account.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ib_async import IB, LimitOrder, MarketOrder, Stock

from ibbot.broker.conversions import fill_from_ib
from ibbot.broker.executor import UNCONFIRMED_MESSAGE
from ibbot.live import BOOK_STATE
from ibbot.models import (
    EventType,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    to_dict,
)
from ibbot.store import AuditKind, ParquetStore
from tests.integration.app_support import (
    DEADLINE,
    Watch,
    app_settings,
    book_totals,
    running,
    running_gateway,
    sim_orders,
    sim_positions,
    strategy,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import Settings
    from ibbot.sim.gateway import SimulatedGateway

HELD = {"AAPL": 5.0, "MSFT": 5.0}


def saved_book(settings: Settings) -> dict[str, float]:
    """The saved position book's quantities, summed over strategies."""
    state = ParquetStore(settings.store.path).load_strategy_state(BOOK_STATE)
    assert state is not None
    return book_totals(
        {
            name: {p["symbol"]: p["quantity"] for p in held}
            for name, held in state["book"]["positions"].items()
        }
    )


def write_ahead(store: ParquetStore, order: Order, order_id: int) -> None:
    """The line the executor writes before an order leaves (and the crash leaves last)."""
    result = OrderResult(
        order_id=order_id,
        status=OrderStatus.PENDING,
        message="sending",
        remaining=float(order.quantity),
        symbol=order.symbol,
        strategy_name=order.strategy_name,
        decision_id=order.decision_id,
    )
    store.log_order(order.strategy_name, order, result)


async def crashed_run(settings: Settings, gateway: SimulatedGateway) -> None:
    """What a run that crashed with three orders in its three windows leaves behind.

    (a) ``lost``: the write-ahead line is durable, placeOrder never reached IB.
    (b) ``accepted``: IB accepted the order (a limit far below the market, still working); its
        status never came back, so the write-ahead line is all ibbot wrote.
    (c) ``filled``: IB accepted and filled the order; neither its status nor its fill was written.
    (c') ``audited``: filled and its fill audited, but the crash came before the book was saved.
    """
    # Stamped in market time, as the crashed run's store stamped its lines.
    store = ParquetStore(settings.store.path, clock=gateway.clock)
    write_ahead(store, Order("holder", "AAPL", OrderSide.BUY, 4, decision_id="lost"), order_id=900)
    ib = IB()
    await ib.connectAsync(
        "127.0.0.1", gateway.port, clientId=settings.ib.client_id, timeout=DEADLINE
    )
    try:
        aapl, msft = await ib.qualifyContractsAsync(
            Stock("AAPL", "SMART", "USD"), Stock("MSFT", "SMART", "USD")
        )
        accepted = Order(
            "holder",
            "AAPL",
            OrderSide.BUY,
            2,
            OrderType.LIMIT,
            limit_price=1.0,
            decision_id="accepted",
        )
        request = LimitOrder("BUY", 2, 1.0, orderRef=accepted.order_ref)
        request.orderId = ib.client.getReqId()
        write_ahead(store, accepted, request.orderId)
        working = ib.placeOrder(aapl, request)
        filled = Order("holder", "MSFT", OrderSide.BUY, 3, decision_id="filled")
        request = MarketOrder("BUY", 3, orderRef=filled.order_ref)
        request.orderId = ib.client.getReqId()
        write_ahead(store, filled, request.orderId)
        trade = ib.placeOrder(msft, request)
        audited = Order("holder", "AAPL", OrderSide.BUY, 1, decision_id="audited")
        request = MarketOrder("BUY", 1, orderRef=audited.order_ref)
        request.orderId = ib.client.getReqId()
        write_ahead(store, audited, request.orderId)
        booked = ib.placeOrder(aapl, request)
        async with asyncio.timeout(DEADLINE):
            while not (
                trade.isDone()
                and booked.isDone()
                and booked.fills
                and booked.fills[0].commissionReport.execId
                and working.isActive()
                and working.order.permId
            ):
                await ib.updateEvent
        assert trade.orderStatus.status == booked.orderStatus.status == "Filled"
        store.log_audit("fills", to_dict(fill_from_ib(booked.fills[0])), strategy="holder")
    finally:
        ib.disconnect()  # the crash: nothing of the above reaches ibbot's audit
    await gateway.wait_for_clients(lambda ids: settings.ib.client_id not in ids)


async def test_a_restart_after_a_crash_settles_each_window_once_and_the_book_matches_ib(
    tmp_path: Path,
) -> None:
    """Crash windows (a) not placed, (b) accepted without a status, (c) filled without a record,
    (c') fill audited but book not saved: the next run adopts (b) and (c) by orderRef, books the
    fills of (c) and (c') once each, audits (a) as unconfirmed and never sends it; one order per
    decision at IB, the saved book equals IB's."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[strategy("holder", "HoldQuantity", quantity=5)]
        )
        async with running(settings, gateway) as first:
            watch = Watch(first.bus, EventType.PRICE_BAR, EventType.FILL)
            async with watch:
                await watch.until(lambda _: sim_positions(gateway) == HELD, what="holder's buys")
        assert saved_book(settings) == HELD

        await crashed_run(settings, gateway)
        expected = {"AAPL": 6.0, "MSFT": 8.0}
        assert sim_positions(gateway) == expected

        for _ in range(2):  # the restart after the crash, then a plain one: nothing settles twice
            async with running(settings, gateway):
                pass
            assert saved_book(settings) == sim_positions(gateway) == expected

    refs = [o["order_ref"] for o in sim_orders(gateway)]
    assert len(refs) == len(set(refs))  # no decision reached IB twice
    assert "holder:lost" not in refs
    assert {"holder:accepted", "holder:filled", "holder:audited"} <= set(refs)
    store = ParquetStore(settings.store.path)
    lines: dict[str, list[dict[str, object]]] = {}
    for entry in store.read_audit(AuditKind.ORDERS):
        record = entry.record
        result = record.get("result", record)
        assert isinstance(result, dict)
        lines.setdefault(str(record["order_ref"]), []).append(result)
    assert [r["status"] for r in lines["holder:lost"]] == ["pending", "rejected"]
    assert lines["holder:lost"][-1]["message"] == UNCONFIRMED_MESSAGE
    assert lines["holder:filled"][-1]["status"] == "filled"
    assert lines["holder:accepted"][-1]["status"] == "submitted"
    assert lines["holder:audited"][-1]["status"] == "filled"
    for decision in ("filled", "audited"):
        fills = [e for e in store.read_audit("fills") if e.record["decision_id"] == decision]
        assert len(fills) == 1, decision
    starts = [
        r.record["mismatches"]
        for r in store.read_audit(AuditKind.RECONCILIATION)
        if r.record.get("reason") == "start"
    ]
    assert starts == [0, 0, 0]
