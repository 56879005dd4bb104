"""The warm-up feed: recent stored bars and fundamentals, as events in the order they became known.

A bar becomes known when it closes (its end), a fundamentals record at its timestamp; ties go to
fundamentals first, as in the backtest. Fundamentals are chosen as the backtest chooses them
(:func:`~ibbot.backtest.load_fundamentals`: the latest record of each source and report known at
the start of the window, then every later one) and typed as the live collectors publish them
(:func:`~ibbot.models.fundamentals_event_type`: IB's statement reports are ``financial_statements``
events, everything else ``fundamental_data``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from ibbot.models import Event, EventType, FundamentalData, PriceBar, fundamentals_event_type

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from ibbot.models import BarSize
    from ibbot.store import AsyncStore

__all__ = ["SOURCE", "history_events"]

SOURCE: Final = "history"
"""``Event.source`` of a replayed event."""


async def history_events(
    store: AsyncStore,
    symbols: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    bar_size: BarSize,
) -> list[Event]:
    """Bars of ``bar_size`` that closed in ``[start, end]`` and the fundamentals known by ``end``."""
    bars: list[PriceBar] = []
    for symbol in symbols:
        stored = await store.read_bars(symbol, start, end, bar_size)
        bars.extend(bar for bar in stored if bar.end <= end)
    records = await asyncio.to_thread(_fundamentals, store, symbols, start, end)
    events = [
        Event(EventType.PRICE_BAR, bar.symbol, bar.timestamp, bar, SOURCE, ingested_at=bar.end)
        for bar in bars
    ]
    events.extend(
        Event(
            fundamentals_event_type(record),
            record.symbol,
            record.timestamp,
            record,
            SOURCE,
            ingested_at=record.timestamp,
        )
        for record in records
    )
    events.sort(key=_known_order)
    return events


def _fundamentals(
    store: AsyncStore, symbols: Sequence[str], start: datetime, end: datetime
) -> list[FundamentalData]:
    from ibbot.backtest.feed import load_fundamentals  # noqa: PLC0415 - pyarrow-heavy, on use

    return load_fundamentals(store.store, symbols, start, end)


def _known_order(event: Event) -> tuple[datetime, int, str]:
    # ingested_at is when the event became known; fundamentals before bars at the same instant
    return event.ingested_at, event.type is EventType.PRICE_BAR, event.symbol or ""
