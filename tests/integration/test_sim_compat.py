"""Unmodified TWS clients against the sim, each at the version it negotiates, checked against the truth.

ib_async 2.1 (v157..178) talks at 178, IB's ibapi 10.50 (v100..226) at 178 too, ib_insync 0.9.86
(v157..176, in a subprocess with an environment of its own) at 176. Each runs the same scenario
(compat_support) and every value it decoded must be what the gateway holds.
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ibapi.client import EClient
from ibapi.contract import Contract, ContractDetails
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tests.integration.compat_support import (
    BARS_DURATION,
    BARS_END_TEXT,
    FARM_NOTICES,
    ORDER_REF,
    QUANTITY,
    SUMMARY_TAGS,
    SYMBOL,
    Decoded,
    check_decoded,
    run_ib_async,
    run_ib_insync,
)
from tests.integration.sim_support import WAIT, connected, running_gateway

if TYPE_CHECKING:
    from ibapi.order_state import OrderState


async def test_ib_async_talks_at_178_and_decodes_the_truth() -> None:
    """ib_async 2.1 offers v157..178 and gets 178; everything it decodes is the sim's."""
    async with running_gateway() as gw, connected(gw) as ib:
        session = gw.hub.session_for(1)
        assert session is not None
        assert session.server_version == 178  # what the sim encodes this client's messages at
        check_decoded(await run_ib_async(ib), gw, version=178)


async def test_ib_insync_0_9_86_talks_at_176_and_decodes_the_truth() -> None:
    """ib_insync 0.9.86 offers v157..176 and gets 176; everything it decodes is the sim's."""
    async with running_gateway() as gw:
        decoded = await run_ib_insync(gw.port, 5)
        check_decoded(decoded, gw, version=176)


