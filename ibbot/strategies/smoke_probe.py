"""A diagnostic strategy for ``ibbot smoke`` (:mod:`ibbot.live.smoke`): proves the live path works.

It lives with the strategies so that it loads by class path like any of them.
"""

from __future__ import annotations

from typing import Any

from ibbot.models import Action, Decision, Event, EventType, Fill, Position, Tick

__all__ = ["SmokeProbe"]


class SmokeProbe:
    """A diagnostic strategy: HOLD on the first live tick of each symbol, and, when asked, BUY one
    share of ``order_symbol`` then EXIT once that fills.

    It implements the Strategy protocol directly and, unlike a real strategy, tells live events
    from the warm-up replay (``Event.source``): it is there to prove the live path works.
    """

    def __init__(
        self, *, name: str, allocated_capital: float, params: dict[str, Any] | None = None
    ) -> None:
        options = params or {}
        self.name = name
        self.allocated_capital = allocated_capital
        self.subscriptions = [EventType.TICK.value, EventType.PRICE_BAR.value, EventType.FILL.value]
        self.order_symbol: str | None = options.get("order_symbol")
        self.quantity = int(options.get("quantity", 1))
        self.live_events = 0
        self._priced: set[str] = set()
        self._positions: dict[str, Position] = {}
        self._sequence = 0
        self._stage = "buy" if self.order_symbol else "done"

    @property
    def finished(self) -> bool:
        """True once the test order (if any) is bought and sold back."""
        return self._stage == "done"

    def stand_down(self) -> None:
        """Decide nothing more about the test order: the smoke test closes what is left itself."""
        self._stage = "done"

    def on_event(self, event: Event) -> list[Decision]:
        """HOLD (or the test order's BUY) on a symbol's first live price; EXIT after the fill."""
        if event.source == "history":
            return []
        self.live_events += 1
        payload = event.payload
        if isinstance(payload, Fill):
            return self._filled(payload)
        # Ticks only: a bar may be history the collector fills in (the trader would not trade it).
        price = payload.price if isinstance(payload, Tick) else None
        symbol = event.symbol
        if symbol is None or price is None or symbol in self._priced:
            return []
        self._priced.add(symbol)
        if symbol == self.order_symbol and self._stage == "buy":
            self._stage = "buying"
            return [
                self._decision(
                    event, Action.BUY, f"smoke test order: BUY {self.quantity} {symbol} at ~{price}"
                )
            ]
        return [
            self._decision(
                event,
                Action.HOLD,
                f"smoke probe: first live price of {symbol} is {price} at "
                f"{event.timestamp.isoformat()}: HOLD",
            )
        ]

    def _filled(self, fill: Fill) -> list[Decision]:
        if fill.strategy_name != self.name:
            return []
        held = self._positions.get(fill.symbol, Position(fill.symbol, 0.0, 0.0))
        self._positions[fill.symbol], _ = held.apply_fill(fill.signed_quantity, fill.price)
        position = self._positions[fill.symbol]
        if self._stage == "buying" and position.quantity >= self.quantity:
            self._stage = "selling"
            event = Event(EventType.FILL, fill.symbol, fill.timestamp, fill)
            return [
                self._decision(
                    event, Action.EXIT, f"smoke test order filled: SELL {fill.symbol} back"
                )
            ]
        if self._stage == "selling" and position.is_flat:
            self._stage = "done"
        return []

    def _decision(self, event: Event, action: Action, reasoning: str) -> Decision:
        assert event.symbol is not None
        self._sequence += 1
        return Decision(
            event.symbol,
            action,
            0.0,
            1.0,
            reasoning,
            strategy_name=self.name,
            decision_id=f"{self.name}-{event.symbol}-{self._sequence:04d}",
            timestamp=event.timestamp,
            quantity=self.quantity if action is Action.BUY else None,
        )

    def get_positions(self) -> dict[str, Position]:
        """Open positions (none once the test order is sold back)."""
        return {s: p for s, p in self._positions.items() if not p.is_flat}

    def get_state(self) -> dict[str, Any]:
        """Positions and the decision counter."""
        return {
            "sequence": self._sequence,
            "positions": {s: p.quantity for s, p in self._positions.items()},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` output."""
        self._sequence = int(state["sequence"])
        self._positions = {
            s: Position(s, float(q), 0.0) for s, q in dict(state["positions"]).items()
        }
