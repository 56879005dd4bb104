"""Slow clients on the control endpoint: a request head that never completes loses its connection,
so a handful of local connections cannot hold every slot (uvicorn times out only idle keep-alives)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx

from ibbot.live.control import ControlServer, read_control_file

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import StrategySettings

WAIT = 30.0  # generous: the server closes after its 0.5 s deadline, however busy the machine


class Target:
    """A running service as far as the endpoint can tell."""

    def status(self) -> dict[str, Any]:
        return {"state": "running"}

    async def add_strategy(self, config: StrategySettings) -> None:
        return None

    async def remove_strategy(self, name: str) -> None:
        return None

    def stop(self, reason: str) -> None:
        return None


async def test_a_request_head_that_never_completes_is_closed(tmp_path: Path) -> None:
    """Half a request head, then silence: the server closes the connection; others are answered."""
    server = ControlServer(Target(), port=0, directory=tmp_path, head_timeout=0.5)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve())
        await server.ready.wait()
        assert server.address is not None
        stalled = [await asyncio.open_connection(*server.address) for _ in range(3)]
        for _, writer in stalled:
            writer.write(
                b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            )  # no blank line: never ends
            await writer.drain()
        async with asyncio.timeout(WAIT):
            closed = [await reader.read() for reader, _ in stalled]
        assert closed == [b"", b"", b""]
        endpoint = read_control_file(tmp_path)
        async with httpx.AsyncClient(base_url=endpoint.url) as client:
            answer = await client.get("/status")
        for _, writer in stalled:
            writer.close()
        serving.cancel()
    assert answer.json() == {"state": "running"}


async def test_a_kept_alive_connection_gets_a_deadline_for_its_next_head(tmp_path: Path) -> None:
    """After a whole request and its answer, a next head that stalls is closed just the same."""
    server = ControlServer(Target(), port=0, directory=tmp_path, head_timeout=0.5)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve())
        await server.ready.wait()
        assert server.address is not None
        host = f"{server.address[0]}:{server.address[1]}".encode()
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"GET /status HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if b"content-length" in line
            )
            await reader.readexactly(length)
            writer.write(b"GET /status HTTP/1.1\r\n")  # the next head, never finished
            await writer.drain()
            assert await reader.read() == b""
        writer.close()
        serving.cancel()
