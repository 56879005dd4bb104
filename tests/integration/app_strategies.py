"""Strategies for the orchestrator's tests, loaded by class path like any configured strategy.

``tests.integration.app_strategies.HoldQuantity`` and friends: small, predictable behaviours (buy
and hold, flip on every bar, fail on every bar, buy when a contract is described) so a test can say
exactly which orders must follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ibbot.models import Action, Decision, Event, EventType, Fill, LayerResult, Position
from ibbot.strategies import INTENT_KEY, Intent, PipelineStrategy, StrategyParams, StrategyPipeline
from ibbot.strategies.protection import ProtectionParams
from ibbot.strategies.state import SymbolState

if TYPE_CHECKING:
    from ibbot.models import PriceBar


class QuantityParams(StrategyParams):
    """``quantity``: the shares to hold."""

    quantity: int = Field(10, ge=1)


class _HoldLayer:
    """BUY up to ``quantity`` shares when holding fewer."""

    name = "hold"

    def __init__(self, quantity: int) -> None:
        self.quantity = quantity

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        held = data["position"]
        if held >= self.quantity:
            return LayerResult(False, data, f"holding {held:g} >= {self.quantity}")
        data[INTENT_KEY] = Intent(Action.BUY, quantity=self.quantity)
        return LayerResult(
            True, data, f"holding {held:g} < {self.quantity}: BUY to {self.quantity}"
        )


class HoldQuantity(PipelineStrategy[SymbolState]):
    """Buys ``quantity`` shares of every symbol it sees a bar of, and holds them."""

    params_model: ClassVar[type[StrategyParams]] = QuantityParams
    params: QuantityParams

    def build_pipeline(self) -> StrategyPipeline:
        """One layer."""
        return StrategyPipeline([_HoldLayer(self.params.quantity)])

    def new_symbol_state(self, symbol: str) -> SymbolState:
        """No indicators."""
        return SymbolState(symbol, self.params.history_bars)

    def on_bar(self, state: SymbolState, bar: PriceBar) -> bool:
        """Decide on every bar (the pipeline says whether there is anything to do)."""
        return True


class _FlipLayer:
    """BUY ``quantity`` when flat, EXIT when holding."""

    name = "flip"

    def __init__(self, quantity: int) -> None:
        self.quantity = quantity

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        held = data["position"]
        if held > 0:
            data[INTENT_KEY] = Intent(Action.EXIT)
            return LayerResult(True, data, f"holding {held:g}: EXIT")
        data[INTENT_KEY] = Intent(Action.BUY, quantity=self.quantity)
        return LayerResult(True, data, f"flat: BUY {self.quantity}")


class Flipper(HoldQuantity):
    """Buys ``quantity`` shares, sells them on the next bar, buys again: an order on every bar."""

    def build_pipeline(self) -> StrategyPipeline:
        """One layer."""
        return StrategyPipeline([_FlipLayer(self.params.quantity)])


class Exploding(HoldQuantity):
    """Warms up like any strategy, then raises on every live bar."""

    def on_event(self, event: Event) -> list[Decision]:
        """Fail on live bars; everything else as usual."""
        if event.type is EventType.PRICE_BAR and event.source != "history":
            raise RuntimeError(f"exploding on the bar of {event.symbol} at {event.timestamp}")
        return super().on_event(event)


class BuyOnContract:
    """Buys ``quantity`` shares at an assumed ``price`` when IB describes a contract (no bars needed).

    A plain implementation of the Strategy protocol, for a market that is closed (no bars, orders
    rest at the exchange). ``order_type``, ``limit_price``, ``stop_price`` and ``time_in_force``,
    when given, are the decision's order terms (default: a market DAY order).
    """

    def __init__(
        self, *, name: str, allocated_capital: float, params: dict[str, Any] | None = None
    ) -> None:
        options = params or {}
        self.name = name
        self.allocated_capital = allocated_capital
        self.subscriptions = [EventType.CONTRACT_INFO.value, EventType.FILL.value]
        self._quantity = int(options.get("quantity", 10))
        self._price = float(options.get("price", 100.0))
        self._terms = {
            key: options[key]
            for key in ("order_type", "limit_price", "stop_price", "time_in_force")
            if key in options
        }
        self._positions: dict[str, Position] = {}
        self._sequence = 0

    def on_event(self, event: Event) -> list[Decision]:
        """A BUY per described contract; fills move the position."""
        if event.type is EventType.FILL and isinstance(event.payload, Fill):
            fill = event.payload
            if fill.strategy_name == self.name:
                held = self._positions.get(fill.symbol, Position(fill.symbol, 0.0, 0.0))
                self._positions[fill.symbol], _ = held.apply_fill(fill.signed_quantity, fill.price)
            return []
        if event.type is not EventType.CONTRACT_INFO or event.symbol is None:
            return []
        self._sequence += 1
        return [
            Decision(
                event.symbol,
                Action.BUY,
                0.0,
                1.0,
                f"contract described: BUY {self._quantity}",
                strategy_name=self.name,
                decision_id=f"{self.name}-{event.symbol}-{self._sequence:04d}",
                timestamp=event.timestamp,
                quantity=self._quantity,
                price=self._price,
                **self._terms,
            )
        ]

    def get_positions(self) -> dict[str, Position]:
        """Open positions."""
        return {s: p for s, p in self._positions.items() if not p.is_flat}

    def get_state(self) -> dict[str, Any]:
        """The decision counter."""
        return {"sequence": self._sequence}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore the decision counter."""
        self._sequence = int(state["sequence"])


