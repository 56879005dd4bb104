"""Protective orders at the simulated gateway through an unmodified ib_async client.

Brackets from ``IB.bracketOrder``, OCA groups from ``IB.oneCancelsAll`` (each ocaType), trailing
stops, modifications by re-sending an order, and the Adaptive algo: placed as ib_async places them,
decoded as ib_async decodes IB's openOrder, orderStatus and completedOrder. Prices are pinned through
the control interface (``/price``), so every trigger is exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Order, Stock, TagValue, Trade

from tests.integration.sim_support import connected, control, running_gateway, until

if TYPE_CHECKING:
    from ibbot.sim.gateway import SimulatedGateway

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
SLIPPAGE = 2e-4  # a market fill is worse than the print by the gateway's slippage (1 bp)


async def pin(gw: SimulatedGateway, price: float | None) -> dict[str, object]:
    """Make the gateway's exchange trade AAPL at ``price`` (a matching pass runs at once)."""
    status, body = await control(gw, "POST", "/price", {"symbol": "AAPL", "price": price})
    assert status == 200, body
    return body


async def seen_by_another_client(gw: SimulatedGateway) -> dict[int, Trade]:
    """The open orders as a second client decodes them from openOrder (reqAllOpenOrders)."""
    async with connected(gw, 9) as other:
        return {t.order.permId: t for t in await other.reqAllOpenOrdersAsync()}


async def long_position(ib: IB, gw: SimulatedGateway, quantity: int) -> None:
    """Buy ``quantity`` AAPL at the pinned 100.0."""
    await pin(gw, 100.0)
    trade = ib.placeOrder(AAPL, MarketOrder("BUY", quantity))
    await until(trade.isDone, trade.statusEvent)


def held(ib: IB) -> float:
    return sum(p.position for p in ib.positions() if p.contract.symbol == "AAPL")


async def test_a_bracket_order_goes_live_whole_and_one_leg_cancels_the_other() -> None:
    """bracketOrder: nothing works until the stop transmits; the parent fills, the children wait
    for it, then the take-profit's fill cancels the stop; parentId and parentPermId decode."""
    async with running_gateway() as gw, connected(gw) as ib:
        await pin(gw, 100.0)
        parent, take, stop = (
            ib.placeOrder(AAPL, order) for order in ib.bracketOrder("BUY", 10, 100.5, 110.0, 95.0)
        )

        def active() -> bool:
            return (
                parent.orderStatus.status == "Filled"
                and take.orderStatus.status == "Submitted"
                and stop.orderStatus.status == "PreSubmitted"
            )

        await until(active, ib.orderStatusEvent)
        assert stop.orderStatus.whyHeld == "trigger"
        assert take.orderStatus.parentId == stop.orderStatus.parentId == parent.order.orderId
        seen = await seen_by_another_client(gw)
        decoded = seen[stop.order.permId].order
        assert (decoded.orderType, decoded.auxPrice, decoded.parentId) == (
            "STP",
            95.0,
            parent.order.orderId,
        )

        await pin(gw, 110.0)
        await until(lambda: take.isDone() and stop.isDone(), ib.orderStatusEvent)
        assert (take.orderStatus.status, stop.orderStatus.status) == ("Filled", "Cancelled")
        assert take.fills[0].execution.price == 110.0
        await until(lambda: held(ib) == 0, ib.positionEvent)
        completed = {t.order.permId: t.order for t in await ib.reqCompletedOrdersAsync(True)}
        assert completed[take.order.permId].parentPermId == parent.order.permId


@pytest.mark.parametrize(("oca_type", "left"), [(1, 10.0), (2, 10.0), (3, 0.0)])
async def test_one_cancels_all_groups_per_oca_type(oca_type: int, left: float) -> None:
    """oneCancelsAll: two sells both marketable on one print: types 1 and 2 (with block) sell
    once and cancel the other; type 3 (no block) sells both; the group and type decode."""
    async with running_gateway() as gw, connected(gw) as ib:
        await long_position(ib, gw, 20)
        orders = IB.oneCancelsAll(
            [LimitOrder("SELL", 10, 105.0), LimitOrder("SELL", 10, 106.0)], "exits", oca_type
        )
        first, second = (ib.placeOrder(AAPL, order) for order in orders)
        await until(
            lambda: first.orderStatus.status == second.orderStatus.status == "Submitted",
            ib.orderStatusEvent,
        )
        decoded = (await seen_by_another_client(gw))[second.order.permId].order
        assert (decoded.ocaGroup, decoded.ocaType) == ("exits", oca_type)

        await pin(gw, 107.0)
        await until(lambda: first.isDone() and second.isDone(), ib.orderStatusEvent)
        await until(lambda: held(ib) == left, ib.positionEvent)
        statuses = sorted([first.orderStatus.status, second.orderStatus.status])
        assert statuses == (["Filled", "Filled"] if oca_type == 3 else ["Cancelled", "Filled"])


