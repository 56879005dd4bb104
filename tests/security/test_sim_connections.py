"""Connections cannot exhaust the simulated gateway: a connection limit, an inbound memory budget,
and a deadline for a started frame to arrive whole."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from structlog.testing import capture_logs

from ibbot.sim.wire import MAX_FRAME_LENGTH
from tests.integration.sim_support import WAIT, RawClient, connected, running_gateway

# A frame header announcing the largest frame the gateway accepts, then most of its body.
_HUGE_HEADER = struct.pack(">I", MAX_FRAME_LENGTH)
_HUGE_PART = b"x" * (MAX_FRAME_LENGTH - 4096)
BUDGET = 16 << 20  # the gateway's default inbound budget


async def _stall_with_a_huge_partial_frame(port: int, client_id: int) -> RawClient:
    raw = await RawClient.open(port)
    await raw.handshake(client_id=client_id)
    await raw.frame_with_id(9)
    raw.writer.write(_HUGE_HEADER + _HUGE_PART)
    with contextlib.suppress(ConnectionResetError):  # the gateway may drop it at once
        await raw.writer.drain()
    return raw


async def _wait_closed(raw: RawClient) -> None:
    """Return once the gateway has closed the connection (reset or end of stream)."""
    try:
        while await raw.reader.read(65_536):
            pass
    except ConnectionResetError:
        return


async def test_buffered_partial_frames_stay_within_the_memory_budget() -> None:
    """Twenty-four peers each park ~1 MiB of an unfinished frame: the gateway drops the biggest
    holders to stay within its 16 MiB budget, and a well-behaved client keeps working."""
    with capture_logs() as logs:
        async with running_gateway() as gw, connected(gw) as ib:
            stallers = [await _stall_with_a_huge_partial_frame(gw.port, 100 + i) for i in range(24)]
            needed = len(stallers) - BUDGET // len(_HUGE_PART)  # at least this many must go
            pending = {asyncio.ensure_future(_wait_closed(raw)) for raw in stallers}
            closed = 0
            async with asyncio.timeout(WAIT):
                while closed < needed:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    closed += len(done)
            for task in pending:
                task.cancel()
            assert gw.hub.inbound.total <= BUDGET == gw.config.max_buffered_bytes
            assert await ib.reqCurrentTimeAsync() is not None
            assert 1 in gw.hub.client_ids()
            for raw in stallers:
                raw.writer.transport.abort()
    dropped = [e for e in logs if e["event"] == "sim.session.over_budget"]
    assert len(dropped) >= needed
    assert all(e["client_id"] != 1 for e in dropped)


async def test_a_stalled_partial_frame_is_dropped_after_the_frame_timeout() -> None:
    """A peer that sends part of a frame and stalls, or trickles it a byte at a time, is closed;
    an idle peer with no frame started stays connected."""
    with capture_logs() as logs:
        async with running_gateway(frame_timeout=0.5) as gw, connected(gw) as ib:
            idle = await RawClient.open(gw.port)
            await idle.handshake(client_id=5)
            await idle.frame_with_id(9)

            stalled = await RawClient.open(gw.port)
            await stalled.handshake(client_id=6)
            await stalled.frame_with_id(9)
            stalled.writer.write(struct.pack(">I", 100) + b"49\0")
            async with asyncio.timeout(WAIT):
                await _wait_closed(stalled)

            trickler = await RawClient.open(gw.port)
            await trickler.handshake(client_id=7)
            await trickler.frame_with_id(9)
            trickler.writer.write(struct.pack(">I", 1_000))
            closed = asyncio.ensure_future(_wait_closed(trickler))
            async with asyncio.timeout(WAIT):
                while not closed.done():  # the attacker's pace: a byte every 50 ms
                    trickler.writer.write(b"x")
                    await asyncio.wait({closed}, timeout=0.05)
            await closed

            idle.send(["49", "1"])  # reqCurrentTime: still served
            assert (await idle.frame_with_id(49))[0] == "49"
            assert await ib.reqCurrentTimeAsync() is not None
            for raw in (idle, stalled, trickler):
                await raw.close()
            await gw.wait_for_clients(lambda ids: ids == {1})
    timeouts = [e for e in logs if e["event"] == "sim.session.frame_timeout"]
    assert sorted(e["client_id"] for e in timeouts) == [6, 7]


async def test_connections_beyond_ibs_limit_of_32_are_refused() -> None:
    """The 33rd open connection is closed at once with a log line; a freed slot is usable again."""
    with capture_logs() as logs:
        async with running_gateway() as gw, connected(gw) as ib:
            others = [await RawClient.open(gw.port) for _ in range(31)]
            for i, raw in enumerate(others):
                await raw.handshake(client_id=10 + i)
                await raw.frame_with_id(9)
            extra = await RawClient.open(gw.port)
            extra.writer.write(b"API\0" + struct.pack(">I", 9) + b"v157..178")
            assert await extra.closed_by_peer()
            await extra.close()
            assert await ib.reqCurrentTimeAsync() is not None

            await others.pop().close()
            await gw.wait_for_clients(lambda ids: 40 not in ids)
            again = await RawClient.open(gw.port)
            assert (await again.handshake(client_id=99))[0] == "178"
            await again.frame_with_id(9)
            for raw in [*others, again]:
                await raw.close()
    refused = [e for e in logs if e["event"] == "sim.gateway.connection_refused"]
    assert len(refused) == 1
    assert refused[0]["limit"] == 32 == gw.config.max_connections
