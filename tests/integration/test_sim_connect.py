"""Connecting to the simulated gateway: handshake, connect-time sync, client ids, time and ids."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB

from ibbot.errors import ConfigError
from ibbot.sim.wire import SERVER_VERSION
from tests.integration.sim_support import TRADING_START, RawClient, connected, running_gateway


async def test_ib_async_connects_and_synchronises() -> None:
    """An unmodified IB() connects, sees server 178, the account, and completes every startup request."""
    async with running_gateway() as gw, connected(gw) as ib:
        assert ib.isConnected()
        assert ib.client.serverVersion() == SERVER_VERSION
        assert ib.managedAccounts() == ["DU1234567"]
        values = {v.tag: v.value for v in ib.accountValues()}
        assert float(values["NetLiquidation"]) == 1_000_000.0
        assert values["AccountType"] == "INDIVIDUAL"
        assert ib.positions() == []
        assert ib.openTrades() == []
        assert gw.truth()["clients"] == [1]


async def test_connect_time_notices_arrive_after_the_ids() -> None:
    """managedAccounts, nextValidId (3 fields each), then farm notices 2104/2106/2158 with reqId -1."""
    async with running_gateway() as gw:
        raw = await RawClient.open(gw.port)
        version, _ = await raw.handshake(client_id=9)
        assert version == str(SERVER_VERSION)
        frames = [await raw.next_frame() for _ in range(5)]
        assert frames[0] == ["15", "1", "DU1234567"]
        assert frames[1] == ["9", "1", "1"]
        assert [(f[0], f[2], f[3]) for f in frames[2:]] == [
            ("4", "-1", "2104"),
            ("4", "-1", "2106"),
            ("4", "-1", "2158"),
        ]
        assert all(len(f) == 6 for f in frames[2:])
        await raw.close()


async def test_client_id_zero_and_two_clients_at_once() -> None:
    """Client 0 (auto-binding) and client 7 are connected simultaneously with distinct ids."""
    async with (
        running_gateway() as gw,
        connected(gw, client_id=0) as zero,
        connected(gw, 7) as seven,
    ):
        assert zero.isConnected()
        assert seven.isConnected()
        assert gw.truth()["clients"] == [0, 7]
        first, second = await asyncio.gather(
            zero.reqCurrentTimeAsync(), seven.reqCurrentTimeAsync()
        )
        assert abs((first - TRADING_START).total_seconds()) < 600
        assert first <= second


async def test_duplicate_client_id_gets_326_and_is_closed() -> None:
    """A second connection with a client id in use gets error 326 and the socket is closed."""
    async with running_gateway() as gw, connected(gw, client_id=5) as first:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=5)
        error = await raw.frame_with_id(4)
        assert error[2:4] == ["-1", "326"]
        assert "client id is already in use" in error[4]
        assert await raw.closed_by_peer()
        await raw.close()

        second = IB()
        errors: list[int] = []
        second.errorEvent += lambda _req, code, *_: errors.append(code)
        with pytest.raises(TimeoutError):
            await second.connectAsync("127.0.0.1", gw.port, clientId=5, timeout=0.5)
        assert errors == [326]
        assert first.isConnected()
        assert gw.truth()["clients"] == [5]


async def test_client_id_is_free_again_after_disconnect() -> None:
    """Once a client disconnects its id can be used by the next connection."""
    async with running_gateway() as gw:
        async with connected(gw, client_id=3):
            pass
        await gw.wait_for_clients(lambda ids: 3 not in ids)
        async with connected(gw, client_id=3) as again:
            assert again.isConnected()


async def test_version_outside_the_client_range_is_refused() -> None:
    """A client announcing v100..150 (no 178) is disconnected without a version reply."""
    async with running_gateway() as gw:
        raw = await RawClient.open(gw.port)
        raw.writer.write(b"API\0\0\0\0\tv100..150")
        assert await raw.closed_by_peer()
        await raw.close()


async def test_current_time_and_next_ids() -> None:
    """reqCurrentTime answers the simulated clock; reqIds answers the next unused order id."""
    async with running_gateway() as gw, connected(gw) as ib:
        now = await ib.reqCurrentTimeAsync()
        assert abs((now - gw.clock.now()).total_seconds()) < 120
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=2)
        raw.send(["8", "1", "1"])
        for _ in range(2):  # the login nextValidId, then the answer to reqIds
            frame = await raw.frame_with_id(9)
        assert frame == ["9", "1", "1"]
        await raw.close()


async def test_managed_accounts_request() -> None:
    """reqManagedAccts answers the one simulated account."""
    async with running_gateway(account="DU7654321") as gw:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=2)
        await raw.frame_with_id(15)
        raw.send(["17", "1"])
        assert await raw.frame_with_id(15) == ["15", "1", "DU7654321"]
        await raw.close()


async def test_ports_in_use_are_configuration_errors() -> None:
    """Starting on a port that is taken raises ConfigError naming the port setting."""
    async with running_gateway() as gw:
        with pytest.raises(ConfigError) as info:
            async with running_gateway(port=gw.port):
                pass
        assert info.value.key == "sim.port"
        assert gw.control_port is not None
        with pytest.raises(ConfigError) as info:
            async with running_gateway(control_port=gw.control_port):
                pass
        assert info.value.key == "sim.control_port"


async def test_localhost_binds_one_ephemeral_port() -> None:
    """host=localhost serves API and control on one IPv4 loopback port each."""
    async with running_gateway(host="localhost") as gw, connected(gw) as ib:
        assert ib.isConnected()
        assert gw.control_host == "127.0.0.1"
