"""The control interface: every command over real HTTP on the loopback control port."""

from __future__ import annotations

import asyncio

from ib_async import IB, LimitOrder, Stock

from tests.integration.sim_support import connected, control, running_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)


async def test_command_list_and_truth() -> None:
    """GET / lists the commands; GET /truth reports clients, faults and the exchange's books."""
    async with running_gateway() as gw, connected(gw, 4):
        status, listing = await control(gw, "GET", "/")
        assert status == 200
        assert set(listing["commands"]) == {
            "/truth",
            "/drop",
            "/restart",
            "/notice",
            "/pacing",
            "/strict-pacing",
            "/reject",
            "/withhold",
            "/no-data",
            "/no-subscription",
            "/delay",
            "/fill",
            "/price",
            "/clear",
        }
        assert listing["commands"]["/restart"]["body"] == {
            "seconds": "how long connections are refused"
        }
        status, truth = await control(gw, "GET", "/truth")
        assert status == 200
        assert truth["clients"] == [4]
        assert truth["exchange"]["cash"] == 1_000_000.0
        assert truth["account"] == "DU1234567"


async def test_fault_commands_over_http() -> None:
    """pacing, reject, withhold, delay, notice and clear change the gateway as documented."""
    async with running_gateway() as gw, connected(gw) as ib:
        assert await control(gw, "POST", "/pacing", {"count": 2}) == (
            200,
            {"forced_pacing_violations": 2},
        )
        assert (await control(gw, "POST", "/reject", {"count": 1}))[0] == 200
        status, body = await control(gw, "POST", "/withhold", {"messages": ["openOrderEnd"]})
        assert (status, body) == (200, {"withheld": ["openOrderEnd"]})
        assert (await control(gw, "POST", "/delay", {"ms": 5}))[0] == 200
        status, body = await control(gw, "POST", "/no-data", {"symbols": ["msft", "KO"]})
        assert (status, body) == (200, {"no_data": ["KO", "MSFT"]})
        status, body = await control(gw, "POST", "/no-data", {"symbols": ["KO"], "release": True})
        assert (status, body) == (200, {"no_data": ["MSFT"]})
        status, body = await control(gw, "POST", "/no-subscription", {"symbols": ["ko", "JNJ"]})
        assert (status, body) == (200, {"no_subscription": ["JNJ", "KO"]})
        body = {"symbols": ["JNJ"], "release": True}
        status, body = await control(gw, "POST", "/no-subscription", body)
        assert (status, body) == (200, {"no_subscription": ["KO"]})
        status, body = await control(gw, "POST", "/price", {"symbol": "KO", "price": 61.5})
        assert (status, body) == (200, {"executions": [], "price": 61.5, "symbol": "KO"})
        truth = gw.truth()
        assert truth["faults"] == {
            "withheld": ["openOrderEnd"],
            "reply_delay_ms": 5.0,
            "forced_pacing_violations": 2,
            "no_data": ["MSFT"],
            "no_subscription": ["KO"],
            "pinned_prices": {"KO": 61.5},
        }
        assert truth["exchange"]["pending_rejections"] == 1
        seen: list[int] = []
        ib.errorEvent += lambda _r, code, *_: seen.append(code)
        assert await control(gw, "POST", "/notice", {"code": 1100}) == (
            200,
            {"clients": 1, "code": 1100},
        )
        await until(lambda: 1100 in seen, ib.errorEvent)
        assert await control(gw, "POST", "/clear") == (200, {"cleared": True})
        assert gw.truth()["faults"]["withheld"] == []
        assert gw.truth()["faults"]["no_data"] == []
        assert gw.truth()["faults"]["no_subscription"] == []
        assert gw.truth()["faults"]["pinned_prices"] == {}
        assert gw.truth()["exchange"]["pending_rejections"] == 0


async def test_drop_restart_and_fill_over_http() -> None:
    """drop closes sockets; fill fills an absent client's order; restart refuses, then reopens."""
    async with running_gateway() as gw:
        async with connected(gw, 2) as ib:
            trade = ib.placeOrder(AAPL, LimitOrder("BUY", 3, 50.0))
            await until(lambda: trade.orderStatus.status == "Submitted", trade.statusEvent)
            dropped = asyncio.Event()
            ib.disconnectedEvent += dropped.set
            assert await control(gw, "POST", "/drop") == (200, {"dropped": 1})
            async with asyncio.timeout(5):
                await dropped.wait()
        status, body = await control(
            gw, "POST", "/fill", {"client_id": 2, "order_id": trade.order.orderId}
        )
        assert status == 200
        assert body["client_connected"] is False
        assert body["executions"][0]["quantity"] == 3
        status, body = await control(gw, "POST", "/restart", {"seconds": 0.2})
        assert (status, body["refusing_for"]) == (200, 0.2)
        async with asyncio.timeout(5):
            await gw.wait_until_accepting()
        again = IB()
        await again.connectAsync("127.0.0.1", gw.port, clientId=2, timeout=5)
        assert [p.position for p in again.positions()] == [3]
        again.disconnect()


async def test_bad_requests_get_clear_errors() -> None:
    """Unknown paths 404, wrong methods 405, bad bodies and bad values 400, each with a message."""
    async with running_gateway() as gw:
        status, body = await control(gw, "GET", "/nope")
        assert status == 404
        assert "GET / lists them" in body["error"]
        assert (await control(gw, "GET", "/drop"))[0] == 405
        assert (await control(gw, "POST", "/"))[0] == 405
        status, body = await control(gw, "POST", "/pacing", {"count": -1})
        assert status == 400
        assert "count" in body["error"]
        status, body = await control(gw, "POST", "/delay", {"ms": 1, "extra": True})
        assert status == 400
        assert "extra" in body["error"]
        status, body = await control(gw, "POST", "/notice", {"code": 200})
        assert (status, "not a system notice" in body["error"]) == (400, True)
        status, body = await control(gw, "POST", "/fill", {"client_id": 1, "order_id": 99})
        assert (status, "no open order" in body["error"]) == (400, True)
        status, body = await control(gw, "POST", "/withhold", {"messages": ["nope"]})
        assert status == 400
        status, body = await control(gw, "POST", "/no-data", {"symbols": ["NOPE"]})
        assert (status, "unknown symbol(s) NOPE" in body["error"]) == (400, True)
        status, body = await control(gw, "POST", "/no-data", {})
        assert (status, "name the symbols" in body["error"]) == (400, True)
        assert '"release": true' in body["error"]
        status, body = await control(gw, "POST", "/no-data", {"symbols": "MSFT"})
        assert (status, "symbols: Input should be a valid list" in body["error"]) == (400, True)
        status, body = await control(gw, "POST", "/no-data", {"symbols": ["MSFT", ""]})
        assert (status, "blank" in body["error"]) == (400, True)
        assert gw.truth()["faults"]["no_data"] == []
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.control_port)
        writer.write(b"POST /pacing HTTP/1.1\r\nContent-Length: 5\r\n\r\n{oops")
        async with asyncio.timeout(5):
            raw = await reader.read()
        assert raw.startswith(b"HTTP/1.1 400")
        assert b"not JSON" in raw
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.control_port)
        writer.write(b"garbage\r\n\r\n")
        async with asyncio.timeout(5):
            raw = await reader.read()
        assert raw.startswith(b"HTTP/1.1 400")
        writer.close()
