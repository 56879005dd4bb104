"""A strategy's limit order in a live run against the simulated gateway: it rests, then it fills."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ibbot.live import BOOK_STATE
from ibbot.models import EventType, Fill, OrderResult, OrderStatus
from tests.integration.app_support import (
    TRADING_START,
    Watch,
    app_settings,
    decision_of,
    fill_of,
    running,
    running_gateway,
    sim_orders,
    strategy,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ibbot.models import Event
    from ibbot.sim.gateway import SimulatedGateway

# The order must reach the gateway within this much simulated time (5 s of wall time at 60x);
# the limit lies under every ask until then, and the ask comes down to it within the horizon.
PLACED_BY = timedelta(minutes=5)
HORIZON = timedelta(minutes=15)


def dipping_limit(
    gateway: SimulatedGateway, symbols: tuple[str, ...]
) -> tuple[str, float, datetime]:
    """A symbol, a buy limit two cents under its lowest ask before PLACED_BY, and when the ask
    first reaches that limit: read from the gateway's own (deterministic) price path."""
    market = gateway.hub.market
    for symbol in symbols:
        times = [TRADING_START + timedelta(seconds=s) for s in range(int(HORIZON.total_seconds()))]
        asks = [(t, market.quote(symbol, t).ask) for t in times]
        floor = min(ask for t, ask in asks if t < TRADING_START + PLACED_BY)
        limit = round(floor - 0.02, 2)
        reached = next((t for t, ask in asks if ask <= limit), None)
        if reached is not None:
            return symbol, limit, reached
    raise AssertionError(f"no ask of {symbols} dips under its first {PLACED_BY} within {HORIZON}")


def resting(strategy_name: str) -> Callable[[Event], bool]:
    """A predicate: the strategy's order is working at the gateway (submitted, nothing filled)."""

    def matches(event: Event) -> bool:
        result = event.payload
        return (
            isinstance(result, OrderResult)
            and result.strategy_name == strategy_name
            and result.status is OrderStatus.SUBMITTED
            and not result.fill_quantity
        )

    return matches


async def test_a_limit_order_rests_at_the_gateway_and_fills_at_its_limit(tmp_path: Path) -> None:
    """A DAY buy limit under the market is submitted and rests (no fill) until the ask comes down
    to it, then fills at the limit price; the book and the gateway agree."""
    async with running_gateway() as gateway:
        symbol, limit, reached = dipping_limit(gateway, ("AAPL", "MSFT"))
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            watchlist=(symbol,),
            strategies=[
                strategy(
                    "dip",
                    "BuyOnContract",
                    quantity=5,
                    price=limit,
                    order_type="LMT",
                    limit_price=limit,
                    time_in_force="DAY",
                )
            ],
        )
        async with (
            running(settings, gateway) as orchestrator,
            Watch(
                orchestrator.bus, EventType.DECISION, EventType.ORDER_STATUS, EventType.FILL
            ) as watch,
        ):
            await watch.until(decision_of("dip", outcome="sent"), what="the limit order sent")
            working = await watch.until(resting("dip"), what="the order resting at the gateway")
            assert working.payload.timestamp < reached
            [rested] = gateway.truth()["exchange"]["open_orders"]
            assert (rested["order_type"], rested["limit_price"], rested["tif"]) == (
                "LMT",
                limit,
                "DAY",
            )
            assert rested["filled"] == 0
            filled = await watch.until(fill_of("dip", symbol), what="the limit order filled")
            fill = filled.payload
            assert isinstance(fill, Fill)
            assert (fill.side.value, fill.quantity, fill.price) == ("BUY", 5.0, limit)
            assert fill.timestamp >= reached
    [order] = sim_orders(gateway)
    assert (order["status"], order["avg_fill_price"], order["order_ref"].split(":")[0]) == (
        "Filled",
        limit,
        "dip",
    )
    saved = json.loads((settings.store.path / "state" / f"{BOOK_STATE}.json").read_text())
    [held] = saved["state"]["book"]["positions"]["dip"]
    assert (held["symbol"], held["quantity"], held["avg_cost"]) == (symbol, 5.0, limit)
