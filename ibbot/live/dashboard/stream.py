"""A browser's server-sent event stream, as a plain ASGI response.

Why not Starlette's ``StreamingResponse``: a browser that stops reading (a laptop lid closed, a
stalled proxy) fills the socket's buffers and then every write waits, for ever; here each write has
a deadline (:data:`WRITE_TIMEOUT`) and a browser that misses it is dropped, and the connection
closed. A comment line every :data:`PING_INTERVAL` seconds keeps idle proxies from closing the
stream; ``retry`` tells the ``EventSource`` to reconnect after two seconds when the stream ends.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from ibbot.live.dashboard.feed import DashboardFeed, StreamClient

__all__ = ["PING_INTERVAL", "WRITE_TIMEOUT", "EventStream"]

WRITE_TIMEOUT: Final = 10.0
PING_INTERVAL: Final = 15.0
_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


class EventStream:
    """The ASGI response streaming ``client``'s queue until it is dropped or goes away."""

    def __init__(self, feed: DashboardFeed, client: StreamClient) -> None:
        self._feed = feed
        self._client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream; watch for the browser leaving meanwhile."""
        try:
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(self._watch(receive), name="ibbot-dashboard-watch")
                try:
                    await self._stream(send)
                finally:
                    watcher.cancel()
        finally:
            self._feed.disconnect(self._client)

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._client.end()
                return

    async def _stream(self, send: Send) -> None:
        client = self._client
        try:
            await _timed(send, {"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await _timed(send, _body(b"retry: 2000\n\n"))
            while not client.dropped():
                try:
                    async with asyncio.timeout(PING_INTERVAL):
                        message = await client.queue.get()
                except TimeoutError:
                    message = b": ping\n\n"
                if client.dropped():
                    break
                await _timed(send, _body(message))
            await _timed(send, {"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            # The browser does not read: the server closes the connection once this returns.
            self._feed.drop(client, reason=f"a write waited {WRITE_TIMEOUT:g} s")
        except OSError:  # the browser went away while we wrote
            client.end()


def _body(chunk: bytes) -> dict[str, object]:
    return {"type": "http.response.body", "body": chunk, "more_body": True}


async def _timed(send: Send, message: dict[str, object]) -> None:
    async with asyncio.timeout(WRITE_TIMEOUT):
        await send(message)
