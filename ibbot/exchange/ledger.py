"""The margin account: cash, positions, average costs, realized P&L, marks and IB's account tags.

A Reg T margin account with a 25% initial and maintenance requirement on gross position value, so
buying power is four times available funds (IB's intraday leverage for a pattern day trader). Average
costs include commissions, as IB's do; realized P&L is exact for long and short positions and flips
through zero. Positions are valued at the caller's marks, else at the last trade the ledger saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ibbot.exchange.events import PortfolioItem, PositionChanged
from ibbot.exchange.rejections import REJECT_PREFIX

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ibbot.exchange.orders import OrderRequest

__all__ = ["INITIAL_MARGIN_RATE", "MAINTENANCE_MARGIN_RATE", "Ledger"]

INITIAL_MARGIN_RATE = 0.25
MAINTENANCE_MARGIN_RATE = 0.25


@dataclass(slots=True)
class _Position:
    updated: datetime
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized: float = 0.0


class Ledger:
    """One account's books: every fill lands here, every account and portfolio query reads here."""

    def __init__(self, account: str, cash: float, currency: str) -> None:
        self._account = account
        self._cash = cash
        self._currency = currency
        self._positions: dict[str, _Position] = {}
        self._marks: dict[str, float] = {}

    @property
    def account(self) -> str:
        """The account code positions belong to."""
        return self._account

    @property
    def cash(self) -> float:
        """Cash balance (negative when buying on margin)."""
        return self._cash

    def set_mark(self, symbol: str, price: float) -> None:
        """Record the last trade seen in ``symbol``."""
        self._marks[symbol] = price

    def last_mark(self, symbol: str) -> float | None:
        """The last trade seen in ``symbol``, if any."""
        return self._marks.get(symbol)

    def marks(self) -> dict[str, float]:
        """The last trade seen in every symbol, by symbol."""
        return dict(sorted(self._marks.items()))

    def book(
        self, symbol: str, signed: float, price: float, commission: float, now: datetime
    ) -> float:
        """Apply one fill to cash and the position; return the P&L it realized."""
        self._cash -= signed * price + commission
        position = self._positions.get(symbol)
        if position is None:
            position = self._positions[symbol] = _Position(updated=now)
        position.updated = now
        held = position.quantity
        realized = 0.0
        if held == 0 or (held > 0) == (signed > 0):
            total = held + signed
            position.avg_cost = (position.avg_cost * held + price * signed + commission) / total
            position.quantity = total
        else:
            closing = min(abs(signed), abs(held))
            closing_fee = commission * closing / abs(signed)
            realized = closing * (price - position.avg_cost) * (1 if held > 0 else -1) - closing_fee
            total = held + signed
            if total == 0:
                position.avg_cost = 0.0
            elif (total > 0) != (held > 0):  # flipped through zero: the rest opens a new position
                position.avg_cost = (price * total + (commission - closing_fee)) / total
            position.quantity = total
        position.realized += realized
        return realized

    def position(self, symbol: str, now: datetime) -> PositionChanged:
        """The position in ``symbol`` as IB reports it after a change at ``now``."""
        p = self._positions[symbol]
        return PositionChanged(self._account, symbol, p.quantity, p.avg_cost, now, p.realized)

    def positions(self) -> list[PositionChanged]:
        """The position in every symbol traded (closed ones stay listed at zero, as IB lists them)."""
        return [
            PositionChanged(self._account, symbol, p.quantity, p.avg_cost, p.updated, p.realized)
            for symbol, p in sorted(self._positions.items())
        ]

    def account_values(self, marks: Mapping[str, float]) -> dict[str, float]:
        """IB's account tags, valuing positions at ``marks`` (else the last price seen)."""
        gross = 0.0
        stock_value = 0.0
        unrealized = 0.0
        realized = 0.0
        for symbol, position in self._positions.items():
            realized += position.realized
            if position.quantity == 0:
                continue
            price = self._mark(symbol, marks)
            stock_value += position.quantity * price
            gross += abs(position.quantity) * price
            unrealized += (price - position.avg_cost) * position.quantity
        net = self._cash + stock_value
        initial = INITIAL_MARGIN_RATE * gross
        maintenance = MAINTENANCE_MARGIN_RATE * gross
        available = net - initial
        return {
            "AvailableFunds": available,
            "BuyingPower": available / INITIAL_MARGIN_RATE,
            "CashBalance": self._cash,
            "EquityWithLoanValue": net,
            "ExcessLiquidity": net - maintenance,
            "GrossPositionValue": gross,
            "InitMarginReq": initial,
            "MaintMarginReq": maintenance,
            "NetLiquidation": net,
            "RealizedPnL": realized,
            "StockMarketValue": stock_value,
            "TotalCashValue": self._cash,
            "UnrealizedPnL": unrealized,
        }

    def portfolio(self, marks: Mapping[str, float]) -> list[PortfolioItem]:
        """Every position valued at ``marks`` (else the last price seen), as IB's updatePortfolio."""
        items: list[PortfolioItem] = []
        for symbol, position in sorted(self._positions.items()):
            price = self._mark(symbol, marks)
            items.append(
                PortfolioItem(
                    account=self._account,
                    symbol=symbol,
                    position=position.quantity,
                    market_price=price,
                    market_value=position.quantity * price,
                    average_cost=position.avg_cost,
                    unrealized_pnl=(price - position.avg_cost) * position.quantity,
                    realized_pnl=position.realized,
                )
            )
        return items

    def margin_problem(self, request: OrderRequest, price: float | None) -> str | None:
        """IB's 201 text when the filled order would need more initial margin than equity allows.

        ``price`` is where the order is expected to trade; without one nothing can be judged.
        """
        if price is None:
            return None
        position = self._positions.get(request.symbol)
        held = position.quantity if position is not None else 0.0
        after = held + request.action.sign * request.quantity
        if abs(after) <= abs(held):
            return None  # an order that only reduces exposure is always allowed
        values = self.account_values({request.symbol: price})
        gross = values["GrossPositionValue"] - abs(held) * price + abs(after) * price
        initial = INITIAL_MARGIN_RATE * gross
        equity = values["EquityWithLoanValue"]
        if initial <= equity:
            return None
        return (
            f"{REJECT_PREFIX}YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
            f"YOUR EQUITY WITH LOAN VALUE [{equity:.2f} {self._currency}] MUST EXCEED THE INITIAL "
            f"MARGIN [{initial:.2f} {self._currency}]"
        )

    def snapshot_positions(self) -> list[dict[str, float | str]]:
        """Every position as JSON-ready data."""
        return [
            {
                "symbol": symbol,
                "quantity": p.quantity,
                "avg_cost": p.avg_cost,
                "realized_pnl": p.realized,
            }
            for symbol, p in sorted(self._positions.items())
        ]

    def _mark(self, symbol: str, marks: Mapping[str, float]) -> float:
        # every traded symbol has a last price: each fill records one
        price = marks.get(symbol)
        return self._marks[symbol] if price is None else price
