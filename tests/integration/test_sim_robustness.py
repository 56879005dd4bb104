"""Bad input never crashes the gateway or disturbs other clients: the offender alone is closed."""

from __future__ import annotations

import asyncio
import random
import struct
from typing import TYPE_CHECKING

from ib_async import IB, LimitOrder, MarketOrder, Stock
from structlog.testing import capture_logs

from tests.integration.sim_support import RawClient, connected, running_gateway, until
from tests.unit.tws_clients import CapturingClient

if TYPE_CHECKING:
    from ibbot.sim.gateway import SimulatedGateway

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)


async def _assert_healthy(gw: SimulatedGateway, ib: IB) -> None:
    """The well-behaved client still gets answers."""
    details = await ib.reqContractDetailsAsync(AAPL)
    assert details[0].contract is not None
    assert ib.isConnected()
    assert 1 in gw.hub.client_ids()


async def _expect_closed(raw: RawClient) -> None:
    assert await raw.closed_by_peer()
    await raw.close()


async def test_each_kind_of_bad_input_closes_only_its_connection() -> None:
    """Garbage prefix, oversized length, unknown id, truncated request, bad UTF-8, bad handshake."""
    with capture_logs() as logs:
        async with running_gateway() as gw, connected(gw) as ib:
            raw = await RawClient.open(gw.port)
            raw.writer.write(b"GET / HTTP/1.1\r\n\r\n")
            await _expect_closed(raw)

            raw = await RawClient.open(gw.port)
            raw.writer.write(b"API\0" + struct.pack(">I", 5) + b"hello")
            await _expect_closed(raw)

            raw = await RawClient.open(gw.port)
            await raw.handshake(client_id=11)
            raw.writer.write(struct.pack(">I", 0x7FFFFFFF) + b"x")
            await _expect_closed(raw)

            raw = await RawClient.open(gw.port)
            await raw.handshake(client_id=12)
            raw.send(["999", "1"])
            await _expect_closed(raw)

            raw = await RawClient.open(gw.port)
            await raw.handshake(client_id=13)
            raw.send(["9", "8", "77"])  # reqContractDetails cut after the request id
            await _expect_closed(raw)

            raw = await RawClient.open(gw.port)
            await raw.handshake(client_id=14)
            raw.writer.write(struct.pack(">I", 3) + b"\xff\xfe\x00")
            await _expect_closed(raw)

            raw = await RawClient.open(gw.port)
            raw.writer.write(b"API\0" + struct.pack(">I", 9) + b"v157..178")
            assert (await raw.next_frame())[0] == "178"
            raw.send(["49", "1"])  # a request before startApi
            await _expect_closed(raw)

            await _assert_healthy(gw, ib)
            await gw.wait_for_clients(lambda ids: ids == {1})
    reasons = [
        e for e in logs if e["event"] in ("sim.session.malformed", "sim.session.bad_handshake")
    ]
    assert len(reasons) == 7
    assert not [e for e in logs if e["event"] == "sim.session.internal_error"]


async def test_client_vanishing_mid_message_frees_its_client_id() -> None:
    """A client that dies halfway through a frame is cleaned up; its id can be reused."""
    async with running_gateway() as gw, connected(gw) as ib:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=21)
        await raw.frame_with_id(9)
        raw.writer.write(struct.pack(">I", 200) + b"20\x001\x00")
        raw.writer.transport.abort()
        await gw.wait_for_clients(lambda ids: 21 not in ids)
        async with connected(gw, client_id=21) as again:
            assert again.isConnected()
        await _assert_healthy(gw, ib)


def _valid_requests() -> list[list[str]]:
    """Real requests as ib_async writes them, to mutate."""
    client = CapturingClient()
    client.reqContractDetails(1, AAPL)
    client.reqHistoricalData(2, AAPL, "", "1 D", "1 hour", "TRADES", True, 1, False, [])
    client.reqMktData(3, AAPL, "", False, False, [])
    client.placeOrder(4, AAPL, LimitOrder("BUY", 1, 1.0))
    client.placeOrder(5, AAPL, MarketOrder("SELL", 2))
    client.reqRealTimeBars(6, AAPL, 5, "TRADES", True, [])
    client.reqFundamentalData(7, AAPL, "ReportSnapshot", [])
    client.reqExecutions(8, __import__("ib_async").ExecutionFilter())
    client.reqAccountSummary(9, "All", "NetLiquidation")
    client.cancelOrder(4)
    client.cancelMktData(3)
    client.reqCurrentTime()
    return client.sent


_ODD_VALUES = [
    "",
    "-1",
    "0",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999",
    "\u00e9",
    "x" * 300,
]


def _mutate(fields: list[str], rng: random.Random) -> list[str]:
    out = list(fields)
    for _ in range(rng.randint(1, 4)):
        if not out:
            out = ["0"]
        choice = rng.random()
        position = rng.randrange(1, len(out)) if len(out) > 1 else 0
        if choice < 0.4:
            out[position] = rng.choice(_ODD_VALUES)
        elif choice < 0.6:
            del out[position:]
        elif choice < 0.8:
            out.insert(position, rng.choice(_ODD_VALUES))
        else:
            out[position] = str(rng.randint(-5, 200))
    return out or ["0"]


async def _fuzz_connection(
    port: int, client_id: int, rng: random.Random, requests: list[list[str]]
) -> None:
    raw = await RawClient.open(port)
    try:
        mode = rng.random()
        if mode < 0.2:
            raw.writer.write(rng.randbytes(rng.randint(1, 64)))
            return  # garbage, then gone (a partial prefix would be waited for, as TWS does)
        if mode < 0.3:
            raw.writer.write(b"API\0" + rng.randbytes(rng.randint(1, 64)))
            return
        await raw.handshake(client_id=client_id)
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.15:  # a random length prefix: a partial frame the gateway waits on
                raw.writer.write(struct.pack(">I", rng.randint(0, 1 << 24)) + rng.randbytes(8))
                return
            raw.send(_mutate(rng.choice(requests), rng))
        if rng.random() < 0.5:  # vanish without waiting for anything
            return
        raw.send(["49", "1"])  # then wait for the answer (still open) or the close (offended)
        await raw.frame_with_id(49)
    except ConnectionResetError:
        return  # the gateway closed this offender, as it should
    finally:
        raw.writer.transport.abort()


async def test_fuzzed_frames_never_disturb_a_well_behaved_client() -> None:
    """Hundreds of garbled, truncated and random frames: no internal error, ib_async keeps working."""
    rng = random.Random(20260302)
    requests = _valid_requests()
    with capture_logs() as logs:
        # 40 fuzzers at once plus the client: more than IB's 32 connections, so raise the limit
        async with (
            running_gateway(max_messages_per_second=0, max_connections=64) as gw,
            connected(gw) as ib,
        ):
            ticker = ib.reqMktData(AAPL)
            for batch in range(8):
                await asyncio.gather(
                    *(
                        _fuzz_connection(gw.port, 100 + batch * 40 + i, rng, requests)
                        for i in range(40)
                    )
                )
                await _assert_healthy(gw, ib)
            trade = ib.placeOrder(AAPL, MarketOrder("BUY", 1))
            await until(trade.isDone, trade.statusEvent)
            assert trade.orderStatus.status == "Filled"
            seen = ticker.time
            await until(lambda: ticker.time != seen, ticker.updateEvent)
    internal = [e for e in logs if e["event"] == "sim.session.internal_error"]
    assert not internal, internal[:3]