@pytest.mark.parametrize(
    ("terms", "stop_after_rise"),
    [
        ({"orderType": "TRAIL", "auxPrice": 1.0}, 104.0),
        ({"orderType": "TRAIL", "trailingPercent": 2.0}, 102.9),
        ({"orderType": "TRAIL LIMIT", "auxPrice": 1.0, "lmtPriceOffset": 0.5}, 104.0),
    ],
)
async def test_a_trailing_stop_follows_the_market_and_sells(
    terms: dict[str, object], stop_after_rise: float
) -> None:
    """A TRAIL (amount or percent) or TRAIL LIMIT sell: its trailStopPrice rises with the price,
    decodes as such, and a fall to it sells the holding."""
    async with running_gateway() as gw, connected(gw) as ib:
        await long_position(ib, gw, 10)
        trail = ib.placeOrder(AAPL, Order(action="SELL", totalQuantity=10, tif="GTC", **terms))
        await until(lambda: trail.orderStatus.status == "PreSubmitted", trail.statusEvent)
        await pin(gw, 105.0)
        decoded = (await seen_by_another_client(gw))[trail.order.permId].order
        assert decoded.trailStopPrice == stop_after_rise
        assert decoded.orderType == terms["orderType"]
        if "lmtPriceOffset" in terms:
            assert decoded.lmtPriceOffset == 0.5
        await pin(gw, stop_after_rise)
        await until(trail.isDone, trail.statusEvent)
        assert trail.orderStatus.status == "Filled"
        assert trail.fills[0].execution.price == pytest.approx(stop_after_rise, rel=SLIPPAGE)
        await until(lambda: held(ib) == 0, ib.positionEvent)


async def test_modifying_a_stop_leg_by_resending_it_moves_the_stop() -> None:
    """Raising the bracket's stop through placeOrder with the same id moves it at the gateway;
    a fall to the new stop sells and cancels the take-profit."""
    async with running_gateway() as gw, connected(gw) as ib:
        await pin(gw, 100.0)
        parent, take, stop = (
            ib.placeOrder(AAPL, order) for order in ib.bracketOrder("BUY", 10, 100.5, 110.0, 95.0)
        )
        await until(lambda: stop.orderStatus.status == "PreSubmitted", ib.orderStatusEvent)
        await until(lambda: parent.orderStatus.status == "Filled", ib.orderStatusEvent)
        stop.order.auxPrice = 99.0
        ib.placeOrder(AAPL, stop.order)
        await until(
            lambda: (
                (seen := stop.order.permId) > 0
                and bool(gw.truth()["exchange"]["open_orders"])
                and any(
                    o["perm_id"] == seen and o["stop_price"] == 99.0
                    for o in gw.truth()["exchange"]["open_orders"]
                )
            ),
            ib.openOrderEvent,
        )
        await pin(gw, 98.5)
        await until(lambda: stop.isDone() and take.isDone(), ib.orderStatusEvent)
        assert (stop.orderStatus.status, take.orderStatus.status) == ("Filled", "Cancelled")
        assert stop.fills[0].execution.price == pytest.approx(98.5, rel=SLIPPAGE)


async def test_adaptive_orders_work_as_their_base_type() -> None:
    """An Adaptive LMT rests with its algo and priority decoded; an Adaptive MKT fills at once."""
    async with running_gateway() as gw, connected(gw) as ib:
        await pin(gw, 100.0)
        params = [TagValue("adaptivePriority", "Patient")]
        resting = ib.placeOrder(
            AAPL, LimitOrder("BUY", 5, 90.0, algoStrategy="Adaptive", algoParams=params)
        )
        await until(lambda: resting.orderStatus.status == "Submitted", resting.statusEvent)
        decoded = (await seen_by_another_client(gw))[resting.order.permId].order
        assert decoded.algoStrategy == "Adaptive"
        assert [(p.tag, p.value) for p in decoded.algoParams] == [("adaptivePriority", "Patient")]
        market = ib.placeOrder(
            AAPL, MarketOrder("BUY", 5, algoStrategy="Adaptive", algoParams=params)
        )
        await until(market.isDone, market.statusEvent)
        assert market.orderStatus.status == "Filled"
        assert market.fills[0].execution.price == pytest.approx(100.0, rel=SLIPPAGE)
