"""Version negotiation: the sim answers the highest version both sides speak and talks at it.

A client's offered range is set the way each client lets one set it: ib_async's documented
``MinClientVersion`` / ``MaxClientVersion`` attributes, or a raw socket's ``v<min>..<max>``.
"""

from __future__ import annotations

import logging

import pytest
from ib_async import IB, LimitOrder, Stock

from ibbot.sim.protocol import ErrorCode, error_text
from tests.integration.compat_support import check_decoded, run_ib_async
from tests.integration.sim_support import WAIT, RawClient, connected, running_gateway, until


@pytest.mark.parametrize("version", [157, 163, 166, 176, 178])
async def test_ib_async_pinned_to_a_version_decodes_the_truth(version: int) -> None:
    """ib_async offering v157..N talks at N: every message it decodes holds the sim's values."""
    async with running_gateway() as gw:
        ib = IB()
        ib.client.MaxClientVersion = version
        ib.RaiseRequestErrors = True
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=WAIT, raiseSyncErrors=True)
        try:
            session = gw.hub.session_for(1)
            assert session is not None
            assert session.server_version == version
            check_decoded(await run_ib_async(ib), gw, version=version)
        finally:
            ib.disconnect()


@pytest.mark.parametrize("version", [168, 169])
async def test_cancel_order_is_read_at_the_negotiated_version(version: int) -> None:
    """cancelOrder carries manualOrderCancelTime from 169 only; the sim reads both layouts."""
    async with running_gateway() as gw:
        ib = IB()
        ib.client.MaxClientVersion = version
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=WAIT)
        try:
            trade = ib.placeOrder(
                Stock("AAPL", "SMART", "USD", conId=265598), LimitOrder("BUY", 5, 1.0)
            )
            await until(lambda: trade.orderStatus.status == "Submitted", trade.statusEvent)
            ib.cancelOrder(trade.order)
            await until(lambda: trade.orderStatus.status == "Cancelled", trade.statusEvent)
            assert gw.truth()["exchange"]["open_orders"] == []
        finally:
            ib.disconnect()


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        (b"v157..157", 157),
        (b"v157..176", 176),
        (b"v100..226", 178),
        (b"v170", 170),
        (b"v178..300 +PACEAPI", 178),
    ],
)
async def test_the_answer_is_the_highest_common_version(offer: bytes, answer: int) -> None:
    """Any range overlapping 157..178 is accepted and answered with the highest common version."""
    async with running_gateway() as gw:
        raw = await RawClient.open(gw.port)
        try:
            reply = await raw.handshake(7, offer)
            assert reply[0] == str(answer)
            assert len(reply) == 2
            error = await raw.frame_with_id(4)  # the first farm notice, at the negotiated layout
            assert error[3] == "2104"
            assert len(error) == (6 if answer >= 166 else 5)
        finally:
            await raw.close()


@pytest.mark.parametrize(
    ("offer", "answer", "code"),
    [
        (b"v179..226", 178, ErrorCode.UPDATE_TWS),
        (b"v100..156", 157, ErrorCode.UNSUPPORTED_VERSION),
    ],
)
async def test_a_range_without_overlap_is_refused_as_ib_clients_expect(
    offer: bytes, answer: int, code: ErrorCode
) -> None:
    """No common version: the nearest version is announced, then IB's error, then the socket closes."""
    async with running_gateway() as gw:
        raw = await RawClient.open(gw.port)
        try:
            raw.writer.write(b"API\0" + len(offer).to_bytes(4, "big") + offer)
            version, _connection_time = await raw.next_frame()
            assert version == str(answer)
            error = await raw.next_frame()
            assert error[:5] == ["4", "2", "-1", str(int(code)), error_text(code)]
            assert await raw.closed_by_peer()
            assert gw.hub.client_ids() == set()
        finally:
            await raw.close()


async def test_ib_async_refuses_a_gateway_older_than_its_range(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ib_async requiring 179+ gets 178 and, as against an old IB Gateway, never starts its API."""
    caplog.set_level(logging.ERROR, logger="ib_async.client")
    async with running_gateway() as gw:
        ib = IB()
        ib.client.MinClientVersion = 179
        ib.client.MaxClientVersion = 200
        # ib_async logs "TWS/gateway version must be >= 972" and its connect then fails or times out
        with pytest.raises((ConnectionError, TimeoutError)):
            await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=2)
        assert not ib.isConnected()
        assert gw.hub.client_ids() == set()
    # its own verdict on the version the gateway announced (a gateway that closed unanswered gets none)
    assert "TWS/gateway version must be >= 972" in caplog.messages


async def test_later_clients_keep_their_own_versions() -> None:
    """Two clients at different versions on one gateway: each is answered at its own."""
    async with running_gateway() as gw:
        old = IB()
        old.client.MaxClientVersion = 160
        await old.connectAsync("127.0.0.1", gw.port, clientId=2, timeout=WAIT)
        try:
            async with connected(gw, client_id=3) as new:
                assert (old.client.serverVersion(), new.client.serverVersion()) == (160, 178)
                sessions = [gw.hub.session_for(2), gw.hub.session_for(3)]
                assert [s.server_version for s in sessions if s is not None] == [160, 178]
        finally:
            old.disconnect()
