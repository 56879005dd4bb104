"""The live desk's protected positions on the real executor against the simulated gateway: an EXIT
racing a stop IB has triggered never sells the shares twice, and an EXIT before the stop cancels
the protection first, so a later fall sells nothing more."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from ibbot.models import Action, Decision, EventType, Protection
from ibbot.store import AuditKind
from tests.integration.app_support import sim_orders, sim_positions
from tests.integration.broker_support import DEADLINE, background, harness
from tests.integration.test_trader_in_flight import STRATEGY, Relay, Strategy, desk

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.live import LiveTrader


def decision(action: Action, ident: str) -> Decision:
    """BUY 10 AAPL protected by a stop at 95 and a take-profit at 120, or close it."""
    made = Decision(
        "AAPL",
        action,
        0.0,
        1.0,
        "the test says so",
        decision_id=ident,
        quantity=10 if action is Action.BUY else None,
        price=100.0,
    )
    if action is Action.BUY:
        made = dataclasses.replace(
            made, protection=Protection(stop_loss_price=95.0, take_profit_price=120.0)
        )
    return made


async def decide(trader: LiveTrader, action: Action, ident: str) -> None:
    await trader.accept(Strategy(), [decision(action, ident)], untraded=None)  # type: ignore[arg-type]
    await trader.settle(DEADLINE)
    assert await trader.settle(DEADLINE) == 0


def sales(h: object) -> list[tuple[str, str]]:
    return [
        (o["order_ref"], o["status"])
        for o in sim_orders(h.gateway)  # type: ignore[attr-defined]
        if o["action"] == "SELL"
    ]


@pytest.mark.parametrize("race", ["stop fill in flight", "cancel refused"])
async def test_an_exit_racing_a_triggered_stop_never_leaves_the_account_short(
    tmp_path: Path, race: str
) -> None:
    """The price falls through the stop as the EXIT comes: either the stop's fill is still on its
    way to the book, or IB fills the stop while the EXIT's cancel is travelling (and refuses it).
    The EXIT sends no sale; once the stop's fill is booked the strategy and the account are flat."""
    async with harness(tmp_path) as h:
        h.gateway.set_price("AAPL", 100.0)
        trader, executor = desk(h, tmp_path)
        relay = Relay(trader.fills)
        h.bus.subscribe([EventType.FILL, EventType.ORDER_STATUS], relay, name="relay")
        async with background(executor.run(), trader.run()):
            await decide(trader, Action.BUY, "d1")
            await relay.seen(1)
            await trader.fills.join()
            assert trader.book.quantity(STRATEGY, "AAPL") == 10
            relay.holding = True
            if race == "stop fill in flight":
                h.gateway.set_price("AAPL", 94.0)
                await relay.seen(2)  # the stop's fill reached ibbot, not yet the book
            else:
                h.gateway.delay_replies(300.0)  # IB's answers are slow: ibbot learns late
                h.gateway.set_price("AAPL", 94.0)  # the stop fills at IB now
            await decide(trader, Action.EXIT, "d2")
            h.gateway.delay_replies(0.0)
            await relay.seen(2)
            assert sim_positions(h.gateway) == {}, "the account is short: both sold"
            await relay.release()
            await trader.fills.join()
            assert trader.book.quantity(STRATEGY, "AAPL") == 0
        assert sorted(sales(h)) == [
            ("s:d1/stop_loss", "Filled"),
            ("s:d1/take_profit", "Cancelled"),
        ]
        exit_line = [e.record for e in await h.store.read_audit(AuditKind.DECISIONS)][-1]
        assert exit_line["outcome"] == "no_order"
        assert exit_line["detail"].startswith("EXIT AAPL: nothing to close")


async def test_an_exit_first_cancels_the_protection_then_sells(tmp_path: Path) -> None:
    """EXIT before any stop: the take-profit and stop are cancelled at IB before the sale goes; a
    fall through the old stop afterwards sells nothing; flat, never short."""
    async with harness(tmp_path) as h:
        h.gateway.set_price("AAPL", 100.0)
        trader, executor = desk(h, tmp_path)
        h.bus.subscribe([EventType.FILL, EventType.ORDER_STATUS], trader.fills, name="fills")
        async with background(executor.run(), trader.run()):
            await decide(trader, Action.BUY, "d1")
            await h.recorder.wait_for(lambda: trader.book.quantity(STRATEGY, "AAPL") == 10)
            await decide(trader, Action.EXIT, "d2")
            await h.recorder.wait_for(lambda: trader.book.quantity(STRATEGY, "AAPL") == 0)
            h.gateway.set_price("AAPL", 90.0)
            assert sim_positions(h.gateway) == {}
        assert sorted(sales(h)) == [
            ("s:d1/stop_loss", "Cancelled"),
            ("s:d1/take_profit", "Cancelled"),
            ("s:d2", "Filled"),
        ]
