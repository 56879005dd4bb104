"""What strategy layers and strategies produce: layer results and decisions with their reasoning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ibbot.clock import ensure_utc, utc_now
from ibbot.models.orders import Action, OrderType, TimeInForce
from ibbot.models.protection import Protection

__all__ = ["Decision", "LayerResult"]


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One layer's verdict: whether the symbol passes, what it computed, and why, in words."""

    passed: bool
    data: dict[str, Any]
    reasoning: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What a strategy wants for a symbol, with the full reasoning trail that led there.

    ``target_weight`` is the fraction (0..1) of the strategy's allocated capital it wants in the
    symbol; ``decision_id`` ties the decision to the orders it causes (see ``Order.order_ref``).
    ``quantity`` optionally asks for an exact share count instead of a weight; ``price`` is the
    last price the strategy saw.

    The order it leads to is a market order working for the day unless the decision says how to
    trade: ``order_type`` LMT with ``limit_price``, STP with ``stop_price``, STP LMT with both,
    and ``time_in_force`` DAY or GTC. These are checked by the trading layer, which refuses a
    decision whose prices do not fit its type (see ``ibbot.trading.size_decision``); a limit or
    stop order is sized and risk-checked at its own price (:func:`~ibbot.models.valuation_price`).

    ``protection`` (a BUY's stop-loss, take-profit, trailing stop) makes the entry one IB bracket:
    IB holds the protective orders and works them even while ibbot is down (see
    :class:`~ibbot.models.Protection`).
    """

    symbol: str
    action: Action
    target_weight: float
    confidence: float
    reasoning: str
    strategy_name: str = ""
    decision_id: str = ""
    timestamp: datetime = field(default_factory=utc_now)
    quantity: int | None = None
    price: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    protection: Protection | None = None

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is not UTC:
            object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        if type(self.action) is not Action:
            object.__setattr__(self, "action", Action(self.action))
        if type(self.order_type) is not OrderType:
            object.__setattr__(self, "order_type", OrderType(self.order_type))
        if type(self.time_in_force) is not TimeInForce:
            object.__setattr__(self, "time_in_force", TimeInForce(self.time_in_force))
        if not 0.0 <= self.target_weight <= 1.0:
            raise ValueError(f"target_weight must be within 0..1, got {self.target_weight}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {self.confidence}")
        if self.quantity is not None and self.quantity < 0:
            raise ValueError(f"quantity must not be negative, got {self.quantity}")
