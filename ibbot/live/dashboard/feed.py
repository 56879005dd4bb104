"""What the dashboard shows and how it reaches the browsers: recent history and a live stream.

:class:`DashboardFeed` follows the bus (decisions, fills, order statuses, connection changes,
errors) through one subscription whose queue drops its oldest events when full, so the page can
never slow trading. It keeps the recent history (decisions with their reasoning, fills, risk
blocks, the equity curve) in bounded deques, and fans each event out to the connected browsers as
a server-sent event at once; every second it also sends the service's state (positions, P&L,
account, orders, strategies, kill switch) and samples the equity curve.

Each browser has a bounded queue of its own. A browser that stops reading fills it and is
dropped: its stream ends (its ``EventSource`` reconnects by itself and starts from a fresh
snapshot), and no other browser, nor the service, waits for it. At most :data:`MAX_CLIENTS`
streams are open at once; more are refused.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.live.dashboard.views import decision_view, fill_view, orders_view
from ibbot.models import ConnectionStatus, ErrorInfo, Event, EventType, Fill, OrderResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibbot.clock import Clock

__all__ = ["FEED_EVENTS", "MAX_CLIENTS", "DashboardFeed", "StreamClient"]

log = structlog.get_logger(__name__)

FEED_EVENTS: Final = (
    EventType.DECISION,
    EventType.FILL,
    EventType.ORDER_STATUS,
    EventType.CONNECTION,
    EventType.ERROR,
)
"""The bus events the dashboard follows."""

MAX_CLIENTS: Final = 16
CLIENT_QUEUE: Final = 256  # messages a browser may fall behind by before it is dropped
STATE_INTERVAL: Final = 1.0  # seconds between state messages (and equity samples)
_DECISIONS: Final = 500
_FILLS: Final = 200
_BLOCKS: Final = 200
_NOTES: Final = 100
_EQUITY_POINTS: Final = 3_600


class StreamClient:
    """One browser's stream: its bounded queue of encoded messages, and whether it was dropped."""

    __slots__ = ("_ended", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(CLIENT_QUEUE)
        self._ended = False

    def dropped(self) -> bool:
        """True once the stream must end (dropped, or the browser left)."""
        return self._ended

    def end(self) -> None:
        """Mark the stream to end."""
        self._ended = True


class DashboardFeed:
    """Recent history and the live stream of the dashboard (see the module docstring).

    ``status`` is the service's JSON-ready state (``GET /status``); ``wall`` paces the state
    messages.
    """

    def __init__(self, *, status: Callable[[], dict[str, Any]], wall: Clock) -> None:
        self._status = status
        self._wall = wall
        self._decisions: deque[dict[str, Any]] = deque(maxlen=_DECISIONS)
        self._fills: deque[dict[str, Any]] = deque(maxlen=_FILLS)
        self._blocks: deque[dict[str, Any]] = deque(maxlen=_BLOCKS)
        self._notes: deque[dict[str, Any]] = deque(maxlen=_NOTES)
        self._equity: deque[dict[str, Any]] = deque(maxlen=_EQUITY_POINTS)
        self._clients: set[StreamClient] = set()
        self.dropped_clients = 0

    # --- intake -----------------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """The bus callback: remember the event and send it to every browser."""
        payload = event.payload
        if event.type is EventType.DECISION and isinstance(payload, dict):
            record = decision_view(payload)
            if record is None:
                return
            self._decisions.append(record)
            self._broadcast("decision", record)
            if record["outcome"] == "blocked":
                self._blocks.append(record)
                self._broadcast("block", record)
        elif isinstance(payload, Fill):
            record = fill_view(payload)
            self._fills.append(record)
            self._broadcast("fill", record)
        elif isinstance(payload, OrderResult):
            self._broadcast("order", orders_view([payload])[0])
        elif isinstance(payload, ConnectionStatus):
            self._note("connection", f"{payload.state.value}: {payload.message}".strip(": "))
        elif isinstance(payload, ErrorInfo):
            self._note("error", payload.message, symbol=payload.symbol, code=payload.code)

    def on_lifecycle(self, record: dict[str, Any]) -> None:
        """A lifecycle listener: kill switch, strategies added, removed, disabled, enabled."""
        event = str(record.get("event", ""))
        if event.startswith(("app.kill_switch", "app.strategy_")):
            detail = record.get("reason") or record.get("strategy") or ""
            self._note("lifecycle", f"{event.removeprefix('app.')}: {detail}".strip(": "))

    def _note(self, kind: str, text: str, **extra: Any) -> None:
        note = {"kind": kind, "text": text, "at": self._wall.now().isoformat(), **extra}
        self._notes.append(note)
        self._broadcast("note", note)

    # --- what a browser gets ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The state and the recent history: what a browser gets first."""
        return {
            "state": self._status(),
            "decisions": list(self._decisions),
            "fills": list(self._fills),
            "blocks": list(self._blocks),
            "notes": list(self._notes),
            "equity": list(self._equity),
        }

    def connect(self) -> StreamClient | None:
        """A new browser's stream, its first message the snapshot; None when too many are open."""
        if len(self._clients) >= MAX_CLIENTS:
            return None
        client = StreamClient()
        client.queue.put_nowait(encode("snapshot", self.snapshot()))
        self._clients.add(client)
        return client

    def disconnect(self, client: StreamClient) -> None:
        """Forget a browser's stream (it ended)."""
        self._clients.discard(client)

    @property
    def clients(self) -> int:
        """Browsers connected now."""
        return len(self._clients)

    def _broadcast(self, name: str, data: Any) -> None:
        if not self._clients:
            return
        message = encode(name, data)
        for client in tuple(self._clients):
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                self.drop(client, reason=f"{CLIENT_QUEUE} messages behind")

    def drop(self, client: StreamClient, *, reason: str) -> None:
        """End a browser's stream: it does not keep up."""
        if client.dropped():
            return
        client.end()
        self._clients.discard(client)
        self.dropped_clients += 1
        log.info("dashboard.client_dropped", reason=reason, dropped=self.dropped_clients)

    # --- the periodic state -----------------------------------------------------------------------

    async def run(self) -> None:
        """Every :data:`STATE_INTERVAL` seconds: an equity sample, the state to every browser."""
        while True:
            await self._wall.sleep(STATE_INTERVAL)
            self.tick()

    def tick(self) -> None:
        """Sample the equity curve and send the state now."""
        state = self._status()
        pnl = state.get("pnl", {}).get("total")
        if pnl is not None:
            point = {
                "t": state.get("market_time"),
                "pnl": pnl["realized"] + pnl["unrealized"],
                "equity": state.get("account", {}).get("net_liquidation"),
            }
            self._equity.append(point)
            self._broadcast("equity", point)
        self._broadcast("state", state)


def encode(name: str, data: Any) -> bytes:
    """One server-sent event: its name and its data as one line of JSON (NaN and infinities,
    which JSON cannot carry, as null)."""
    try:
        text = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), separators=(",", ":"), default=str)
    return f"event: {name}\ndata: {text}\n\n".encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
