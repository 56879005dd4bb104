"""One scenario every TWS client runs against the sim, and the check of what it decoded.

Each client (ib_async in-process, ibapi on its own threads, ib_insync 0.9.86 in a subprocess with
an environment of its own) connects,
asks for MSFT's contract details, five daily bars of a past week, streaming ticks, buys 10 shares at
market (openOrder, orderStatus, execDetails, commissionReport), then its positions, the account
summary and the day's executions, and reports what it decoded as a :class:`Decoded` dict.
:func:`check_decoded` compares that with what the gateway itself holds: the contract book, the
market's bars and quotes, the exchange's executions, positions and cash.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
from asyncio.subprocess import DEVNULL, PIPE
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ib_async import IB, MarketOrder, Stock

from ibbot.models.market import BarSize
from ibbot.sim.ibtime import format_session_date
from tests.integration.sim_support import until

if TYPE_CHECKING:
    from ibbot.sim.gateway import SimulatedGateway

SYMBOL = "MSFT"
QUANTITY = 10
ORDER_REF = "compat:1"
# Friday 27 February 2026 at the close: five completed daily bars before it, whatever the clock says.
BARS_END_TEXT = "20260227 16:00:00 US/Eastern"
BARS_END = datetime(2026, 2, 27, 21, 0, tzinfo=UTC)
BARS_DURATION = "5 D"
SUMMARY_TAGS = "NetLiquidation,TotalCashValue,BuyingPower"

Decoded = dict[str, Any]
"""What a client decoded, JSON-ready (see the keys :func:`check_decoded` reads)."""


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def check_decoded(decoded: Decoded, gateway: SimulatedGateway, *, version: int) -> None:
    """Assert every value ``decoded`` holds is what the gateway holds, at the negotiated ``version``."""
    assert decoded["server_version"] == version

    security = gateway.hub.contracts.by_symbol(SYMBOL)
    assert security is not None
    details = decoded["details"]
    assert details["conId"] == security.con_id
    assert details["longName"] == security.long_name
    assert _close(details["minTick"], security.min_tick)
    assert details["primaryExchange"] == security.primary_exchange
    assert details["timeZoneId"] == security.time_zone

    bars = gateway.hub.market.historical_bars(
        SYMBOL, end=BARS_END, duration=BARS_DURATION, bar_size=BarSize.DAY_1, use_rth=True
    )
    assert len(decoded["bars"]) == len(bars) == 5
    for got, want in zip(decoded["bars"], bars, strict=True):
        assert got["date"] == format_session_date(want.time)
        assert [got["open"], got["high"], got["low"], got["close"]] == [
            want.open,
            want.high,
            want.low,
            want.close,
        ]
        assert got["volume"] == want.volume

    ticks = decoded["ticks"]
    quote = gateway.hub.market.quote(SYMBOL, gateway.clock.now())
    assert _close(ticks["close"], quote.close), (
        ticks,
        quote,
        gateway.clock.now(),
    )  # the previous session's close: fixed all day
    assert 0 < ticks["bid"] < ticks["ask"]
    assert ticks["bidSize"] > 0
    assert ticks["askSize"] > 0
    assert ticks["last"] > 0

    truth = gateway.truth()["exchange"]
    (execution,) = truth["executions"]
    order = decoded["order"]
    assert order["status"] == "Filled"
    assert order["filled"] == QUANTITY
    assert _close(order["avgFillPrice"], execution["price"])
    assert order["permId"] == execution["perm_id"]
    assert decoded["open_order"] == {
        "permId": execution["perm_id"],
        "action": "BUY",
        "totalQuantity": QUANTITY,
        "orderType": "MKT",
        "orderRef": ORDER_REF,
    }
    expected_fill = {
        "execId": execution["exec_id"],
        "permId": execution["perm_id"],
        "side": "BOT",
        "shares": QUANTITY,
        "price": execution["price"],
        "cumQty": QUANTITY,
        "avgPrice": execution["avg_price"],
        "orderRef": ORDER_REF,
    }
    assert decoded["completed"] == {**decoded["open_order"], "status": "Filled"}
    assert decoded["fills"] == [expected_fill]
    assert decoded["commissions"] == {execution["exec_id"]: execution["commission"]}
    assert decoded["executions"] == [expected_fill]

    (position,) = truth["positions"]
    assert decoded["positions"] == [
        {
            "conId": security.con_id,
            "position": position["quantity"],
            "avgCost": position["avg_cost"],
        }
    ]
    summary = decoded["summary"]
    assert summary["TotalCashValue"] == round(truth["cash"], 2)  # IB writes money to the cent
    assert summary["NetLiquidation"] > 0
    assert summary["BuyingPower"] > 0
    assert not decoded["errors"], decoded["errors"]


# The data-farm notices every session gets at login: not errors.
FARM_NOTICES = frozenset({2104, 2106, 2158})


async def run_ib_async(ib: IB) -> Decoded:
    """The scenario on a connected ib_async client (ib_insync's API is the same: see tests/compat)."""
    errors: list[list[Any]] = []

    def on_error(req_id: int, code: int, text: str, _contract: object) -> None:
        if code not in FARM_NOTICES:
            errors.append([req_id, code, text])

    ib.errorEvent += on_error
    (details,) = await ib.reqContractDetailsAsync(Stock(SYMBOL, "SMART", "USD"))
    contract = details.contract
    assert contract is not None
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
        "open_order": _order_fields(trade.order),
        "completed": {**_order_fields(completed.order), "status": completed.orderStatus.status},
        "fills": [_execution_fields(fill.execution) for fill in trade.fills],
        "commissions": {
            f.commissionReport.execId: f.commissionReport.commission for f in trade.fills
        },
        "executions": [_execution_fields(fill.execution) for fill in executions],
        "positions": [
            {"conId": p.contract.conId, "position": p.position, "avgCost": p.avgCost}
            for p in positions
        ],
        "summary": {tag: float(summary[tag]) for tag in SUMMARY_TAGS.split(",")},
        "errors": errors,
    }


