"""The compatibility scenario (tests/integration/compat_support.py) on ib_insync 0.9.86.

Runs in ib_insync's own environment (tests/compat/ib_insync), never imported by the test suite:
``python insync_scenario.py PORT CLIENT_ID`` connects to the simulated gateway on 127.0.0.1, runs
the scenario and prints what ib_insync decoded as one JSON object on stdout. The constants mirror
compat_support's (this script cannot import ibbot or the tests).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from ib_insync import IB, MarketOrder, Stock

SYMBOL = "MSFT"
QUANTITY = 10
ORDER_REF = "compat:1"
BARS_END_TEXT = "20260227 16:00:00 US/Eastern"
BARS_DURATION = "5 D"
SUMMARY_TAGS = ("NetLiquidation", "TotalCashValue", "BuyingPower")
FARM_NOTICES = frozenset({2104, 2106, 2158})
WAIT = 20.0


async def until(predicate: Any, event: Any) -> None:
    """Wait on an ib_insync event until ``predicate()`` holds."""
    async with asyncio.timeout(WAIT):
        while not predicate():
            await event


def order_fields(order: Any) -> dict[str, Any]:
    return {
        "permId": order.permId,
        "action": order.action,
        "totalQuantity": order.totalQuantity,
        "orderType": order.orderType,
        "orderRef": order.orderRef,
    }


def execution_fields(execution: Any) -> dict[str, Any]:
    return {
        "execId": execution.execId,
        "permId": execution.permId,
        "side": execution.side,
        "shares": execution.shares,
        "price": execution.price,
        "cumQty": execution.cumQty,
        "avgPrice": execution.avgPrice,
        "orderRef": execution.orderRef,
    }


async def scenario(port: int, client_id: int) -> dict[str, Any]:
    ib = IB()
    ib.RaiseRequestErrors = True
    errors: list[list[Any]] = []

    def on_error(req_id: int, code: int, text: str, _contract: object) -> None:
        if code not in FARM_NOTICES:
            errors.append([req_id, code, text])

    ib.errorEvent += on_error
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=WAIT)
    try:
        (details,) = await ib.reqContractDetailsAsync(Stock(SYMBOL, "SMART", "USD"))
        contract = details.contract
        bars = await ib.reqHistoricalDataAsync(
            contract, BARS_END_TEXT, BARS_DURATION, "1 day", "TRADES", True, 1
        )
        ticker = ib.reqMktData(contract)
        await until(
            # NaN until a tick sets it, and NaN compares false (so min() would not do)
            lambda: all(
                value > 0
                for value in (
                    ticker.bid,
                    ticker.ask,
                    ticker.last,
                    ticker.close,
                    ticker.bidSize,
                    ticker.askSize,
                )
            ),
            ticker.updateEvent,
        )
        ticks = {
            "bid": ticker.bid,
            "ask": ticker.ask,
            "last": ticker.last,
            "close": ticker.close,
            "bidSize": ticker.bidSize,
            "askSize": ticker.askSize,
        }
        ib.cancelMktData(contract)
        trade = ib.placeOrder(contract, MarketOrder("BUY", QUANTITY, orderRef=ORDER_REF))
        await until(trade.isDone, trade.statusEvent)
        await until(
            lambda: bool(trade.fills) and trade.fills[-1].commissionReport.execId != "",
            trade.commissionReportEvent,
        )
        (completed,) = await ib.reqCompletedOrdersAsync(apiOnly=True)
        positions = await ib.reqPositionsAsync()
        summary = {v.tag: v.value for v in await ib.accountSummaryAsync()}
        executions = await ib.reqExecutionsAsync()
        return {
            "server_version": ib.client.serverVersion(),
            "details": {
                "conId": contract.conId,
                "longName": details.longName,
                "minTick": details.minTick,
                "primaryExchange": contract.primaryExchange,
                "timeZoneId": details.timeZoneId,
            },
            "bars": [
                {
                    "date": f"{bar.date:%Y%m%d}",
                    "open": bar.open,
                    "high": bar.high,
                    "low": bar.low,
                    "close": bar.close,
                    "volume": bar.volume,
                }
                for bar in bars
            ],
            "ticks": ticks,
            "order": {
                "status": trade.orderStatus.status,
                "filled": trade.orderStatus.filled,
                "avgFillPrice": trade.orderStatus.avgFillPrice,
                "permId": trade.orderStatus.permId,
            },
            "open_order": order_fields(trade.order),
            "completed": {**order_fields(completed.order), "status": completed.orderStatus.status},
            "fills": [execution_fields(fill.execution) for fill in trade.fills],
            "commissions": {
                f.commissionReport.execId: f.commissionReport.commission for f in trade.fills
            },
            "executions": [execution_fields(fill.execution) for fill in executions],
            "positions": [
                {"conId": p.contract.conId, "position": p.position, "avgCost": p.avgCost}
                for p in positions
            ],
            "summary": {tag: float(summary[tag]) for tag in SUMMARY_TAGS},
            "errors": errors,
        }
    finally:
        ib.disconnect()


def main() -> None:
    port, client_id = int(sys.argv[1]), int(sys.argv[2])
    result = asyncio.run(scenario(port, client_id))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
