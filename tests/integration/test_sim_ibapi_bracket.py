"""A bracket as IB's own sample programs place it (ibapi: parent and take-profit with transmit
False, the stop-loss transmitting the three), at the simulated gateway.

The same behaviour as ``test_sim_protective`` checks through ib_async, decoded by the official
client: the parent fills; the children work with
their parentId (the stop held for its trigger); the take-profit's fill cancels the stop.
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tests.integration.sim_support import WAIT, control, running_gateway


class _BracketApp(EWrapper, EClient):
    """Wrapper and client in one object; every callback is recorded under a lock."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.ready = threading.Event()
        self.next_id = 0
        self.changed = threading.Condition()
        self.status: dict[int, tuple[str, int, str]] = {}  # orderId -> (status, parentId, whyHeld)
        self.open: dict[int, Order] = {}
        self.held: Decimal | None = None  # AAPL's position as positionEnd closes the list
        self.positions_done = False
        self.errors: list[tuple[int, int, str]] = []

    def nextValidId(self, orderId: int) -> None:  # noqa: N803 - EWrapper's signature
        self.next_id = orderId
        self.ready.set()

    def error(self, reqId: int, errorTime: int, errorCode: int, errorString: str, *_: Any) -> None:  # noqa: N803
        if errorCode not in (2104, 2106, 2158):
            with self.changed:
                self.errors.append((reqId, errorCode, errorString))
                self.changed.notify_all()

    def openOrder(self, orderId: int, contract: Contract, order: Order, orderState: Any) -> None:  # noqa: N803
        with self.changed:
            self.open[orderId] = order
            self.changed.notify_all()

    def orderStatus(
        self,
        orderId: int,  # noqa: N803
        status: str,
        filled: Decimal,
        remaining: Decimal,
        avgFillPrice: float,  # noqa: N803
        permId: int,  # noqa: N803
        parentId: int,  # noqa: N803
        lastFillPrice: float,  # noqa: N803
        clientId: int,  # noqa: N803
        whyHeld: str,  # noqa: N803
        mktCapPrice: float,  # noqa: N803
    ) -> None:
        with self.changed:
            self.status[orderId] = (status, parentId, whyHeld)
            self.changed.notify_all()

    def position(self, account: str, contract: Contract, position: Decimal, avgCost: float) -> None:  # noqa: N803
        if contract.symbol == "AAPL":
            with self.changed:
                self.held = position
                self.changed.notify_all()

    def positionEnd(self) -> None:
        with self.changed:
            self.positions_done = True
            self.changed.notify_all()

    async def until(self, check: Any) -> None:
        """Wait (off the loop) until ``check()`` holds, or fail after WAIT seconds."""

        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(check, WAIT)

        assert await asyncio.to_thread(wait), (self.status, self.errors)


def _aapl() -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "AAPL",
        "STK",
        "SMART",
        "USD",
    )
    return contract


def _order(action: str, order_type: str, *, price: float = 0.0, parent: int = 0) -> Order:
    order = Order()
    order.action, order.orderType, order.totalQuantity = action, order_type, Decimal(10)
    if order_type == "LMT":
        order.lmtPrice = price
    if order_type == "STP":
        order.auxPrice = price
    order.parentId = parent
    order.transmit = False
    return order


async def _pin(port_owner: Any, price: float) -> None:
    status, body = await control(port_owner, "POST", "/price", {"symbol": "AAPL", "price": price})
    assert status == 200, body


async def test_official_client_places_a_bracket_that_works_as_one() -> None:
    async with running_gateway() as gw:
        app = _BracketApp()
        await asyncio.to_thread(app.connect, "127.0.0.1", gw.port, 23)
        reader = app.reader
        thread = threading.Thread(target=app.run, name="ibapi-message-loop", daemon=True)
        thread.start()
        try:
            assert await asyncio.to_thread(app.ready.wait, WAIT)
            await _pin(gw, 100.0)
            parent_id = app.next_id
            take_id, stop_id = parent_id + 1, parent_id + 2
            parent = _order("BUY", "LMT", price=100.5)
            take = _order("SELL", "LMT", price=110.0, parent=parent_id)
            stop = _order("SELL", "STP", price=95.0, parent=parent_id)
            stop.transmit = True  # the last child sends the whole bracket
            app.placeOrder(parent_id, _aapl(), parent)
            app.placeOrder(take_id, _aapl(), take)
            app.placeOrder(stop_id, _aapl(), stop)

            def working() -> bool:
                # The stop is PreSubmitted twice: held as a "child" until the parent fills, then
                # for its "trigger"; waiting on the second status, not the first, avoids a race.
                return (
                    app.status.get(parent_id, ("",))[0] == "Filled"
                    and app.status.get(take_id, ("",))[0] == "Submitted"
                    and app.status.get(stop_id, ("", 0, ""))[::2] == ("PreSubmitted", "trigger")
                )

            await app.until(working)
            assert app.status[take_id][1] == app.status[stop_id][1] == parent_id
            assert (app.open[stop_id].orderType, app.open[stop_id].auxPrice) == ("STP", 95.0)
            assert app.open[stop_id].parentId == parent_id

            await _pin(gw, 110.0)
            await app.until(
                lambda: app.status[take_id][0] == "Filled" and app.status[stop_id][0] == "Cancelled"
            )
            app.reqPositions()
            await app.until(lambda: app.positions_done)
            assert app.held == 0
            assert gw.truth()["exchange"]["positions"][0]["quantity"] == 0
            # IB reports the stop the take-profit's fill cancelled with 202, as for any cancel.
            assert [(i, code) for i, code, _ in app.errors] == [(stop_id, 202)]
        finally:
            app.conn.disconnect()
            await asyncio.to_thread(thread.join, WAIT)
            await asyncio.to_thread(reader.join, WAIT)
