"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head.

uvicorn times out only idle keep-alive connections: a client that opens a connection and sends its
request line and headers a byte at a time (or never) holds its slot for as long as it likes, and
``limit_concurrency`` such clients would make every other request a 503. Here each request's head
must arrive whole within ``head_timeout`` seconds of the connection (or of the previous response),
else the connection is closed. The body has its own deadline where it is read (``bounded.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    import asyncio

__all__ = ["HeadDeadlineProtocol"]

log = structlog.get_logger(__name__)


class HeadDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request head is late (see module doc)."""

    head_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first request's deadline."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Feed uvicorn; the deadline ends once a whole head has been parsed."""
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        """A kept-alive connection's next request gets a deadline of its own."""
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._late)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _late(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.warning(
                "app.control_refused", reason="request head late", seconds=self.head_timeout
            )
            self.transport.close()
