"""IB's official Python client (ibapi 10.50, EClient/EWrapper on its own thread) against the sim."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

from ibapi.client import EClient
from ibapi.contract import Contract, ContractDetails
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tests.integration.sim_support import WAIT, running_gateway

# The data-farm notices TWS sends every new session: market data, HMDS and sec-def farms are OK.
FARM_NOTICES = frozenset({2104, 2106, 2158})


class _App(EWrapper, EClient):
    """The shape of IB's own sample programs: one object that is both wrapper and client."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.next_id: int | None = None
        self.ready = threading.Event()
        self.details: list[ContractDetails] = []
        self.details_done = threading.Event()
        self.bars: list[Any] = []
        self.bars_done = threading.Event()
        self.statuses: list[str] = []
        self.filled = threading.Event()
        self.executions: list[Any] = []
        self.commissions: list[float] = []
        self.commission_seen = threading.Event()
        self.errors: list[tuple[int, int, str]] = []
        self.farms_ok = threading.Event()

    def nextValidId(self, orderId: int) -> None:  # noqa: N803 - EWrapper's signature
        self.next_id = orderId
        self.ready.set()

    def error(
        self,
        reqId: int,  # noqa: N803 - EWrapper's signature
        errorTime: int,  # noqa: N803
        errorCode: int,  # noqa: N803
        errorString: str,  # noqa: N803
        advancedOrderRejectJson: str = "",  # noqa: N803
    ) -> None:
        self.errors.append((reqId, errorCode, errorString))
        if FARM_NOTICES.issubset(code for _, code, _ in self.errors):
            self.farms_ok.set()

    def contractDetails(self, reqId: int, contractDetails: ContractDetails) -> None:  # noqa: N803
        self.details.append(contractDetails)

    def contractDetailsEnd(self, reqId: int) -> None:  # noqa: N803
        self.details_done.set()

    def historicalData(self, reqId: int, bar: Any) -> None:  # noqa: N803
        self.bars.append(bar)

    def historicalDataEnd(self, reqId: int, start: str, end: str) -> None:  # noqa: N803
        self.bars_done.set()

    def orderStatus(self, orderId: int, status: str, *args: Any) -> None:  # noqa: N803
        self.statuses.append(status)
        if status == "Filled":
            self.filled.set()

    def execDetails(self, reqId: int, contract: Contract, execution: Any) -> None:  # noqa: N803
        self.executions.append(execution)

    def commissionAndFeesReport(self, commissionAndFeesReport: Any) -> None:  # noqa: N803
        self.commissions.append(commissionAndFeesReport.commissionAndFees)
        self.commission_seen.set()


async def _wait(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT)


def _stock(symbol: str) -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        symbol,
        "STK",
        "SMART",
        "USD",
    )
    return contract


async def test_official_client_gets_ids_details_history_and_a_fill() -> None:
    """nextValidId, contract details, historical bars and a market order to Filled, on ibapi."""
    async with running_gateway() as gw:
        app = _App()
        await asyncio.to_thread(app.connect, "127.0.0.1", gw.port, 17)
        reader = app.reader  # the socket-reading thread; the client forgets it when it resets
        thread = threading.Thread(target=app.run, name="ibapi-message-loop", daemon=True)
        thread.start()
        try:
            await _wait(app.ready)
            assert app.next_id == 1
            assert app.serverVersion() == 178
            await _wait(app.farms_ok)  # they follow nextValidId; the reader thread may lag
            assert {code for _, code, _ in app.errors} == FARM_NOTICES

            app.reqContractDetails(1, _stock("MSFT"))
            await _wait(app.details_done)
            (details,) = app.details
            assert (details.contract.conId, details.longName) == (272093, "MICROSOFT CORP")
            assert details.contract.primaryExchange == "NASDAQ"

            app.reqHistoricalData(2, _stock("MSFT"), "", "1 D", "5 mins", "TRADES", 1, 1, False, [])
            await _wait(app.bars_done)
            assert len(app.bars) >= 6
            assert all(bar.low <= bar.high for bar in app.bars)
            assert app.bars[0].date.endswith("US/Eastern")

            order = Order()
            order.action, order.orderType, order.totalQuantity = "BUY", "MKT", Decimal(10)
            order.orderRef = "ibapi:1"
            app.placeOrder(app.next_id, _stock("MSFT"), order)
            await _wait(app.filled)
            assert app.statuses[-1] == "Filled"
            assert [e.shares for e in app.executions] == [Decimal(10)]
            assert app.executions[0].orderRef == "ibapi:1"
            await _wait(app.commission_seen)
            assert app.commissions == [1.0]
            assert gw.truth()["exchange"]["positions"][0]["quantity"] == 10
            assert not [e for e in app.errors if e[1] not in FARM_NOTICES]
        finally:
            # Close only the socket: the message loop drains what was read, then disconnects (and
            # resets the client) on its own thread. EClient.disconnect() from here would reset
            # the client under a message being decoded.
            app.conn.disconnect()
            await asyncio.to_thread(thread.join, WAIT)
            await asyncio.to_thread(reader.join, WAIT)
        assert not thread.is_alive()
        assert not reader.is_alive()
