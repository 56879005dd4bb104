"""IB's official Python client (ibapi) reads the account summary, account keys and P&L streams."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

from ibapi.account_summary_tags import AccountSummaryTags
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tests.integration.sim_support import WAIT, running_gateway

ACCOUNT = "DU1234567"
MSFT_CON_ID = 272093
UNSET = 1.7976931348623157e308
SUMMARY, PNL, PNL_SINGLE, PNL_ALL = 9001, 9002, 9003, 9004


class _App(EWrapper, EClient):
    """Records the account callbacks; events fire from the client's message thread."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.next_id: int | None = None
        self.ready = threading.Event()
        self.summary: dict[tuple[str, str], str] = {}
        self.summary_done = threading.Event()
        self.values: dict[tuple[str, str], str] = {}
        self.download_done = threading.Event()
        self.pnl_updates: list[tuple[float, float, float]] = []
        self.pnl_seen = threading.Event()
        self.single_updates: list[tuple[Decimal, float, float, float, float]] = []
        self.single_seen = threading.Event()
        self.errors: list[tuple[int, int, str]] = []
        self.error_seen = threading.Event()
        self.fill_cost = 0.0
        self.commission_seen = threading.Event()

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
        if reqId == PNL_ALL:
            self.error_seen.set()

    def accountSummary(self, reqId: int, account: str, tag: str, value: str, currency: str) -> None:  # noqa: N803
        self.summary[tag, currency] = value

    def accountSummaryEnd(self, reqId: int) -> None:  # noqa: N803
        self.summary_done.set()

    def updateAccountValue(self, key: str, val: str, currency: str, accountName: str) -> None:  # noqa: N803
        self.values[key, currency] = val

    def accountDownloadEnd(self, accountName: str) -> None:  # noqa: N803
        self.download_done.set()

    def pnl(self, reqId: int, dailyPnL: float, unrealizedPnL: float, realizedPnL: float) -> None:  # noqa: N803
        self.pnl_updates.append((dailyPnL, unrealizedPnL, realizedPnL))
        self.pnl_seen.set()

    def pnlSingle(
        self,
        reqId: int,  # noqa: N803 - EWrapper's signature
        pos: Decimal,
        dailyPnL: float,  # noqa: N803
        unrealizedPnL: float,  # noqa: N803
        realizedPnL: float,  # noqa: N803
        value: float,
    ) -> None:
        self.single_updates.append((pos, dailyPnL, unrealizedPnL, realizedPnL, value))
        self.single_seen.set()

    def execDetails(self, reqId: int, contract: Contract, execution: Any) -> None:  # noqa: N803
        self.fill_cost += float(execution.shares) * execution.price

    def commissionAndFeesReport(self, commissionAndFeesReport: Any) -> None:  # noqa: N803
        self.fill_cost += commissionAndFeesReport.commissionAndFees
        self.commission_seen.set()


async def _wait(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT)
    event.clear()


def _msft() -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "MSFT",
        "STK",
        "SMART",
        "USD",
    )
    return contract


async def test_official_client_gets_every_summary_tag_the_account_keys_and_pnl() -> None:
    """AllTags + $LEDGER:ALL, reqAccountUpdates, reqPnL/reqPnLSingle through a buy, 321 for "All"."""
    async with running_gateway() as gw:
        app = _App()
        await asyncio.to_thread(app.connect, "127.0.0.1", gw.port, 18)
        reader = app.reader
        thread = threading.Thread(target=app.run, name="ibapi-message-loop", daemon=True)
        thread.start()
        try:
            await _wait(app.ready)
            app.reqAccountSummary(SUMMARY, "All", AccountSummaryTags.AllTags + ",$LEDGER:ALL")
            await _wait(app.summary_done)
            asked = set(AccountSummaryTags.AllTags.split(",")) - {"ReqTEquity", "ReqTMargin"}
            assert asked <= {tag for tag, _ in app.summary}
            assert app.summary["FullAvailableFunds", "USD"] == "1000000.00"
            assert app.summary["SettledCash", "USD"] == app.summary["TotalCashValue", "USD"]
            assert app.summary["CashBalance", "BASE"] == app.summary["CashBalance", "USD"]
            app.reqAccountUpdates(True, ACCOUNT)
            await _wait(app.download_done)
            common = app.summary.keys() & app.values.keys()
            assert {k: app.summary[k] for k in common} == {k: app.values[k] for k in common}
            assert app.values["SMA-S", "USD"] == app.summary["SMA", "USD"]

            app.reqPnL(PNL, ACCOUNT, "")
            app.reqPnLSingle(PNL_SINGLE, ACCOUNT, "", MSFT_CON_ID)
            app.reqPnL(PNL_ALL, "All", "")
            await _wait(app.pnl_seen)
            await _wait(app.single_seen)
            assert app.pnl_updates[0] == (0.0, 0.0, 0.0)
            assert app.single_updates[0] == (Decimal(0), 0.0, 0.0, UNSET, 0.0)
            await _wait(app.error_seen)
            assert (PNL_ALL, 321) in {(req_id, code) for req_id, code, _ in app.errors}

            order = Order()
            order.action, order.orderType, order.totalQuantity = "BUY", "MKT", Decimal(10)
            assert app.next_id is not None
            app.placeOrder(app.next_id, _msft(), order)
            await _wait(app.commission_seen)
            async with asyncio.timeout(WAIT):
                while not app.single_updates or app.single_updates[-1][0] != 10:
                    await _wait(app.single_seen)
            _, daily, unrealized, realized, value = app.single_updates[-1]
            assert abs(unrealized - (value - app.fill_cost)) < 1e-6
            assert abs(daily - unrealized) < 1e-6  # opened today: the day's P&L is the position's
            assert realized == 0.0
            app.cancelPnL(PNL)
            app.cancelPnLSingle(PNL_SINGLE)
            assert not [e for e in app.errors if e[1] not in {2104, 2106, 2158, 321}]
        finally:
            app.conn.disconnect()
            await asyncio.to_thread(thread.join, WAIT)
            await asyncio.to_thread(reader.join, WAIT)
        assert not thread.is_alive()
