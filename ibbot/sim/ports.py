"""How the simulator's services reach clients without knowing what a session is.

The services (market data, orders, accounts) answer requests and publish updates through these small
interfaces; the session side (``session``, ``hub``) implements them. So the arrows run one way: sessions
use services, services see only a :class:`ClientPort` and a :class:`ClientDirectory`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ibbot.sim.messages import Fields
    from ibbot.sim.protocol import ErrorCode
    from ibbot.sim.wire import FieldReader

__all__ = ["ClientDirectory", "ClientPort", "Handler"]


class ClientPort(Protocol):
    """One connected API client as a service sees it: where replies go, what it subscribed to.

    Replies are queued (never awaited) so a slow client cannot stall a service; a subscription runs
    as a stream the client owns, ended with its connection.
    """

    client_id: int | None
    # the protocol version negotiated in the handshake: every message is written and read at it
    # (ibbot.sim.versions lists what differs; request parsers test it against a Feature)
    server_version: int
    # reqMarketDataType: 1 live, 2 frozen, 3 delayed, 4 delayed frozen
    market_data_type: int
    # reqAutoOpenOrders(true) from client 0: orders placed in TWS are bound to this client
    auto_bind: bool
    # account subscriptions: positions, account updates, and per-request multi/summary ones
    positions_subscribed: bool
    account_updates_subscribed: bool
    account_multi: dict[int, str]
    positions_multi: dict[int, str]
    account_summary: dict[int, tuple[str, ...]]

    @property
    def number(self) -> int:
        """The connection's serial number in this gateway (for logs and transcripts)."""
        ...

    def send(self, fields: Fields) -> None:
        """Queue one message for the client."""
        ...

    def send_frame(self, frame: bytes) -> None:
        """Queue one already encoded frame."""
        ...

    def send_error(self, req_id: int, code: ErrorCode, text: str | None = None) -> None:
        """Queue an ``error`` message with IB's text for ``code`` unless ``text`` is given."""
        ...

    async def flushed(self) -> None:
        """Return once every frame queued before the call has reached the socket."""
        ...

    def start_stream(self, key: Hashable, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a subscription owned by the client (replacing one with the same key)."""
        ...

    def stop_stream(self, key: Hashable) -> bool:
        """Cancel the subscription ``key``; True if one was running."""
        ...

    def has_stream(self, key: Hashable) -> bool:
        """True while the subscription ``key`` runs."""
        ...

    def stream_keys(self) -> list[Hashable]:
        """The keys of every running subscription."""
        ...


class ClientDirectory(Protocol):
    """Who is connected, by client id, and the order ids each client has used."""

    def session_for(self, client_id: int) -> ClientPort | None:
        """The live API client holding ``client_id``."""
        ...

    def api_sessions(self) -> Iterator[ClientPort]:
        """Every client whose API has started."""
        ...

    def next_order_id(self, client_id: int) -> int:
        """The lowest order id this client has not used yet."""
        ...

    def use_order_id(self, client_id: int, order_id: int) -> None:
        """Note that ``client_id`` used ``order_id`` (ids only ever grow)."""
        ...


Handler = Callable[[ClientPort, "FieldReader"], None]
"""Answers one request message: the client it came from and a reader over its fields."""