class _App(EWrapper, EClient):
    """IB's sample-program shape, recording what its decoder hands the wrapper."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.next_id = 0
        self.events: dict[str, threading.Event] = {}
        self.errors: list[list[Any]] = []
        self.details: list[ContractDetails] = []
        self.bars: list[Any] = []
        self.ticks: dict[str, float] = {}
        self.open_orders: list[tuple[Order, OrderState]] = []
        self.statuses: list[dict[str, Any]] = []
        self.fills: list[Any] = []
        self.commissions: dict[str, float] = {}
        self.completed: list[tuple[Order, OrderState]] = []
        self.positions: list[dict[str, Any]] = []
        self.summary: dict[str, float] = {}
        self.executions: list[Any] = []

    def event(self, name: str) -> threading.Event:
        return self.events.setdefault(name, threading.Event())

    def nextValidId(self, orderId: int) -> None:  # noqa: N803 - EWrapper's signature
        self.next_id = orderId
        self.event("ready").set()

    def error(
        self,
        reqId: int,  # noqa: N803
        errorTime: int,  # noqa: N803
        errorCode: int,  # noqa: N803
        errorString: str,  # noqa: N803
        advancedOrderRejectJson: str = "",  # noqa: N803
    ) -> None:
        if errorCode not in FARM_NOTICES:
            self.errors.append([reqId, errorCode, errorString])

    def contractDetails(self, reqId: int, contractDetails: ContractDetails) -> None:  # noqa: N803
        self.details.append(contractDetails)

    def contractDetailsEnd(self, reqId: int) -> None:  # noqa: N803
        self.event("details").set()

    def historicalData(self, reqId: int, bar: Any) -> None:  # noqa: N803
        self.bars.append(bar)

    def historicalDataEnd(self, reqId: int, start: str, end: str) -> None:  # noqa: N803
        self.event("bars").set()

    def tickPrice(self, reqId: int, tickType: int, price: float, attrib: Any) -> None:  # noqa: N803
        self.ticks[{1: "bid", 2: "ask", 4: "last", 9: "close"}.get(tickType, str(tickType))] = price
        self._ticks_complete()

    def tickSize(self, reqId: int, tickType: int, size: Decimal) -> None:  # noqa: N803
        self.ticks[{0: "bidSize", 3: "askSize"}.get(tickType, str(tickType))] = float(size)
        self._ticks_complete()

    def _ticks_complete(self) -> None:
        if {"bid", "ask", "last", "close", "bidSize", "askSize"} <= self.ticks.keys():
            self.event("ticks").set()

    def openOrder(
        self,
        orderId: int,  # noqa: N803
        contract: Contract,
        order: Order,
        orderState: OrderState,  # noqa: N803
    ) -> None:
        self.open_orders.append((order, orderState))

    def orderStatus(
        self,
        orderId: int,  # noqa: N803
        status: str,
        filled: Decimal,
        remaining: Decimal,
        avgFillPrice: float,  # noqa: N803
        permId: int,  # noqa: N803
        *args: Any,
    ) -> None:
        self.statuses.append(
            {
                "status": status,
                "filled": float(filled),
                "avgFillPrice": avgFillPrice,
                "permId": permId,
            }
        )
        if status == "Filled":
            self.event("filled").set()

    def execDetails(self, reqId: int, contract: Contract, execution: Any) -> None:  # noqa: N803
        (self.fills if reqId == -1 else self.executions).append(execution)

    def execDetailsEnd(self, reqId: int) -> None:  # noqa: N803
        self.event("executions").set()

    def commissionAndFeesReport(self, commissionAndFeesReport: Any) -> None:  # noqa: N803
        report = commissionAndFeesReport
        self.commissions[report.execId] = report.commissionAndFees
        self.event("commission").set()

    def completedOrder(self, contract: Contract, order: Order, orderState: OrderState) -> None:  # noqa: N803
        self.completed.append((order, orderState))

    def completedOrdersEnd(self) -> None:
        self.event("completed").set()

    def position(self, account: str, contract: Contract, position: Decimal, avgCost: float) -> None:  # noqa: N803
        self.positions.append(
            {"conId": contract.conId, "position": float(position), "avgCost": avgCost}
        )

    def positionEnd(self) -> None:
        self.event("positions").set()

    def accountSummary(self, reqId: int, account: str, tag: str, value: str, currency: str) -> None:  # noqa: N803
        self.summary[tag] = float(value)

    def accountSummaryEnd(self, reqId: int) -> None:  # noqa: N803
        self.event("summary").set()


async def _wait(app: _App, name: str) -> None:
    assert await asyncio.to_thread(app.event(name).wait, WAIT), f"no {name} within {WAIT} s"


def _order_fields(order: Order) -> dict[str, Any]:
    return {
        "permId": order.permId,
        "action": order.action,
        "totalQuantity": float(order.totalQuantity),
        "orderType": order.orderType,
        "orderRef": order.orderRef,
    }


def _execution_fields(execution: Any) -> dict[str, Any]:
    return {
        "execId": execution.execId,
        "permId": execution.permId,
        "side": execution.side,
        "shares": float(execution.shares),
        "price": execution.price,
        "cumQty": float(execution.cumQty),
        "avgPrice": execution.avgPrice,
        "orderRef": execution.orderRef,
    }


async def _ibapi_scenario(app: _App) -> Decoded:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        SYMBOL,
        "STK",
        "SMART",
        "USD",
    )
    app.reqContractDetails(1, contract)
    await _wait(app, "details")
    (details,) = app.details
    qualified = details.contract
    app.reqHistoricalData(
        2, qualified, BARS_END_TEXT, BARS_DURATION, "1 day", "TRADES", 1, 1, False, []
    )
    await _wait(app, "bars")
    app.reqMktData(3, qualified, "", False, False, [])
    await _wait(app, "ticks")
    ticks = {k: app.ticks[k] for k in ("bid", "ask", "last", "close", "bidSize", "askSize")}
    app.cancelMktData(3)
    order = Order()
    order.action, order.orderType, order.totalQuantity = "BUY", "MKT", Decimal(QUANTITY)
    order.orderRef = ORDER_REF
    app.placeOrder(app.next_id, qualified, order)
    await _wait(app, "filled")
    await _wait(app, "commission")
    app.reqCompletedOrders(True)
    await _wait(app, "completed")
    app.reqPositions()
    await _wait(app, "positions")
    app.reqAccountSummary(4, "All", SUMMARY_TAGS)
    await _wait(app, "summary")
    app.reqExecutions(5, ExecutionFilter())
    await _wait(app, "executions")
    (completed_order, completed_state) = app.completed[-1]
    return {
        "server_version": app.serverVersion(),
        "details": {
            "conId": qualified.conId,
            "longName": details.longName,
            "minTick": details.minTick,
            "primaryExchange": qualified.primaryExchange,
            "timeZoneId": details.timeZoneId,
        },
        "bars": [
            {
                "date": bar.date,
                "open": bar.open,
                "high": bar.high,
                "low": bar.low,
                "close": bar.close,
                "volume": float(bar.volume),
            }
            for bar in app.bars
        ],
        "ticks": ticks,
        "order": {k: app.statuses[-1][k] for k in ("status", "filled", "avgFillPrice", "permId")},
        "open_order": _order_fields(app.open_orders[-1][0]),
        "completed": {**_order_fields(completed_order), "status": completed_state.status},
        "fills": [_execution_fields(e) for e in app.fills],
        "commissions": app.commissions,
        "executions": [_execution_fields(e) for e in app.executions],
        "positions": app.positions,
        "summary": app.summary,
        "errors": app.errors,
    }


async def test_ibapi_at_its_own_max_talks_at_178_and_decodes_the_truth() -> None:
    """IB's ibapi 10.50 offers v100..226 and gets 178; everything it decodes is the sim's."""
    async with running_gateway() as gw:
        app = _App()
        await asyncio.to_thread(app.connect, "127.0.0.1", gw.port, 9)
        reader = app.reader
        thread = threading.Thread(target=app.run, name="ibapi-message-loop", daemon=True)
        thread.start()
        try:
            await _wait(app, "ready")
            session = gw.hub.session_for(9)
            assert session is not None
            assert session.server_version == 178  # what the sim encodes this client's messages at
            check_decoded(await _ibapi_scenario(app), gw, version=178)
        finally:
            app.conn.disconnect()  # the message loop then disconnects on its own thread
            await asyncio.to_thread(thread.join, WAIT)
            await asyncio.to_thread(reader.join, WAIT)
        assert not thread.is_alive()
