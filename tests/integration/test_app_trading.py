"""The orchestrator's trading safety on the simulated gateway: failures contained, kill switch,
reconciliation, reconnects without duplicate orders."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from ib_async import MarketOrder, Stock

from ibbot.live import BOOK_STATE, RunnerState
from ibbot.models import ConnectionState, EventType, OrderStatus
from ibbot.store import AuditKind, ParquetStore
from ibbot.trading import UNATTRIBUTED
from tests.integration.app_support import (
    WEEKEND_START,
    Watch,
    app_settings,
    book_totals,
    decision_of,
    fill_of,
    running,
    running_gateway,
    sim_orders,
    sim_positions,
    strategy,
    until_all,
)
from tests.integration.sim_support import connected, until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ibbot.models import Event


async def test_a_failing_strategy_is_disabled_and_the_others_keep_trading(tmp_path: Path) -> None:
    """A strategy raising on every live bar is skipped, then disabled; its neighbour trades on."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("boom", "Exploding"), strategy("holder", "HoldQuantity")],
            app={"max_strategy_failures": 3},
        )
        async with running(settings, gateway) as orchestrator:
            async with Watch(orchestrator.bus, EventType.ERROR, EventType.FILL) as watch:

                def disabled(event: Event) -> bool:
                    return (
                        event.type is EventType.ERROR and "boom disabled" in event.payload.message
                    )

                # In any order: the neighbour may fill before or after boom is disabled.
                await until_all(
                    watch,
                    disabled,
                    fill_of("holder", "AAPL"),
                    fill_of("holder", "MSFT"),
                    what="boom disabled and holder's fills",
                )
                error = next(event for event in watch.seen if disabled(event))
            runners = orchestrator.strategies
            assert runners["boom"].state is RunnerState.DISABLED
            assert runners["boom"].consecutive_failures == 3
            assert runners["holder"].state is RunnerState.RUNNING
            assert "3 consecutive failures" in error.payload.message
            assert "RuntimeError: exploding on the bar of" in error.payload.message
    lifecycle = ParquetStore(settings.store.path).read_audit(AuditKind.LIFECYCLE, strategy="boom")
    assert [e.record["event"] for e in lifecycle] == ["app.strategy_disabled"]