def _order_fields(order: Any) -> dict[str, Any]:
    return {
        "permId": order.permId,
        "action": order.action,
        "totalQuantity": order.totalQuantity,
        "orderType": order.orderType,
        "orderRef": order.orderRef,
    }


def _execution_fields(execution: Any) -> dict[str, Any]:
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


# ib_insync 0.9.86 lives in an environment of its own (see tests/compat/ib_insync/pyproject.toml).
COMPAT_DIR = Path(__file__).resolve().parents[1] / "compat"
INSYNC_PROJECT = COMPAT_DIR / "ib_insync"
INSYNC_SCENARIO = COMPAT_DIR / "insync_scenario.py"
# Building the environment the first time (from uv's cache) takes seconds; afterwards it is a check.
SYNC_TIMEOUT = 45.0
SCENARIO_TIMEOUT = 40.0


async def _run(*args: str, seconds: float) -> tuple[int, str, str]:
    """Run a command without blocking the loop, killed after ``seconds``; exit code, out, err."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    process = await asyncio.create_subprocess_exec(
        *args, stdout=PIPE, stderr=PIPE, stdin=DEVNULL, env=env
    )
    try:
        async with asyncio.timeout(seconds):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def insync_python() -> Path:
    """The interpreter of ib_insync's environment, synced first (uv makes it if it is missing)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build ib_insync's environment (run the tests with `uv run pytest`)"
    code, _, err = await _run(
        uv, "sync", "--quiet", "--project", str(INSYNC_PROJECT), seconds=SYNC_TIMEOUT
    )
    assert code == 0, f"uv sync --project {INSYNC_PROJECT} failed: {err[-2000:]}"
    python = INSYNC_PROJECT / ".venv" / "bin" / "python"
    assert python.exists(), f"{python} is missing after uv sync"
    return python


async def run_ib_insync(port: int, client_id: int) -> Decoded:
    """The scenario on ib_insync 0.9.86, in its own process and environment."""
    python = await insync_python()
    code, out, err = await _run(
        str(python), str(INSYNC_SCENARIO), str(port), str(client_id), seconds=SCENARIO_TIMEOUT
    )
    assert code == 0, f"ib_insync scenario failed ({code}): {err[-3000:]}"
    decoded: Decoded = json.loads(out.strip().splitlines()[-1])
    return decoded