class ProtectedQuantityParams(ProtectionParams):
    """``quantity``: the shares to buy, once per symbol; plus the protection parameters."""

    quantity: int = Field(10, ge=1)


class EnteredState(SymbolState):
    """A symbol's state plus whether the strategy has ever held it (saved with the state)."""

    __slots__ = ("entered",)

    def __init__(self, symbol: str, history_bars: int) -> None:
        super().__init__(symbol, history_bars)
        self.entered = False

    def dump_indicators(self) -> dict[str, Any]:
        """Whether it was entered."""
        return {"entered": self.entered}

    def load_indicators(self, data: dict[str, Any]) -> None:
        """Restore the flag."""
        self.entered = bool(data.get("entered", False))


class EnterOnce(PipelineStrategy[EnteredState]):
    """Buys ``quantity`` shares of each symbol once (protected as its parameters say) and never
    again, whatever its protection does to the position."""

    params_model: ClassVar[type[StrategyParams]] = ProtectedQuantityParams
    params: ProtectedQuantityParams

    def build_pipeline(self) -> StrategyPipeline:
        """One layer."""
        return StrategyPipeline([_HoldLayer(self.params.quantity)])

    def new_symbol_state(self, symbol: str) -> EnteredState:
        """Not entered yet."""
        return EnteredState(symbol, self.params.history_bars)

    def on_bar(self, state: EnteredState, bar: PriceBar) -> bool:
        """Decide until the first position shows up; from then on, never."""
        if self.position_quantity(state.symbol) > 0:
            state.entered = True
        return not state.entered


class _ExplainLayer:
    """Passes every symbol, with a long, many-line reason that ends in a marker."""

    name = "explain"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        lines = [
            f'line {n} of why {symbol} is worth a look: <b>not markup</b> & quotes "kept"'
            for n in range(1, 41)
        ]
        return LayerResult(True, data, "\n".join([*lines, f"END-OF-REASONING-{symbol}"]))


class Explained(HoldQuantity):
    """A :class:`Flipper` whose every decision carries a long reasoning (the dashboard shows it
    whole)."""

    def build_pipeline(self) -> StrategyPipeline:
        """Explain, then flip."""
        return StrategyPipeline([_ExplainLayer(), _FlipLayer(self.params.quantity)])
