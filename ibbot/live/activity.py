"""What the console shows between decisions: the latest prices, the event rate, a one-line summary.

:class:`Activity` follows every event on the bus through one conflating subscription (a burst of
ticks for a symbol costs one update, and the monitor can never slow the feed): it keeps the last
price of each symbol (for sizing and for unrealized P&L) and counts events. :func:`summary_line`
turns the book, those prices and the counters into the line logged every ``app.summary_interval``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibbot.models import Event, PriceBar, Tick

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ibbot.bus import Subscription
    from ibbot.trading import PositionBook

__all__ = ["Activity", "summary_line"]


class Activity:
    """Last prices and event counts, fed by a bus subscription (:meth:`observe`)."""

    def __init__(self) -> None:
        self._prices: dict[str, float] = {}
        self.subscription: Subscription | None = None
        self._counted = 0

    def observe(self, event: Event) -> None:
        """The bus callback: remember the price a tick or a bar carries."""
        payload = event.payload
        if isinstance(payload, Tick):
            price = payload.price
            if price is not None:
                self._prices[payload.symbol] = price
        elif isinstance(payload, PriceBar):
            self._prices[payload.symbol] = payload.close

    def price(self, symbol: str) -> float | None:
        """The last known price of ``symbol``, or None."""
        return self._prices.get(symbol)

    @property
    def prices(self) -> dict[str, float]:
        """Every last known price, by symbol."""
        return dict(self._prices)

    @property
    def events(self) -> int:
        """Events seen on the bus so far (conflated ones included)."""
        subscription = self.subscription
        if subscription is None:
            return 0
        stats = subscription.stats
        return stats.delivered + stats.conflated + stats.dropped + stats.pending

    def events_since_last_call(self) -> int:
        """Events seen since the previous call (for a rate)."""
        total = self.events
        fresh, self._counted = total - self._counted, total
        return fresh


def summary_line(
    book: PositionBook, prices: dict[str, float], strategies: Iterable[str]
) -> tuple[str, float, float]:
    """``"sma_cross AAPL +12, MSFT -3; value_momentum JPM +40"``, realized and unrealized P&L."""
    parts = []
    realized = unrealized = 0.0
    names = list(dict.fromkeys([*strategies, *book.strategies()]))
    for name in names:
        realized += book.realized_pnl(name)
        unrealized += book.unrealized_pnl(name, prices)
        held = book.positions(name)
        if held:
            symbols = ", ".join(f"{s} {p.quantity:+g}" for s, p in sorted(held.items()))
            parts.append(f"{name} {symbols}")
    return ("; ".join(parts) or "flat"), realized, unrealized
