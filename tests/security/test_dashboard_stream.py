"""The dashboard's live stream against browsers that stop reading (issue 17): each has a bounded
queue, is dropped when it falls behind or a write stalls, and nobody else waits for it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibbot.clock import WallClock
from ibbot.live.control import ControlServer
from ibbot.live.dashboard import DashboardFeed, dashboard_routes, load_assets
from ibbot.live.dashboard import stream as stream_module
from ibbot.live.dashboard.feed import CLIENT_QUEUE
from ibbot.live.dashboard.stream import EventStream
from ibbot.models import ErrorInfo, Event, EventType
from tests.security.test_dashboard_access import Target

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

DEADLINE = 20.0


def noise(feed: DashboardFeed, size: int = 100) -> None:
    """One error event of ``size`` characters through the feed (a note to every browser)."""
    info = ErrorInfo("x" * size, code=1, request="test")
    feed.observe(Event(EventType.ERROR, None, datetime.now(UTC), info, "test"))


def test_a_browser_that_falls_behind_is_dropped_and_the_others_are_not() -> None:
    """A stream CLIENT_QUEUE messages behind is dropped (its queue freed from the fan-out); a
    stream that reads keeps getting every message."""
    feed = DashboardFeed(status=lambda: {"state": "running"}, wall=WallClock())
    slow, fast = feed.connect(), feed.connect()
    assert slow is not None
    assert fast is not None
    fast.queue.get_nowait()  # the snapshot
    got = 0
    for _ in range(CLIENT_QUEUE + 5):
        noise(feed)
        fast.queue.get_nowait()
        got += 1
    assert slow.dropped()
    assert not fast.dropped()
    assert feed.clients == 1
    assert feed.dropped_clients == 1
    assert got == CLIENT_QUEUE + 5


def test_streams_beyond_the_limit_are_refused() -> None:
    """At most MAX_CLIENTS streams: the next connect gets None (the route answers 503)."""
    feed = DashboardFeed(status=dict, wall=WallClock())
    clients = [feed.connect() for _ in range(16)]
    assert all(c is not None for c in clients)
    assert feed.connect() is None


async def test_a_stalled_write_drops_the_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that does not complete within WRITE_TIMEOUT ends the stream and drops its client."""
    monkeypatch.setattr(stream_module, "WRITE_TIMEOUT", 0.2)
    feed = DashboardFeed(status=dict, wall=WallClock())
    client = feed.connect()
    assert client is not None
    stalled = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body" and message["body"].startswith(b"event:"):
            stalled.set()
            await asyncio.Event().wait()  # the socket's buffers are full: never returns

    async with asyncio.timeout(DEADLINE):
        await EventStream(feed, client)({"type": "http"}, receive, send)
    assert stalled.is_set()
    assert client.dropped()
    assert feed.clients == 0


async def test_a_browser_that_stops_reading_is_dropped_over_a_real_socket(tmp_path: Path) -> None:
    """A client that opens /api/events and never reads is dropped once it is behind; the endpoint
    answers others meanwhile."""
    target = Target()
    feed = target.feed
    assets = load_assets()
    server = ControlServer(
        target,
        port=0,
        directory=tmp_path,
        pages=lambda token, port: dashboard_routes(
            target, token=token, port=port, remote=False, assets=assets
        ),
    )
    serving = asyncio.ensure_future(server.serve())
    try:
        async with asyncio.timeout(DEADLINE):
            await server.ready.wait()
            assert server.address is not None
            port = server.address[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert b"text/event-stream" in head
            while feed.dropped_clients == 0:  # 8 KB a message: the socket's buffers fill
                noise(feed, 8_192)
                await asyncio.sleep(0)
            reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
            writer2.write(f"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            await writer2.drain()
            assert (await reader2.readline()).startswith(b"HTTP/1.1 200")
            writer2.close()
            assert feed.clients == 0
        writer.close()
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
