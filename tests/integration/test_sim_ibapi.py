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


class _SecDefApp(_App):
    """_App that also records the security-definition answers."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[Any] = []
        self.samples_done = threading.Event()
        self.chains_done = threading.Event()
        self.chains: list[Any] = []
        self.rules: dict[int, list[Any]] = {}
        self.rule_seen = threading.Event()
        self.heads: list[str] = []
        self.head_seen = threading.Event()

    def symbolSamples(self, reqId: int, contractDescriptions: list[Any]) -> None:  # noqa: N803
        self.samples = contractDescriptions
        self.samples_done.set()

    def securityDefinitionOptionParameter(self, reqId: int, *args: Any) -> None:  # noqa: N803
        self.chains.append(args)

    def securityDefinitionOptionParameterEnd(self, reqId: int) -> None:  # noqa: N803
        self.chains_done.set()

    def marketRule(self, marketRuleId: int, priceIncrements: list[Any]) -> None:  # noqa: N803
        self.rules[marketRuleId] = priceIncrements
        self.rule_seen.set()

    def headTimestamp(self, reqId: int, headTimestamp: str) -> None:  # noqa: N803
        self.heads.append(headTimestamp)
        self.head_seen.set()


async def test_official_client_reads_ibs_security_definitions() -> None:
    """ibapi: ISIN and Decimal size rules, symbol search, empty option chains, rules, head time."""
    async with running_gateway() as gw:
        app = _SecDefApp()
        await asyncio.to_thread(app.connect, "127.0.0.1", gw.port, 18)
        reader = app.reader
        thread = threading.Thread(target=app.run, name="ibapi-message-loop", daemon=True)
        thread.start()
        try:
            await _wait(app.ready)
            app.reqContractDetails(1, _stock("AAPL"))
            await _wait(app.details_done)
            (details,) = app.details
            assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", "US0378331005")]
            assert (details.minSize, details.sizeIncrement) == (Decimal("0.0001"),) * 2
            assert details.suggestedSizeIncrement == Decimal(100)
            assert len(details.validExchanges.split(",")) == 26
            assert "TRAIL" in details.orderTypes.split(",")

            app.reqMarketRule(int(details.marketRuleIds.split(",")[0]))
            await _wait(app.rule_seen)
            ((rule_id, increments),) = app.rules.items()
            assert rule_id == 26
            assert [(i.lowEdge, i.increment) for i in increments] == [(0.0, 0.01)]

            app.reqMatchingSymbols(2, "Apple")
            await _wait(app.samples_done)
            assert [(d.contract.conId, d.contract.symbol) for d in app.samples] == [
                (265598, "AAPL")
            ]
            assert app.samples[0].contract.description == "APPLE INC"

            app.reqSecDefOptParams(3, "AAPL", "", "STK", 265598)
            await _wait(app.chains_done)
            assert app.chains == []

            app.reqHeadTimeStamp(4, _stock("AAPL"), "TRADES", 1, 1)
            await _wait(app.head_seen)
            assert app.heads == ["19801212-14:30:00"]
            assert not [e for e in app.errors if e[1] not in FARM_NOTICES]
        finally:
            app.conn.disconnect()
            await asyncio.to_thread(thread.join, WAIT)
            await asyncio.to_thread(reader.join, WAIT)
        assert not thread.is_alive()
        assert not reader.is_alive()
