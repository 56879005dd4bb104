"""System-level payloads: connection state changes and request errors."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ConnectionState", "ConnectionStatus", "ErrorInfo"]


class ConnectionState(StrEnum):
    """Where the link to the gateway stands.

    ``DEGRADED`` means the socket is up but IB reports a lost farm or server link (1100, 2103, 2105,
    2157); ``RESTORED`` means it came back (1101, 1102, 2104, 2106, 2158).
    """

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    DEGRADED = "degraded"
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """A change of connection state, with IB's code and text when one caused it."""

    state: ConnectionState
    message: str = ""
    code: int | None = None
    host: str = ""
    port: int = 0
    client_id: int = 0
    data_lost: bool = False


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A request that failed: which request, IB's code and message, and for which symbol."""

    message: str
    code: int | None = None
    request: str = ""
    symbol: str | None = None
