"""The last stored price at a moment, for ratios derived from fundamentals (market cap, P/E, P/B).

Only bars that had *closed* by the moment count (a bar's end is its start plus its size), so a
ratio stamped at time t never uses a later price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ibbot.store import AsyncStore

__all__ = ["PricePoint", "StorePrices"]

# How far back to look for the last bar: covers long weekends and holiday closures.
_LOOKBACK: Final = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price and where it came from."""

    price: float
    as_of: datetime  # when the bar that gave it closed
    basis: str  # "close of the '1 day' bar of 2024-05-02"


class StorePrices:
    """Last closes read from the data store's bars (any bar size)."""

    def __init__(self, store: AsyncStore, *, lookback: timedelta = _LOOKBACK) -> None:
        self._store = store
        self._lookback = lookback

    async def at(self, symbol: str, moments: Iterable[datetime]) -> dict[datetime, PricePoint]:
        """The last close at or before each moment; moments with no bar in the lookback are left out."""
        found: dict[datetime, PricePoint] = {}
        for moment in moments:
            bars = await self._store.read_bars(symbol, moment - self._lookback, moment)
            closed = [bar for bar in bars if bar.end <= moment]
            if not closed:
                continue
            last = max(closed, key=lambda bar: bar.end)
            found[moment] = PricePoint(
                last.close,
                last.end,
                f"close of the '{last.bar_size.value}' bar of {last.timestamp.isoformat()}",
            )
        return found
