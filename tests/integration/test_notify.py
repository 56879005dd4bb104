"""Notifications against a local webhook receiver (issue 17): apprise's ``json://`` URL posts each
kind of event once, and a receiver that hangs never delays an order."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from ibbot.models import EventType
from tests.integration.app_support import (
    DEADLINE,
    Watch,
    app_settings,
    fill_of,
    running,
    running_gateway,
    strategy,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.models import Event

# What each kind's title starts with (see ibbot.live.notify).
KINDS = {
    "fill": "ibbot: BUY ",
    "rejection": "ibbot: order rejected",
    "risk_block": "ibbot: big AAPL blocked by",
    "kill_switch": "ibbot: kill switch ENGAGED",
    "strategy_disabled": "ibbot: strategy boom disabled",
    "disconnect": "ibbot: disconnected from the gateway",
    "reconnect": "ibbot: reconnected to the gateway",
    "daily_summary": "ibbot: summary of 2026-03-04",
}


class Receiver:
    """A webhook on 127.0.0.1: records each JSON body it is posted, or (``hang``) never answers."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.bodies: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.hanging = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:  # ends a hung request at once: no thread waits on it
            writer.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        """apprise's URL of this receiver (a long read timeout: a hang lasts)."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"json://127.0.0.1:{port}/hook?rto=60"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.bodies.append(json.loads(body))
                self.arrived.set()
                if self.hang:
                    self.hanging += 1
                    await asyncio.Event().wait()  # never answers
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def kinds(self) -> dict[str, int]:
        """How many notifications of each kind arrived."""
        counts = dict.fromkeys(KINDS, 0)
        for body in self.bodies:
            for kind, start in KINDS.items():
                if str(body.get("title", "")).startswith(start):
                    counts[kind] += 1
        return counts

    async def until(self, kinds: set[str]) -> None:
        """Wait until every kind in ``kinds`` has arrived."""
        while {k for k, n in self.kinds().items() if n} < kinds:
            self.arrived.clear()
            await self.arrived.wait()


async def test_each_kind_of_event_is_told_once(tmp_path: Path) -> None:
    """A rejection (201), a fill, a risk block (repeated every bar, told once), a disabled strategy,
    the kill switch, a disconnect and the reconnect, and the daily summary: one message each."""
    async with Receiver() as receiver, running_gateway() as gateway:
        gateway.reject_next_orders(1, code=201)
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            watchlist=("AAPL",),
            strategies=[
                strategy("hold", "HoldQuantity", quantity=5),
                strategy("big", "HoldQuantity", quantity=1_000_000),
                strategy("boom", "Exploding"),
            ],
            app={"max_strategy_failures": 2},
            notify={
                "urls": receiver.url,
                "disconnect_after": 0.3,
                "daily_summary_at": "10:06",
                "max_per_minute": 600,
            },
        )
        async with running(settings, gateway) as orchestrator:
            async with asyncio.timeout(DEADLINE * 2):
                await receiver.until({"fill", "rejection", "risk_block", "strategy_disabled"})
                await orchestrator.engage_kill_switch("the test pulls it", by="test")
                await receiver.until({"kill_switch"})
                await gateway.restart(1.0)
                await receiver.until(set(KINDS))
    assert receiver.kinds() == dict.fromkeys(KINDS, 1), [b["title"] for b in receiver.bodies]
    rejection = next(b for b in receiver.bodies if b["title"].startswith(KINDS["rejection"]))
    assert "code 201" in rejection["title"]
    assert "DU1234567" not in json.dumps(receiver.bodies)  # the account id is a secret


async def test_a_hanging_receiver_never_delays_an_order(tmp_path: Path) -> None:
    """With the webhook holding every request open (apprise waits up to 60 s, the notifier 30 s),
    orders decided every bar still fill within seconds of their decision."""
    async with Receiver(hang=True) as receiver:
        settings = app_settings(
            tmp_path,
            watchlist=("AAPL",),
            strategies=[strategy("flip", "Flipper", quantity=5)],
            notify={"urls": receiver.url, "timeout": 30.0, "events": ["fill"]},
        )
        async with running(settings) as orchestrator:
            decided: dict[str, float] = {}
            filled: dict[str, float] = {}

            def sent(event: Event) -> bool:
                payload = event.payload
                if isinstance(payload, dict) and payload.get("outcome") == "sent":
                    decided[payload["order_ref"]] = payload["decided_at"]
                return False

            async with Watch(orchestrator.bus, EventType.DECISION, EventType.FILL) as watch:
                for _ in range(4):
                    fill = await watch.until(
                        lambda e: sent(e) or fill_of("flip")(e), what="a fill of flip"
                    )
                    filled[f"flip:{fill.payload.decision_id}"] = time.monotonic()  # type: ignore[union-attr]
            assert receiver.hanging >= 1, "the receiver was never asked: nothing was tested"
    latencies = [filled[ref] - decided[ref] for ref in filled if ref in decided]
    print(f"decision-to-fill with a hanging receiver: {[round(x, 3) for x in latencies]} s")
    assert len(latencies) >= 2, "the fills could not be matched with their decisions"
    assert max(latencies) < 10.0
