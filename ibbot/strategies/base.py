"""The strategy contract and the base class the shipped strategies are built on.

A strategy is pure: it sees events, keeps its own state and returns decisions. It does no I/O and
has no clock of its own (time is ``event.timestamp``), so the same object runs live and in a
backtest, and the same events always give the same decisions, ids included.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Generic,
    Protocol,
    TypeVar,
    runtime_checkable,
)

from ibbot.errors import ConfigError
from ibbot.models import (
    Action,
    Decision,
    Event,
    EventType,
    Fill,
    FundamentalData,
    LayerResult,
    OrderType,
    Position,
    PriceBar,
    Protection,
    Tick,
    TimeInForce,
    from_dict,
    to_dict,
)
from ibbot.models.frozen import builder
from ibbot.strategies.params import StrategyParams, validate_params
from ibbot.strategies.protection import ProtectionParams
from ibbot.strategies.state import StrategyStateError, SymbolState

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from ibbot.strategies.pipeline import StrategyPipeline

__all__ = [
    "INTENT_KEY",
    "Intent",
    "PipelineStrategy",
    "Strategy",
    "StrategyLayer",
    "decision_id",
]

INTENT_KEY = "intent"
"""Where a decision layer leaves its :class:`Intent` in the pipeline data."""

STATE_VERSION = 1

# How many recent execution ids a strategy remembers: IB re-sends the day's executions after a
# reconnect, and a fill must move the position once only.
_EXEC_ID_MEMORY = 1_000


class StrategyLayer(Protocol):
    """One step of a strategy pipeline: a screen, a filter, a signal or the final decision."""

    @property
    def name(self) -> str:
        """Short name shown in the reasoning trail (``"liquidity"``)."""
        ...

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        """Judge ``symbol`` on ``data``: whether it passes, what was computed, and why in words."""
        ...


@runtime_checkable
class Strategy(Protocol):
    """What the orchestrator and the backtester drive. ``on_event`` must not do I/O."""

    @property
    def name(self) -> str:
        """Unique name; the first part of every order's ``orderRef``."""
        ...

    @property
    def subscriptions(self) -> list[str]:
        """Event types (``EventType`` values) the strategy wants."""
        ...

    @property
    def allocated_capital(self) -> float:
        """The capital its target weights are fractions of."""
        ...

    def on_event(self, event: Event) -> list[Decision]:
        """Process one event; return the decisions it leads to (usually none)."""
        ...

    def get_positions(self) -> dict[str, Position]:
        """Open positions held by this strategy, by symbol."""
        ...

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state for persistence."""
        ...

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`get_state` output."""
        ...


@dataclass(frozen=True, slots=True)
class Intent:
    """What a decision layer wants done; the strategy turns it into a :class:`Decision`.

    ``quantity`` asks for an exact number of shares as the *target* position instead of a weight.
    ``order_type``, ``limit_price``, ``stop_price`` and ``time_in_force`` say how to trade (see
    :class:`~ibbot.models.Decision`); the default is a market order for the day. ``protection``
    protects a BUY with orders IB holds; when a layer sets none, a strategy whose parameters are
    :class:`~ibbot.strategies.protection.ProtectionParams` adds its configured protection.
    """

    action: Action
    target_weight: float = 0.0
    confidence: float = 1.0
    quantity: int | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    protection: Protection | None = None


def decision_id(strategy: str, symbol: str, timestamp: datetime, sequence: int) -> str:
    """``"sma_cross-AAPL-20260105T143000Z-000007"``: unique per strategy, readable in an ``orderRef``.

    Built only from inputs (no clock, no randomness), so a replay produces the same ids.
    """
    t = timestamp
    if t.year < 1000:  # strftime's %Y does not pad these to 4 digits; keep its spelling
        return f"{strategy}-{symbol}-{t:%Y%m%dT%H%M%S}Z-{sequence:06d}"
    # the same text as the strftime form above, without parsing a format on every decision (one
    # %-format: half the cost of an f-string's seven format specs)
    return "%s-%s-%04d%02d%02dT%02d%02d%02dZ-%06d" % (  # noqa: UP031
        strategy,
        symbol,
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        sequence,
    )


S = TypeVar("S", bound=SymbolState)


# the types a decision's data keeps; a tuple, as `int | float | ...` in a comprehension would be
# built anew for every value tested
_SCALARS: Final = (int, float, str, bool)


_new_decision = builder(Decision)


def _no_decisions(event: Event) -> list[Decision]:
    return []