async def test_the_kill_switch_blocks_new_orders_until_released(tmp_path: Path) -> None:
    """The kill switch file stops every new order (audited with its rule); removing it resumes."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[strategy("flip", "Flipper")]
        )
        kill_file = settings.risk.kill_switch_file
        async with (
            running(settings, gateway) as orchestrator,
            Watch(
                orchestrator.bus, EventType.FILL, EventType.DECISION, EventType.ORDER_STATUS
            ) as watch,
        ):
            sent = decision_of("flip", outcome="sent")
            await watch.until(fill_of("flip"), what="a first fill")
            kill_file.write_text("tests: stop trading\n")
            await watch.until(decision_of("flip", outcome="blocked", rule="kill_switch"))
            engaged_at = len(watch.seen)
            for _ in range(3):
                await watch.until(decision_of("flip", outcome="blocked", rule="kill_switch"))
            assert not [e for e in watch.seen[engaged_at:] if sent(e)]
            # Orders sent before the switch was noticed may still be on their way: once the gateway
            # has answered each, it holds exactly those and nothing sent since.
            refs = {e.payload["order_ref"] for e in watch.seen if sent(e)}
            answered = {ref for ref in refs if _answered(watch.seen, ref)}
            while answered != refs:
                event = await watch.until(lambda e: e.type is EventType.ORDER_STATUS)
                answered.update(ref for ref in refs if _answered([event], ref))
            assert len(sim_orders(gateway)) == len(refs)
            kill_file.unlink()
            await watch.until(decision_of("flip", outcome="sent"), what="trading again")
    store = ParquetStore(settings.store.path)
    blocks = store.read_audit(AuditKind.RISK, strategy="flip")
    assert len(blocks) >= 4
    assert all(b.record["rule"] == "kill_switch" for b in blocks)
    assert f"kill switch file {kill_file} exists" in blocks[0].record["message"]
    events = [e.record["event"] for e in store.read_audit(AuditKind.LIFECYCLE)]
    assert "app.kill_switch_engaged" in events
    assert "app.kill_switch_released" in events


def _answered(events: list[Event], order_ref: str) -> bool:
    """Whether ``events`` hold a status of the order ``order_ref`` from the gateway."""
    return any(
        e.type is EventType.ORDER_STATUS
        and f"{e.payload.strategy_name}:{e.payload.decision_id}" == order_ref
        for e in events
    )


async def test_the_kill_switch_cancels_open_orders(tmp_path: Path) -> None:
    """With the market closed orders rest at the exchange; engaging the switch cancels them."""
    async with running_gateway(start=WEEKEND_START) as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("contracts", "BuyOnContract", quantity=5, price=100.0)],
        )
        async with (
            running(settings, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.ORDER_STATUS) as watch,
        ):

            def status(wanted: OrderStatus) -> Callable[[Event], bool]:
                return lambda e: e.payload.status is wanted

            await watch.until(status(OrderStatus.SUBMITTED), what="a resting order")
            await watch.until(status(OrderStatus.SUBMITTED), what="a second resting order")
            assert len(gateway.truth()["exchange"]["open_orders"]) == 2
            settings.risk.kill_switch_file.write_text("stop\n")
            await watch.until(status(OrderStatus.CANCELLED), what="a cancellation")
            await watch.until(status(OrderStatus.CANCELLED), what="the other cancellation")
    assert gateway.truth()["exchange"]["open_orders"] == []
    assert {o["status"] for o in sim_orders(gateway)} == {"Cancelled"}


async def test_a_manual_trade_of_the_day_is_booked_as_unattributed(tmp_path: Path) -> None:
    """Shares bought by hand today come back with the day's executions: booked, no mismatch."""
    async with running_gateway() as gateway:
        async with connected(gateway, client_id=99) as manual:
            trade = manual.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 5))
            await until(trade.isDone, trade.statusEvent)
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[strategy("holder", "HoldQuantity")]
        )
        async with (
            running(settings, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL) as watch,
        ):
            await until_all(watch, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
            trader = orchestrator.trader
            assert trader is not None
            book = trader.book.quantities()
        assert book[UNATTRIBUTED] == {"AAPL": 5.0}
        assert book_totals(book) == sim_positions(gateway) == {"AAPL": 15.0, "MSFT": 10.0}
    audit = ParquetStore(settings.store.path).read_audit(AuditKind.RECONCILIATION)
    assert [r.record["mismatches"] for r in audit if "mismatches" in r.record] == [0]


@pytest.mark.parametrize("policy", ["halt_symbol", "adopt_broker"])
async def test_a_book_that_disagrees_with_the_broker_is_handled_by_the_policy(
    tmp_path: Path, policy: str
) -> None:
    """On restart the saved book claims shares the broker does not hold: a loud, audited
    mismatch; halt_symbol refuses orders in that symbol, adopt_broker books the gap and trades."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("holder", "HoldQuantity", quantity=10)],
            risk={"on_reconciliation_mismatch": policy},
        )
        async with (
            running(settings, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL) as watch,
        ):
            await until_all(watch, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
        state_file = settings.store.path / "state" / f"{BOOK_STATE}.json"
        saved = json.loads(state_file.read_text())
        saved["state"]["book"]["positions"]["ghost"] = [
            {"symbol": "AAPL", "quantity": 7.0, "avg_cost": 200.0, "strategy_name": "ghost"}
        ]
        state_file.write_text(json.dumps(saved))
        wants_more = settings.model_copy(
            update={
                "strategies": [
                    settings.strategies[0].model_copy(update={"params": {"quantity": 20}})
                ]
            }
        )
        async with (
            running(wants_more, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL, EventType.DECISION) as watch,
        ):
            await until_all(
                watch,
                fill_of("holder", "MSFT"),
                decision_of("holder", outcome="blocked", rule="symbol_halted")
                if policy == "halt_symbol"
                else fill_of("holder", "AAPL"),
            )
            trader = orchestrator.trader
            assert trader is not None
            book = trader.book.quantities()
    mismatches = ParquetStore(settings.store.path).read_audit(
        AuditKind.RECONCILIATION, symbol="AAPL"
    )
    assert [m.record["reason"] for m in mismatches] == ["start"]
    assert (mismatches[0].record["book"], mismatches[0].record["broker"]) == (17.0, 10.0)
    assert mismatches[0].record["outcome"] == ("halted" if policy == "halt_symbol" else "adopted")
    if policy == "adopt_broker":
        assert book[UNATTRIBUTED] == {"AAPL": -7.0}
        assert book["holder"] == {"AAPL": 20.0, "MSFT": 20.0}
        assert book_totals(book) == sim_positions(gateway)
    else:
        assert book["holder"]["AAPL"] == 10.0


async def test_trading_goes_on_after_a_reconnect_without_duplicate_orders(tmp_path: Path) -> None:
    """The gateway drops every socket: ibbot reconnects, reconciles and trades on, no order twice."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[strategy("flip", "Flipper")]
        )
        async with running(settings, gateway) as orchestrator:
            async with Watch(orchestrator.bus, EventType.FILL, EventType.CONNECTION) as watch:
                await watch.until(fill_of("flip"), what="a fill before the drop")
                assert gateway.drop_connections() == 1
                await watch.until(
                    lambda e: (
                        e.type is EventType.CONNECTION
                        and e.payload.state is ConnectionState.DISCONNECTED
                    )
                )
                await watch.until(
                    lambda e: (
                        e.type is EventType.CONNECTION
                        and e.payload.state is ConnectionState.CONNECTED
                    ),
                    what="the reconnect",
                )
                for _ in range(3):
                    await watch.until(fill_of("flip"), what="fills after the reconnect")
            trader = orchestrator.trader
            assert trader is not None
        refs = [o["order_ref"] for o in sim_orders(gateway)]
        assert len(refs) == len(set(refs)) > 3
        assert book_totals(trader.book.quantities()) == sim_positions(gateway)
    reasons = [
        r.record.get("reason")
        for r in ParquetStore(settings.store.path).read_audit(AuditKind.RECONCILIATION)
    ]
    assert "after reconnected" in [r for r in reasons if r]
