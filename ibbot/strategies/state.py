"""What a strategy remembers about one symbol between events, and how that survives a restart."""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import datetime
from typing import Any

from ibbot.errors import IbbotError
from ibbot.models import Action, FundamentalData, PriceBar, from_dict, to_dict

__all__ = ["StrategyStateError", "SymbolState"]


class StrategyStateError(IbbotError):
    """Saved strategy state could not be restored; the strategy keeps the state it had."""


class SymbolState:
    """Rolling per-symbol view built from events: last price, recent bars, latest fundamentals.

    It also remembers the decision still waiting for its fill (``pending_*``), so a strategy does not
    repeat itself while an order is in flight. Strategies that keep indicators subclass it and
    extend :meth:`dump_indicators` / :meth:`load_indicators`.
    """

    __slots__ = (
        "bar_count",
        "bars",
        "fundamentals",
        "last_bar_time",
        "last_price",
        "pending_action",
        "pending_bars",
        "pending_decision",
        "price_time",
        "symbol",
    )

    def __init__(self, symbol: str, history_bars: int) -> None:
        self.symbol = symbol
        self.last_price: float | None = None
        self.price_time: datetime | None = None
        self.last_bar_time: datetime | None = None
        self.bar_count = 0
        self.bars: deque[PriceBar] = deque(maxlen=history_bars)
        self.fundamentals: FundamentalData | None = None
        self.pending_decision: str | None = None
        self.pending_action: Action | None = None
        self.pending_bars = 0

    @property
    def pending(self) -> bool:
        """True while a BUY or EXIT decision waits for its fill."""
        return self.pending_decision is not None

    def set_pending(self, decision_id: str, action: Action, bars: int) -> None:
        """Wait up to ``bars`` bars for a fill of ``decision_id``."""
        self.pending_decision = decision_id
        self.pending_action = action
        self.pending_bars = bars

    def clear_pending(self) -> None:
        """A fill arrived (or the wait ran out): the strategy may decide again."""
        self.pending_decision = None
        self.pending_action = None
        self.pending_bars = 0

    def dump_indicators(self) -> dict[str, Any]:
        """JSON-safe indicator state; none in the base class."""
        return {}

    def load_indicators(self, data: dict[str, Any]) -> None:
        """Restore what :meth:`dump_indicators` wrote; none in the base class.

        Subclasses keep their fresh indicators when the saved ones have other window lengths.
        """

    def dump(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, as JSON-safe values."""
        fundamentals = (
            # the raw report can be tens of kilobytes; the store keeps it, the state need not
            to_dict(dataclasses.replace(self.fundamentals, raw=""))
            if self.fundamentals is not None
            else None
        )
        return {
            "last_price": self.last_price,
            "price_time": _iso(self.price_time),
            "last_bar_time": _iso(self.last_bar_time),
            "bar_count": self.bar_count,
            "bars": [to_dict(bar) for bar in self.bars],
            "fundamentals": fundamentals,
            "pending": None
            if self.pending_decision is None or self.pending_action is None
            else {
                "decision_id": self.pending_decision,
                "action": self.pending_action.value,
                "bars": self.pending_bars,
            },
            "indicators": self.dump_indicators(),
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore from :meth:`dump` output."""
        last_price = data["last_price"]
        self.last_price = None if last_price is None else float(last_price)
        self.price_time = _parse_time(data["price_time"])
        self.last_bar_time = _parse_time(data["last_bar_time"])
        self.bar_count = int(data["bar_count"])
        self.bars.clear()
        self.bars.extend(from_dict(PriceBar, bar) for bar in data["bars"])
        fundamentals = data["fundamentals"]
        self.fundamentals = (
            None if fundamentals is None else from_dict(FundamentalData, fundamentals)
        )
        pending = data["pending"]
        if pending is None:
            self.clear_pending()
        else:
            self.set_pending(
                str(pending["decision_id"]), Action(pending["action"]), int(pending["bars"])
            )
        self.load_indicators(data["indicators"])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"saved timestamp {value!r} has no timezone")
    return parsed