class PipelineStrategy(ABC, Generic[S]):
    """The plumbing every pipeline strategy shares, so a strategy only writes its layers and signals.

    Construction is uniform: ``cls(name=..., allocated_capital=..., params={...})``, which is how
    settings' ``class_path`` entries are instantiated; ``params`` is validated by ``params_model``.

    Per event the base class keeps each symbol's :class:`SymbolState` (bars older than or equal to
    the last one seen are dropped, so a re-sent or replayed bar cannot cause a second decision),
    updates its own positions from FILL events attributed to it, and asks a hook whether the
    symbol needs a decision now. Only then does the pipeline run (cheap hooks keep the bar hot path
    O(1)). The pipeline sees these keys, plus whatever :meth:`pipeline_input` adds:
    ``symbol``, ``timestamp``, ``price`` (last price or None), ``position`` and ``avg_cost`` (this
    strategy's holding), ``capital``, ``bars`` (recent bars, oldest first), ``fundamentals``.

    A BUY or EXIT decision makes the symbol *pending* until a fill arrives or
    ``retry_after_bars`` bars pass, so the strategy does not repeat itself while its order works.
    """

    params_model: ClassVar[type[StrategyParams]] = StrategyParams
    default_subscriptions: ClassVar[tuple[EventType, ...]] = (EventType.PRICE_BAR, EventType.FILL)
    params: StrategyParams

    def __init__(
        self, *, name: str, allocated_capital: float, params: Mapping[str, Any] | None = None
    ) -> None:
        if not name or ":" in name or name != name.strip():
            raise ConfigError("strategies.name", name, "must be non-empty, trimmed and without ':'")
        try:
            capital = float(allocated_capital)
        except (TypeError, ValueError):
            capital = math.nan
        if not math.isfinite(capital) or capital <= 0:
            raise ConfigError(
                f"strategies.{name}.allocated_capital", allocated_capital, "must be positive"
            )
        self.name = name
        self.allocated_capital = capital
        self.params = validate_params(self.params_model, params, strategy=name)
        self.subscriptions: list[str] = list(self.default_subscriptions)
        self.pipeline = self.build_pipeline()
        self._symbols: dict[str, S] = {}
        self._positions: dict[str, Position] = {}
        self._sequence = 0
        self._exec_ids: dict[str, None] = {}
        self._protection_of: tuple[object, Protection | None] | None = None
        self._allowed = frozenset(self.params.symbols) if self.params.symbols else None
        self._bar_size = self.params.bar_size
        handlers: dict[str, Callable[[Event], list[Decision]]] = {
            EventType.PRICE_BAR: self._on_price_bar,
            EventType.TICK: self._on_tick,
            EventType.FUNDAMENTAL_DATA: self._on_fundamentals,
        }
        self._handlers = {kind: handlers[kind] for kind in self.subscriptions if kind in handlers}
        self._handlers[EventType.FILL] = self._on_fill

    # --- what a strategy writes -----------------------------------------------------------------

    @abstractmethod
    def build_pipeline(self) -> StrategyPipeline:
        """The layers, built from ``self.params``."""

    @abstractmethod
    def new_symbol_state(self, symbol: str) -> S:
        """A fresh state for a symbol seen for the first time."""

    def on_bar(self, state: S, bar: PriceBar) -> bool:
        """Update indicators with a new bar (already in ``state.bars``); True to decide now."""
        return False

    def on_tick(self, state: S, tick: Tick) -> bool:
        """React to a tick (``state.last_price`` is already updated); True to decide now."""
        return False

    def on_fundamentals(self, state: S, fundamentals: FundamentalData) -> bool:
        """React to new fundamentals (already in ``state``); True to decide now."""
        return False

    def pipeline_input(self, state: S, timestamp: datetime) -> dict[str, Any]:
        """The data the first layer receives; subclasses add their indicators to it."""
        position = self._positions.get(state.symbol)
        return {
            "symbol": state.symbol,
            "timestamp": timestamp,
            "price": state.last_price,
            "position": 0.0 if position is None else position.quantity,
            "avg_cost": 0.0 if position is None else position.avg_cost,
            "capital": self.allocated_capital,
            "bars": tuple(state.bars),
            "fundamentals": state.fundamentals,
        }

    def conclude(
        self, state: S, passed: bool, data: dict[str, Any], reasoning: str
    ) -> tuple[Intent, str] | None:
        """Turn a pipeline run into an intent and its full reasoning, or None for no decision.

        By default a run that passed every layer yields the :class:`Intent` its decision layer left
        under :data:`INTENT_KEY`; a failed run yields nothing.
        """
        intent = data.get(INTENT_KEY)
        if passed and isinstance(intent, Intent):
            return intent, reasoning
        return None

    # --- the Strategy protocol ------------------------------------------------------------------

    def on_event(self, event: Event) -> list[Decision]:
        """Route the event to its handler; events of other types are ignored."""
        handler = self._handlers.get(event.type)
        if handler is None:
            return []
        return handler(event)

    def event_handler(self, kind: EventType) -> Callable[[Event], list[Decision]]:
        """What :meth:`on_event` does with events of ``kind``, as one callable: a replay calls it
        per event without the routing (``on_event`` itself when a subclass replaced it)."""
        if type(self).on_event is not PipelineStrategy.on_event or "on_event" in vars(self):
            return self.on_event
        return self._handlers.get(kind) or _no_decisions

    def bar_handler(self) -> Callable[[PriceBar, datetime], list[Decision]] | None:
        """What :meth:`on_event` does with a PRICE_BAR event, called with its bar and timestamp
        (``handle(bar, timestamp)``): a replay calls it per bar without building the event. None
        when bars do not reach the default handling (a subclass replaced ``on_event`` or
        ``_on_price_bar``, or the strategy does not subscribe to bars)."""
        if type(self).on_event is not PipelineStrategy.on_event or "on_event" in vars(self):
            return None
        if type(self)._on_price_bar is not PipelineStrategy._on_price_bar:
            return None
        if EventType.PRICE_BAR not in self._handlers:
            return None
        return self._on_bar

    def get_positions(self) -> dict[str, Position]:
        """Open positions by symbol (flat ones are left out)."""
        return {symbol: pos for symbol, pos in self._positions.items() if not pos.is_flat}

    def get_state(self) -> dict[str, Any]:
        """JSON-safe: positions, the decision sequence, recent exec ids and every symbol's state."""
        return {
            "version": STATE_VERSION,
            "name": self.name,
            "params": self.params.model_dump(mode="json"),
            "sequence": self._sequence,
            "positions": {symbol: to_dict(pos) for symbol, pos in self._positions.items()},
            "exec_ids": list(self._exec_ids),
            "symbols": {symbol: state.dump() for symbol, state in self._symbols.items()},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` output; all or nothing.

        An indicator whose window length changed since the state was saved starts afresh (a
        restored sum over other windows would be wrong); positions, the sequence and prices are
        always restored.
        Raises :class:`StrategyStateError` on unreadable state, leaving the current state untouched.
        """
        try:
            sequence, positions, exec_ids, symbols = self._parse_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StrategyStateError(
                f"strategy {self.name}: saved state is unreadable ({type(exc).__name__}: {exc})"
            ) from exc
        self._sequence = sequence
        self._positions = positions
        self._exec_ids = exec_ids
        self._symbols = symbols

    def _parse_state(
        self, state: dict[str, Any]
    ) -> tuple[int, dict[str, Position], dict[str, None], dict[str, S]]:
        version = state["version"]
        if version != STATE_VERSION:
            raise ValueError(f"unsupported state version {version!r}")
        positions = {
            str(symbol): from_dict(Position, raw) for symbol, raw in state["positions"].items()
        }
        symbols: dict[str, S] = {}
        for symbol, raw in state["symbols"].items():
            symbol_state = self.new_symbol_state(str(symbol))
            symbol_state.load(raw)
            symbols[str(symbol)] = symbol_state
        exec_ids = dict.fromkeys(str(exec_id) for exec_id in state["exec_ids"])
        return int(state["sequence"]), positions, exec_ids, symbols

    # --- helpers for subclasses -----------------------------------------------------------------

    def position_quantity(self, symbol: str) -> float:
        """Shares this strategy holds in ``symbol`` (0.0 when none)."""
        position = self._positions.get(symbol)
        return 0.0 if position is None else position.quantity

    def symbol_state(self, symbol: str) -> S | None:
        """The state kept for ``symbol``, if any event for it has been seen."""
        return self._symbols.get(symbol)

    # --- event handling -------------------------------------------------------------------------

    def _state_for(self, symbol: str | None) -> S | None:
        state = self._symbols.get(symbol) if symbol is not None else None
        if state is not None:
            return state
        if symbol is None or (self._allowed is not None and symbol not in self._allowed):
            return None
        state = self._symbols[symbol] = self.new_symbol_state(symbol)
        return state

    def _on_price_bar(self, event: Event) -> list[Decision]:
        bar = event.payload
        if not isinstance(bar, PriceBar):
            return []
        return self._on_bar(bar, event.timestamp)

    def _on_bar(self, bar: PriceBar, event_time: datetime) -> list[Decision]:
        """A PRICE_BAR event's handling, given its bar and the event's timestamp."""
        # the backtest's hot path: one call per bar per strategy, so attribute lookups are counted
        bar_size = self._bar_size
        if bar_size is not None and bar.bar_size is not bar_size:
            return []
        state = self._symbols.get(bar.symbol) or self._state_for(bar.symbol)
        if state is None:
            return []
        timestamp = bar.timestamp
        last = state.last_bar_time
        if last is not None and timestamp <= last:
            return []
        state.last_bar_time = timestamp
        state.bar_count += 1
        state.bars.append(bar)
        price_time = state.price_time
        if price_time is None or timestamp >= price_time:
            state.last_price = bar.close
            state.price_time = timestamp
        if state.pending_decision is not None:
            state.pending_bars -= 1
            if state.pending_bars <= 0:
                state.clear_pending()
        if self.on_bar(state, bar) and state.pending_decision is None:
            return self._decide(state, event_time)
        return []

    def _on_tick(self, event: Event) -> list[Decision]:
        tick = event.payload
        if not isinstance(tick, Tick):
            return []
        price = tick.price
        state = self._state_for(tick.symbol)
        if state is None or price is None:
            return []
        price_time = state.price_time
        if price_time is not None and tick.timestamp < price_time:
            return []
        state.last_price = price
        state.price_time = tick.timestamp
        if self.on_tick(state, tick) and state.pending_decision is None:
            return self._decide(state, event.timestamp)
        return []

    def _on_fundamentals(self, event: Event) -> list[Decision]:
        fundamentals = event.payload
        if not isinstance(fundamentals, FundamentalData):
            return []
        state = self._state_for(fundamentals.symbol)
        if state is None:
            return []
        current = state.fundamentals
        if current is not None and fundamentals.timestamp < current.timestamp:
            return []
        state.fundamentals = fundamentals
        if self.on_fundamentals(state, fundamentals) and state.pending_decision is None:
            return self._decide(state, event.timestamp)
        return []

    def _on_fill(self, event: Event) -> list[Decision]:
        fill = event.payload
        if not isinstance(fill, Fill) or fill.strategy_name != self.name:
            return []
        if fill.exec_id in self._exec_ids:
            return []
        self._exec_ids[fill.exec_id] = None
        if len(self._exec_ids) > _EXEC_ID_MEMORY:
            del self._exec_ids[next(iter(self._exec_ids))]
        position = self._positions.get(fill.symbol)
        if position is None:
            position = Position(fill.symbol, 0.0, 0.0, strategy_name=self.name)
        self._positions[fill.symbol], _ = position.apply_fill(
            fill.signed_quantity, fill.price, commission=fill.commission or 0.0
        )
        state = self._symbols.get(fill.symbol)
        if state is not None:
            state.clear_pending()
        return []

    def _protection(self) -> Protection | None:
        """The protection the strategy's parameters give every entry (None: unprotected).

        Built once per parameters object (both are immutable): every BUY decision asks for it."""
        params = self.params
        cached = self._protection_of
        if cached is not None and cached[0] is params:
            return cached[1]
        protection = params.protection() if isinstance(params, ProtectionParams) else None
        self._protection_of = (params, protection)
        return protection

    def _decide(self, state: S, timestamp: datetime) -> list[Decision]:
        data = self.pipeline_input(state, timestamp)
        passed, data, reasoning = self.pipeline.run(state.symbol, data)
        outcome = self.conclude(state, passed, data, reasoning)
        if outcome is None:
            return []
        intent, trail = outcome
        protection = intent.protection
        if protection is None and intent.action is Action.BUY:
            protection = self._protection()
        if protection is not None and intent.action is Action.BUY:
            trail = f"{trail}; protection: {protection.describe()}"
        self._sequence += 1
        ident = decision_id(self.name, state.symbol, timestamp, self._sequence)
        decision = _new_decision(  # Decision(...) without the per-field cost (same checks)
            state.symbol,
            intent.action,
            intent.target_weight,
            intent.confidence,
            trail,
            strategy_name=self.name,
            decision_id=ident,
            timestamp=timestamp,
            quantity=intent.quantity,
            price=state.last_price,
            data={
                key: value
                for key, value in data.items()
                if isinstance(value, _SCALARS) and key != "symbol"
            },
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            time_in_force=intent.time_in_force,
            protection=protection if intent.action is Action.BUY else None,
        )
        if intent.action is not Action.HOLD:
            state.set_pending(ident, intent.action, self.params.retry_after_bars)
        return [decision]
