"""The matching engine shared by the simulated gateway and the backtester: pure, no sockets, no I/O.

``engine`` holds :class:`Exchange` (orders in, events out) and the fill semantics; ``orders`` the order
model; ``contingency`` how orders depend on each other (transmit, parents, OCA groups);
``matching`` the trigger and price rules per market update; ``commission`` the schedules;
``ledger`` the margin account's books (cash, positions, the trading day); ``account`` IB's account
tags computed from them, every formula in one table; ``fills`` executions and their ids; ``events``
what the engine reports; ``rejections`` IB's refusal codes; ``market`` the quotes and bars it matches
against.
"""

from __future__ import annotations

from ibbot.exchange.account import INITIAL_MARGIN_RATE, MAINTENANCE_MARGIN_RATE, PositionPnL
from ibbot.exchange.commission import CommissionSchedule, ib_fixed_commission
from ibbot.exchange.engine import Exchange
from ibbot.exchange.events import (
    AccountChanged,
    CommissionReport,
    ExchangeEvent,
    Execution,
    OrderAccepted,
    OrderRejected,
    OrderStatusChanged,
    PortfolioItem,
    PositionChanged,
)
from ibbot.exchange.market import Quote, SimBar
from ibbot.exchange.orders import IbOrderStatus, OrderRequest, OrderState

__all__ = [
    "INITIAL_MARGIN_RATE",
    "MAINTENANCE_MARGIN_RATE",
    "AccountChanged",
    "CommissionReport",
    "CommissionSchedule",
    "Exchange",
    "ExchangeEvent",
    "Execution",
    "IbOrderStatus",
    "OrderAccepted",
    "OrderRejected",
    "OrderRequest",
    "OrderState",
    "OrderStatusChanged",
    "PortfolioItem",
    "PositionChanged",
    "PositionPnL",
    "Quote",
    "SimBar",
    "ib_fixed_commission",
]
