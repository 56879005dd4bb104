"""The simulator's control interface refuses every number that is not finite, typed and in range."""

from __future__ import annotations

import asyncio
import math

import pytest
from ib_async import LimitOrder, Stock

from tests.integration.sim_support import WAIT, connected, control, running_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)


async def _raw_post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: sim\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    async with asyncio.timeout(WAIT):
        response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


async def test_an_infinite_fill_price_is_refused_and_the_account_stays_finite() -> None:
    """/fill with price Infinity, NaN, huge, negative or a string gets a 400; the order stays open
    and cash finite; a sane price then fills it."""
    async with running_gateway() as gw, connected(gw) as ib:
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 1.0))
        await until(lambda: trade.orderStatus.status == "Submitted", trade.statusEvent)
        order = {"client_id": 1, "order_id": trade.order.orderId}
        for price in (math.inf, -math.inf, math.nan, 1e308, 0, -5.0, "100", True):
            status, body = await control(gw, "POST", "/fill", {**order, "price": price})
            assert status == 400, (price, body)
            assert "price" in body["error"] or "JSON" in body["error"], body
        assert trade.orderStatus.status == "Submitted"
        exchange = gw.truth()["exchange"]
        assert exchange["cash"] == 1_000_000.0
        assert all(math.isfinite(v) for v in exchange["account_values"].values())
        with pytest.raises(ValueError, match="finite"):
            gw.fill_order(1, trade.order.orderId, math.inf)
        status, body = await control(gw, "POST", "/fill", {**order, "price": 1.0})
        assert status == 200, body
        await until(lambda: trade.orderStatus.status == "Filled", trade.statusEvent)
        values = gw.truth()["exchange"]["account_values"]
        assert all(math.isfinite(v) for v in values.values())


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/restart", b'{"seconds": NaN}', "NaN"),
        ("/restart", b'{"seconds": Infinity}', "Infinity"),
        ("/restart", b'{"seconds": "5"}', "seconds"),
        ("/restart", b'{"seconds": true}', "seconds"),
        ("/delay", b'{"ms": -Infinity}', "-Infinity"),
        ("/delay", b'{"ms": "250"}', "ms"),
        ("/pacing", b'{"count": 1.5}', "count"),
        ("/pacing", b'{"count": "3"}', "count"),
        ("/notice", b'{"code": 100000000000000000000}', "code"),
        ("/reject", b'{"count": 1, "code": -201}', "code"),
        ("/reject", b'{"count": 1, "code": 1e3}', "code"),
        ("/fill", b'{"client_id": 1, "order_id": 1, "price": Infinity}', "Infinity"),
        ("/fill", b'{"client_id": 4294967296, "order_id": 1}', "client_id"),
        ("/fill", b'{"client_id": 1, "order_id": 0}', "order_id"),
        ("/fill", b'{"client_id": 1, "order_id": ' + b"9" * 5000 + b"}", "JSON"),
        ("/no-data", b'{"symbols": ["MSFT"], "release": 1}', "release"),
        ("/price", b'{"symbol": "AAPL", "price": Infinity}', "Infinity"),
        ("/price", b'{"symbol": "AAPL", "price": -5}', "price"),
        ("/price", b'{"symbol": "AAPL", "price": "90"}', "price"),
        ("/price", b'{"symbol": "AAPL"}', "price"),
        ("/price", b'{"symbol": "aapl\\u0000", "price": 90}', "symbol"),
        ("/price", b'{"symbol": "NOPE", "price": 90}', "unknown symbol"),
        ("/pacing", b"[" * 60_000, "nested too deeply"),
    ],
)
async def test_every_numeric_input_is_validated(path: str, body: bytes, said: str) -> None:
    """Non-finite, non-numeric, fractional or out-of-range values get a 400 naming the problem
    and change nothing."""
    async with running_gateway() as gw:
        before = gw.truth()
        assert gw.control_port is not None
        status, payload = await _raw_post(gw.control_port, path, body)
        assert status == 400, payload
        assert said.encode() in payload, payload
        after = gw.truth()
        assert after["faults"] == before["faults"]
        assert after["refusing_connections"] is False
