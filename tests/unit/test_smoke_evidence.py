"""What the smoke test counts as live market data: ticks and fresh bars, never history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ibbot.broker.backfill import HISTORY_SOURCE
from ibbot.clock import SimulatedClock
from ibbot.live.history import SOURCE as REPLAY_SOURCE
from ibbot.live.smoke import _Evidence
from ibbot.models import Event, EventType, Tick

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def tick_event(source: str) -> Event:
    tick = Tick("MSFT", NOW, bid=400.0, ask=400.1, last=400.05)
    return Event(EventType.TICK, "MSFT", NOW, tick, source=source, ingested_at=NOW)


@pytest.mark.parametrize("source", [REPLAY_SOURCE, HISTORY_SOURCE])
def test_history_is_not_market_data(source: str) -> None:
    """A price from the warm-up replay or from IB's historical data proves no live feed."""
    evidence = _Evidence(SimulatedClock(NOW))
    evidence.see(tick_event(source))
    assert evidence.prices == {}


def test_a_live_tick_is_market_data() -> None:
    """A tick from the live stream is the evidence, with its price."""
    evidence = _Evidence(SimulatedClock(NOW))
    evidence.see(tick_event("ib"))
    assert evidence.prices == {"MSFT": "MSFT 400.05 (tick)"}
