"""What the engine reports: every call returns the events it caused, in the order IB sends them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ibbot.exchange.orders import OrderState
from ibbot.models import OrderSide

__all__ = [
    "AccountChanged",
    "CommissionReport",
    "ExchangeEvent",
    "Execution",
    "OrderAccepted",
    "OrderRejected",
    "OrderStatusChanged",
    "PortfolioItem",
    "PositionChanged",
]


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """An order (or a modification of one) was accepted: IB answers with openOrder and orderStatus."""

    state: OrderState
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderStatusChanged:
    """An order's status, fill state or why_held changed; ``reason`` says why in plain words."""

    state: OrderState
    time: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill (IB's execDetails). ``state`` is the order right after it."""

    exec_id: str
    state: OrderState
    time: datetime
    side: OrderSide
    quantity: float
    price: float
    cum_qty: float
    avg_price: float
    exchange: str


@dataclass(frozen=True, slots=True)
class CommissionReport:
    """The commission of one execution and the P&L it realized (IB's commissionReport)."""

    exec_id: str
    commission: float
    currency: str
    realized_pnl: float
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """An order or a cancel was refused with IB's error ``code`` and ``message``."""

    client_id: int
    order_id: int
    code: int
    message: str
    time: datetime


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """The account's position in ``symbol`` after a fill (IB's position / updatePortfolio)."""

    account: str
    symbol: str
    quantity: float
    avg_cost: float
    time: datetime
    realized_pnl: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """Account values keyed by IB's tag names, after a change."""

    values: Mapping[str, float]
    time: datetime


@dataclass(frozen=True, slots=True)
class PortfolioItem:
    """One line of IB's portfolio: a position valued at a mark."""

    account: str
    symbol: str
    position: float
    market_price: float
    market_value: float
    average_cost: float
    unrealized_pnl: float
    realized_pnl: float


ExchangeEvent = (
    OrderAccepted
    | OrderStatusChanged
    | Execution
    | CommissionReport
    | OrderRejected
    | PositionChanged
    | AccountChanged
)
