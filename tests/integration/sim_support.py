"""Helpers for the simulated-gateway integration tests: a running gateway, connected clients, waits.

Every test starts its own gateway on ephemeral loopback ports, with the simulated clock starting on
a Monday at 10:00 US/Eastern (market open) and running 60x faster than the wall clock, and talks to
it with an unmodified ``ib_async.IB`` (or a raw socket, for the protocol-abuse tests).
"""

from __future__ import annotations

import asyncio
import json
import struct
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ib_async import IB

from ibbot.clock import SimulatedClock
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.sim.wire import FrameDecoder, encode_frame, split_fields

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

# Monday 2 March 2026, 10:00 US/Eastern: half an hour into a regular session.
TRADING_START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# Saturday 7 March 2026, 12:00 US/Eastern: the market is closed all day.
WEEKEND_START = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)
WAIT = 5.0


def sim_config(**overrides: Any) -> SimConfig:
    """A test gateway's configuration: ephemeral ports, market open, time 60x faster."""
    values: dict[str, Any] = {
        "port": 0,
        "control_port": 0,
        "start": TRADING_START,
        "time_scale": 60.0,
    }
    values.update(overrides)
    return SimConfig(**values)


@asynccontextmanager
async def running_gateway(**overrides: Any) -> AsyncIterator[SimulatedGateway]:
    """A started gateway, closed on exit."""
    async with SimulatedGateway(sim_config(**overrides)) as gateway:
        yield gateway


@asynccontextmanager
async def connected(
    gateway: SimulatedGateway, client_id: int = 1, **kwargs: Any
) -> AsyncIterator[IB]:
    """An ib_async client connected (and synchronised) to ``gateway``; request errors raise."""
    ib = IB()
    ib.RaiseRequestErrors = True
    options: dict[str, Any] = {"timeout": WAIT, "raiseSyncErrors": True}
    options.update(kwargs)
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id, **options)
    try:
        yield ib
    finally:
        ib.disconnect()


async def until(predicate: Callable[[], bool], event: Any) -> None:
    """Wait on an ib_async event until ``predicate()`` holds (fails the test after WAIT seconds)."""
    async with asyncio.timeout(WAIT):
        while not predicate():
            await event


class RawClient:
    """A bare TWS-protocol socket client, for tests that must send what no library would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = FrameDecoder()
        self._frames: list[list[str]] = []
        self.wait = WAIT  # how long a read may take before the test fails

    @classmethod
    async def open(cls, port: int) -> RawClient:
        """Open a TCP connection to the gateway (no handshake yet)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def handshake(self, client_id: int, versions: bytes = b"v157..178") -> list[str]:
        """Do the version handshake and startApi; return the server's version reply."""
        self.writer.write(b"API\0" + struct.pack(">I", len(versions)) + versions)
        reply = await self.next_frame()
        self.send(["71", "2", str(client_id), ""])
        return reply

    def send(self, fields: list[object]) -> None:
        """Send one framed message."""
        self.writer.write(encode_frame(fields))

    async def next_frame(self) -> list[str]:
        """The next message from the gateway, as text fields (fails after ``wait`` seconds)."""
        async with asyncio.timeout(self.wait):
            while not self._frames:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionResetError("gateway closed the connection")
                self._frames += [split_fields(f) for f in self._decoder.feed(data)]
        return self._frames.pop(0)

    async def frame_with_id(self, msg_id: int) -> list[str]:
        """Skip messages until one with ``msg_id`` arrives (fails after ``wait`` seconds)."""
        async with asyncio.timeout(self.wait):
            while True:
                frame = await self.next_frame()
                if frame[0] == str(msg_id):
                    return frame

    async def closed_by_peer(self) -> bool:
        """True once the gateway has closed the connection (fails after WAIT seconds)."""
        async with asyncio.timeout(WAIT):
            while await self.reader.read(65536):
                pass
        return True

    async def close(self) -> None:
        """Close our side."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            return


async def control(
    gateway: SimulatedGateway, method: str, path: str, body: object = None
) -> tuple[int, Any]:
    """One request to the control interface: (HTTP status, decoded JSON body)."""
    assert gateway.control_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.control_port)
    data = b"" if body is None else json.dumps(body).encode()
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    async with asyncio.timeout(WAIT):
        response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(payload)


@asynccontextmanager
async def stopped_clock_gateway(
    start: datetime, **overrides: Any
) -> AsyncIterator[tuple[SimulatedGateway, SimulatedClock]]:
    """A started gateway whose clock moves only when the test advances it (no pacing rules)."""
    clock = SimulatedClock(start)
    values: dict[str, Any] = {"time_scale": 1.0, "pacing": False}
    values.update(overrides)
    async with SimulatedGateway(sim_config(**values), clock=clock) as gateway:
        yield gateway, clock


async def advance(clock: SimulatedClock, clients: list[IB], seconds: float) -> None:
    """Move the gateway's clock by ``seconds`` in quarter-second steps; after each, a round trip
    per client, so every update the step produced has reached that client."""
    for _ in range(round(seconds / 0.25)):
        clock.advance(0.25)
        for ib in clients:
            async with asyncio.timeout(WAIT):
                await ib.reqCurrentTimeAsync()
