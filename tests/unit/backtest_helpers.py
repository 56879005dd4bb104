"""Bars, stores and strategies shared by the backtest tests (not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from ibbot.models import (
    Action,
    BarSize,
    Decision,
    Event,
    EventType,
    Fill,
    OrderResult,
    Position,
    PriceBar,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

D0 = datetime(2024, 1, 2, tzinfo=UTC)


def day(i: int) -> datetime:
    """Midnight UTC of the i-th day after D0 (daily bars start there, as the broker stores them)."""
    return D0 + timedelta(days=i)


def daily_bars(
    symbol: str,
    closes: Sequence[float],
    *,
    opens: Mapping[int, float] | None = None,
    volumes: Mapping[int, float] | None = None,
    first: int = 0,
) -> list[PriceBar]:
    """Daily bars with the given closes; open = previous close unless given; high/low span both."""
    bars = []
    previous = closes[0]
    for i, close in enumerate(closes):
        open_ = (opens or {}).get(i, previous)
        volume = (volumes or {}).get(i, 1_000_000.0)
        high, low = max(open_, close), min(open_, close)
        bars.append(
            PriceBar(symbol, day(first + i), open_, high, low, close, volume, BarSize.DAY_1)
        )
        previous = close
    return bars


class RecordingStrategy:
    """A strategy that records every event it gets and, when asked, buys or exits on given days.

    ``params``: ``buy_on`` / ``exit_on`` (lists of ISO timestamps of bars to act on),
    ``quantity`` (each BUY targets that many more shares, default 10), ``subscriptions`` (event type values).
    """

    seen: ClassVar[dict[str, list[Event]]] = {}

    def __init__(
        self, *, name: str, allocated_capital: float, params: Mapping[str, Any] | None = None
    ) -> None:
        params = dict(params or {})
        self.name = name
        self.allocated_capital = float(allocated_capital)
        self.subscriptions: list[str] = list(
            params.get("subscriptions", ["price_bar", "fill", "fundamental_data"])
        )
        self._buy_on = set(params.get("buy_on", []))
        self._exit_on = set(params.get("exit_on", []))
        self._quantity = int(params.get("quantity", 10))
        self._raise_on = params.get("raise_on")
        self.events: list[Event] = []
        RecordingStrategy.seen[name] = self.events
        self._held: dict[str, float] = {}
        self._sequence = 0

    def on_event(self, event: Event) -> list[Decision]:
        """Record the event; decide on the configured bars."""
        self.events.append(event)
        if event.type is EventType.FILL:
            assert isinstance(event.payload, Fill)
            fill = event.payload
            if fill.strategy_name == self.name:
                self._held[fill.symbol] = self._held.get(fill.symbol, 0.0) + fill.signed_quantity
            return []
        if event.type is not EventType.PRICE_BAR:
            return []
        assert isinstance(event.payload, PriceBar)
        stamp = event.timestamp.isoformat()
        if stamp == self._raise_on:
            raise RuntimeError("boom")
        action = (
            Action.BUY if stamp in self._buy_on else Action.EXIT if stamp in self._exit_on else None
        )
        if action is None:
            return []
        self._sequence += 1
        return [
            Decision(
                event.payload.symbol,
                action,
                0.0 if action is Action.EXIT else 0.1,
                1.0,
                f"{action.value} on {stamp}",
                strategy_name=self.name,
                decision_id=f"{self.name}-{self._sequence}",
                timestamp=event.timestamp,
                quantity=self._quantity * self._sequence if action is Action.BUY else None,
                price=event.payload.close,
            )
        ]

    def get_positions(self) -> dict[str, Position]:
        """Positions from the fills seen."""
        return {s: Position(s, q, 0.0, strategy_name=self.name) for s, q in self._held.items() if q}

    def get_state(self) -> dict[str, Any]:
        """Only the held quantities."""
        return {"held": dict(self._held)}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore the held quantities."""
        self._held = dict(state["held"])


def statuses(events: Sequence[Event]) -> list[tuple[str, str]]:
    """(status, symbol) of each ORDER_STATUS event."""
    out = []
    for event in events:
        if event.type is EventType.ORDER_STATUS:
            assert isinstance(event.payload, OrderResult)
            out.append((event.payload.status.value, event.payload.symbol))
    return out


def ohlc_bars(symbol: str, rows: Sequence[tuple[float, float, float, float]]) -> list[PriceBar]:
    """Daily bars from (open, high, low, close) rows, one a day from D0, volume 1,000,000."""
    return [
        PriceBar(symbol, day(i), open_, high, low, close, 1_000_000.0, BarSize.DAY_1)
        for i, (open_, high, low, close) in enumerate(rows)
    ]


class ScriptedStrategy:
    """Decides exactly what its script says, with the script's order terms, on the given bars.

    ``params``: ``script`` maps a bar's ISO timestamp to a decision: ``action`` (buy/exit),
    ``quantity`` (the target shares of a BUY), and optionally ``order_type``, ``limit_price``,
    ``stop_price``, ``time_in_force``. Every event it gets is recorded in :attr:`seen`.
    """

    seen: ClassVar[dict[str, list[Event]]] = {}

    def __init__(
        self, *, name: str, allocated_capital: float, params: Mapping[str, Any] | None = None
    ) -> None:
        params = dict(params or {})
        self.name = name
        self.allocated_capital = float(allocated_capital)
        self.subscriptions = ["price_bar", "fill", "order_status"]
        self._script: dict[str, dict[str, Any]] = dict(params["script"])
        self.events: list[Event] = []
        ScriptedStrategy.seen[name] = self.events
        self._held: dict[str, float] = {}
        self._sequence = 0

    def on_event(self, event: Event) -> list[Decision]:
        """Record the event; on a scripted bar, decide as scripted."""
        self.events.append(event)
        fill = event.payload
        if isinstance(fill, Fill) and fill.strategy_name == self.name:
            self._held[fill.symbol] = self._held.get(fill.symbol, 0.0) + fill.signed_quantity
        step = self._script.get(event.timestamp.isoformat())
        if event.type is not EventType.PRICE_BAR or step is None:
            return []
        assert isinstance(event.payload, PriceBar)
        self._sequence += 1
        terms = {k: v for k, v in step.items() if k not in ("action", "quantity")}
        return [
            Decision(
                event.payload.symbol,
                Action(step["action"]),
                0.0,
                1.0,
                f"scripted {step}",
                strategy_name=self.name,
                decision_id=f"{self.name}-{self._sequence}",
                timestamp=event.timestamp,
                quantity=step.get("quantity"),
                price=event.payload.close,
                **terms,
            )
        ]

    def get_positions(self) -> dict[str, Position]:
        """Positions from the fills seen."""
        return {s: Position(s, q, 0.0, strategy_name=self.name) for s, q in self._held.items() if q}

    def get_state(self) -> dict[str, Any]:
        """The held quantities and the decision counter."""
        return {"held": dict(self._held), "sequence": self._sequence}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore the held quantities and the decision counter."""
        self._held = dict(state["held"])
        self._sequence = int(state["sequence"])
