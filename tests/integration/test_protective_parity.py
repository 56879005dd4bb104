"""The same protected trades at the simulated gateway (an unmodified ib_async client, live quotes)
and in the backtester (bars): the same legs fill, in the same order, at the same prices.

Each scenario is an entry with its protection, placed as ibbot places it (``ib_bracket``: the entry
untransmitted, the children attached in one OCA group), then a price path: pinned one price at a
time at the gateway (``/price``), and as flat bars (open = high = low = close) in the backtester.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from ib_async import Stock

from ibbot.backtest.broker import SimulatedBroker
from ibbot.broker.conversions import ib_bracket
from ibbot.models import Bracket, Order, OrderLeg, OrderSide, Protection, split_leg
from ibbot.trading import plan_bracket
from tests.integration.sim_support import connected, control, running_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

Leg = tuple[str, str, float, float]
"""(leg, side, quantity, price) of one fill."""


@dataclass(frozen=True)
class Scenario:
    protection: Protection
    prices: tuple[float, ...]  # the first is the entry's; the children work from the second on
    raise_stop_to: float | None = None  # modify the stop-loss after the entry filled


SCENARIOS = {
    "take-profit": Scenario(Protection(stop_loss_pct=0.05, take_profit_pct=0.1), (100, 100, 110)),
    "stop-loss": Scenario(Protection(stop_loss_pct=0.05, take_profit_pct=0.1), (100, 100, 96, 94)),
    "gap through the stop": Scenario(Protection(stop_loss_price=95.0), (100, 100, 90)),
    "trailing stop": Scenario(Protection(trailing_pct=0.02), (100, 100, 105, 104, 102.9)),
    "raised stop": Scenario(Protection(stop_loss_pct=0.05), (100, 100, 98.5), raise_stop_to=99.0),
}


def make_bracket(protection: Protection) -> Bracket:
    entry = Order("s", "AAPL", OrderSide.BUY, 10, decision_id="d1", created_at=T0)
    planned = plan_bracket(entry, protection, 100.0).bracket
    assert planned is not None
    return planned


async def at_the_gateway(scenario: Scenario) -> list[Leg]:
    """The scenario through ib_async at the simulated gateway; its executions, in order."""
    async with running_gateway() as gw, connected(gw) as ib:
        await pin(gw, scenario.prices[0])
        bracket = make_bracket(scenario.protection)
        orders = ib_bracket(bracket, [ib.client.getReqId() for _ in bracket.legs])
        trades = [ib.placeOrder(AAPL, order) for order in orders]

        def children_work() -> bool:
            statuses = [(t.orderStatus.status, t.orderStatus.whyHeld) for t in trades]
            return statuses[0][0] == "Filled" and all(
                status in ("Submitted", "PreSubmitted") and held != "child"
                for status, held in statuses[1:]
            )

        await until(children_work, ib.orderStatusEvent)
        if scenario.raise_stop_to is not None:
            stop = next(t for t in trades if t.order.orderType == "STP")
            stop.order.auxPrice = scenario.raise_stop_to
            ib.placeOrder(AAPL, stop.order)
            await until(lambda: stop_at(gw, scenario.raise_stop_to), ib.openOrderEvent)
        for price in scenario.prices[1:]:
            await pin(gw, price)
        return [
            (leg_of(e["order_ref"].partition(":")[2]), e["side"], e["quantity"], e["price"])
            for e in gw.truth()["exchange"]["executions"]
        ]


def leg_of(decision_id: str) -> str:
    return split_leg(decision_id)[1].value


def stop_at(gw: object, price: float | None) -> bool:
    return any(o["stop_price"] == price for o in gw.truth()["exchange"]["open_orders"])  # type: ignore[attr-defined]


async def pin(gw: object, price: float) -> None:
    status, body = await control(gw, "POST", "/price", {"symbol": "AAPL", "price": price})  # type: ignore[arg-type]
    assert status == 200, body


def in_the_backtester(scenario: Scenario) -> list[Leg]:
    """The scenario in the backtester's broker, one flat bar per price; its fills, in order."""
    broker = SimulatedBroker(
        starting_cash=1_000_000.0,
        commission=lambda q, p: 1.0,
        slippage_bps=1.0,
        day_of=lambda micros: 0,
    )
    broker.submit_bracket(make_bracket(scenario.protection), T0, {"AAPL": scenario.prices[0]})
    fills = []
    for index, price in enumerate(scenario.prices):
        if index == 1 and scenario.raise_stop_to is not None:
            (stop,) = [r for r in broker.protective("s", "AAPL") if r.order.stop_price]
            assert broker.modify_stop(stop.order_id, scenario.raise_stop_to, T0)
        time = T0 + timedelta(minutes=index + 1)
        fills += broker.on_bar(
            "AAPL", time=time, micros=0, open_=price, high=price, low=price, close=price, volume=1e6
        )
    return [(leg_of(f.decision_id), f.side.value, f.quantity, f.price) for f in fills]


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_backtester_fills_what_the_gateway_fills(name: str) -> None:
    """Same legs, same sides, same quantities, same prices, live and in the backtest."""
    scenario = SCENARIOS[name]
    live = await at_the_gateway(scenario)
    backtest = in_the_backtester(scenario)
    assert live == backtest
    assert live[0][:3] == (OrderLeg.ENTRY.value, "BUY", 10.0)
    assert len(live) == 2  # the entry and exactly one protective leg
