"""The position book: what each strategy holds, built from fills attributed by ``orderRef``.

It is the trading layer's source of truth for exposure: position per strategy and symbol, realized
PnL (all time and for the current US/Eastern trading day, which the daily loss limit reads),
unrealized PnL at given prices, and reconciliation with the broker's account positions. Fills are
applied once per execution id, because IB re-sends executions after a reconnect.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ibbot.models import Fill, Position, from_dict, parse_order_ref, to_dict
from ibbot.trading.reconciliation import (
    Mismatch,
    ReconciliationOutcome,
    ReconciliationPolicy,
    compare_positions,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["MARKET_TIMEZONE", "UNATTRIBUTED", "PositionBook"]

UNATTRIBUTED = "(unattributed)"
"""The holder of shares no strategy placed: manual trades, or broker quantities adopted."""

MARKET_TIMEZONE = ZoneInfo("America/New_York")
"""US equity trading days (and so the daily loss limit) run on US/Eastern dates."""

# IB answers reqExecutions with up to a week of executions; older ids cannot come back.
_EXEC_ID_RETENTION = timedelta(days=7)


def _market_day(timestamp: datetime) -> date:
    """The US/Eastern date of ``timestamp``.

    Computed afresh each time (a quarter of a microsecond): caching a day's UTC bounds misses on
    every backtest trade, whose decision and fill fall on different market days.
    """
    return timestamp.astimezone(MARKET_TIMEZONE).date()


class PositionBook:
    """Positions and realized PnL per strategy, from fills; pure and fast enough to call per decision."""

    def __init__(self) -> None:
        self._positions: dict[str, dict[str, Position]] = {}
        self._realized: dict[str, float] = {}
        self._daily: dict[str, tuple[date, float]] = {}
        self._execs: dict[str, tuple[str, str, date]] = {}
        self._commissioned: set[str] = set()
        self._latest_day: date | None = None

    # --- attribution and fills -------------------------------------------------------------------

    @staticmethod
    def attribute(fill: Fill, order_ref: str | None = None) -> str:
        """The strategy a fill belongs to: from ``order_ref`` when given, else ``fill.strategy_name``;
        fills of orders ibbot did not place belong to :data:`UNATTRIBUTED`."""
        strategy = parse_order_ref(order_ref)[0] if order_ref else fill.strategy_name
        return strategy or UNATTRIBUTED

    def apply_fill(self, fill: Fill, *, order_ref: str | None = None) -> Position | None:
        """Book one execution; returns the strategy's new position, or None for a repeated exec id.

        A commission already on the fill is charged now; one reported later goes through
        :meth:`apply_commission`.
        """
        if fill.exec_id in self._execs:
            return None
        strategy = self.attribute(fill, order_ref)
        day = _market_day(fill.timestamp)
        self._remember(fill.exec_id, strategy, fill.symbol, day)
        commission = fill.commission
        if commission is not None:
            self._commissioned.add(fill.exec_id)
        book = self._positions.setdefault(strategy, {})
        current = book.get(fill.symbol)
        if current is None:
            current = Position(fill.symbol, 0.0, 0.0, strategy_name=strategy, account=fill.account)
        position, realized = current.apply_fill(
            fill.signed_quantity, fill.price, commission=commission or 0.0
        )
        book[fill.symbol] = position
        self._book_realized(strategy, day, realized)
        return position

    def apply_commission(self, exec_id: str, commission: float) -> bool:
        """Charge a commission reported after its fill; False if the fill is unknown or was charged."""
        known = self._execs.get(exec_id)
        if known is None or exec_id in self._commissioned:
            return False
        self._commissioned.add(exec_id)
        strategy, symbol, day = known
        self._book_realized(strategy, day, -commission)
        book = self._positions[strategy]
        position = book[symbol]
        book[symbol] = replace(position, realized_pnl=position.realized_pnl - commission)
        return True

    def _book_realized(self, strategy: str, day: date, amount: float) -> None:
        self._realized[strategy] = self._realized.get(strategy, 0.0) + amount
        current = self._daily.get(strategy)
        if current is None or current[0] < day:
            self._daily[strategy] = (day, amount)
        elif current[0] == day:
            self._daily[strategy] = (day, current[1] + amount)

    def _remember(self, exec_id: str, strategy: str, symbol: str, day: date) -> None:
        self._execs[exec_id] = (strategy, symbol, day)
        if self._latest_day is None or day > self._latest_day:
            self._latest_day = day
            horizon = day - _EXEC_ID_RETENTION
            stale = [eid for eid, (_, _, seen) in self._execs.items() if seen < horizon]
            for eid in stale:
                del self._execs[eid]
                self._commissioned.discard(eid)

    # --- queries ---------------------------------------------------------------------------------

    def position(self, strategy: str, symbol: str) -> Position | None:
        """The strategy's position in ``symbol``, if it ever traded it."""
        return self._positions.get(strategy, {}).get(symbol)

    def quantity(self, strategy: str, symbol: str) -> float:
        """Shares the strategy holds in ``symbol`` (0.0 when none)."""
        position = self._positions.get(strategy, {}).get(symbol)
        return 0.0 if position is None else position.quantity

    def positions(self, strategy: str) -> dict[str, Position]:
        """The strategy's open positions by symbol."""
        return {s: p for s, p in self._positions.get(strategy, {}).items() if not p.is_flat}

    def strategies(self) -> list[str]:
        """Every holder that has booked a fill or a position, in first-seen order."""
        return list(self._positions)

    def quantities(self) -> dict[str, dict[str, float]]:
        """Open quantities: strategy -> symbol -> shares."""
        return {
            strategy: {s: p.quantity for s, p in book.items() if not p.is_flat}
            for strategy, book in self._positions.items()
        }

    def realized_pnl(self, strategy: str) -> float:
        """Realized PnL since the book started, net of commissions."""
        return self._realized.get(strategy, 0.0)

    def daily_realized_pnl(self, strategy: str, now: datetime) -> float:
        """Realized PnL of the US/Eastern trading day that contains ``now``; 0.0 on a new day."""
        current = self._daily.get(strategy)
        if current is None:
            return 0.0
        return current[1] if current[0] == _market_day(now) else 0.0

    def unrealized_pnl(self, strategy: str, prices: Mapping[str, float]) -> float:
        """Mark-to-market PnL of the open positions at ``prices`` (symbols without a price count 0)."""
        total = 0.0
        for symbol, position in self._positions.get(strategy, {}).items():
            price = prices.get(symbol)
            if price is not None and not position.is_flat:
                total += position.unrealized_pnl(price)
        return total

    # --- restoring and reconciling ---------------------------------------------------------------

    def seed(self, strategy: str, positions: Iterable[Position]) -> None:
        """Set a holder's positions, e.g. from a strategy's saved state at start."""
        book = self._positions.setdefault(strategy, {})
        for position in positions:
            book[position.symbol] = position

    def reconcile(
        self, broker_positions: Iterable[Position], policy: ReconciliationPolicy
    ) -> list[Mismatch]:
        """Compare the book with the broker's account positions and apply ``policy``.

        ``ADOPT_BROKER`` books each gap as an :data:`UNATTRIBUTED` holding at the broker's average
        cost (negative when the strategies' fills add up to more than the broker holds), after
        which the book sums to the broker's quantities and the strategies keep their own positions.
        The other policies leave the book as it is (halting is the risk gate's job: see
        ``RiskGate.apply_reconciliation``).
        """
        broker: dict[str, float] = {}
        costs: dict[str, float] = {}
        for position in broker_positions:
            broker[position.symbol] = broker.get(position.symbol, 0.0) + position.quantity
            costs[position.symbol] = position.avg_cost
        mismatches = compare_positions(self.quantities(), broker, policy)
        for mismatch in mismatches:
            if mismatch.outcome is ReconciliationOutcome.ADOPTED:
                self._adopt(mismatch, costs.get(mismatch.symbol, 0.0))
        return mismatches

    def adopt(self, symbol: str, broker_quantity: float, avg_cost: float) -> dict[str, float]:
        """Take the broker's ``broker_quantity`` of ``symbol`` as the truth (a halt resolved by hand).

        The strategies keep their holdings when the broker's position covers them (same side, at
        least as many shares): the rest is booked :data:`UNATTRIBUTED`, as ``adopt_broker`` does.
        Otherwise (the broker holds fewer shares, none, or the other side) no strategy may go on
        believing in shares that are not there, or its exit would sell them twice. A single holder
        on the broker's side (or with the broker flat) is set to the broker's quantity; with
        several, nobody can tell whose shares are missing, so every strategy's holding in the
        symbol is closed and the broker's whole position is booked unattributed, at its average
        cost. No P&L is booked either way (the price of the gap is unknown). Returns the holdings
        of the symbol afterwards, by holder.
        """
        holders = {
            strategy: book[symbol]
            for strategy, book in self._positions.items()
            if strategy != UNATTRIBUTED and symbol in book and not book[symbol].is_flat
        }
        held = sum(p.quantity for p in holders.values())
        covered = held == 0 or (
            (held > 0) == (broker_quantity > 0) and abs(broker_quantity) >= abs(held)
        )
        if not covered:
            (only, position), *others = holders.items()
            if not others and broker_quantity * held >= 0:
                avg = position.avg_cost if broker_quantity else 0.0
                self._positions[only][symbol] = replace(
                    position, quantity=broker_quantity, avg_cost=avg
                )
                held = broker_quantity
            else:
                for strategy, position in holders.items():
                    self._positions[strategy][symbol] = replace(
                        position, quantity=0.0, avg_cost=0.0
                    )
                held = 0.0
        gap = broker_quantity - held
        unattributed = self._positions.setdefault(UNATTRIBUTED, {})
        unattributed[symbol] = Position(symbol, gap, avg_cost if gap else 0.0, UNATTRIBUTED)
        return {
            strategy: book[symbol].quantity
            for strategy, book in self._positions.items()
            if symbol in book and not book[symbol].is_flat
        }

    def _adopt(self, mismatch: Mismatch, avg_cost: float) -> None:
        book = self._positions.setdefault(UNATTRIBUTED, {})
        held = book.get(mismatch.symbol)
        quantity = mismatch.difference + (0.0 if held is None else held.quantity)
        book[mismatch.symbol] = Position(
            mismatch.symbol, quantity, avg_cost, strategy_name=UNATTRIBUTED
        )

    def dump(self) -> dict[str, Any]:
        """JSON-safe state: positions, realized PnL (total and today's) and recent exec ids."""
        return {
            "positions": {
                strategy: [to_dict(p) for p in book.values()]
                for strategy, book in self._positions.items()
            },
            "realized": dict(self._realized),
            "daily": {s: [d.isoformat(), pnl] for s, (d, pnl) in self._daily.items()},
            "execs": {eid: [s, sym, d.isoformat()] for eid, (s, sym, d) in self._execs.items()},
            "commissioned": sorted(self._commissioned),
        }

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> PositionBook:
        """Rebuild a book from :meth:`dump` output."""
        book = cls()
        for strategy, positions in state["positions"].items():
            book.seed(strategy, (from_dict(Position, p) for p in positions))
        book._realized = {s: float(v) for s, v in state["realized"].items()}
        book._daily = {s: (date.fromisoformat(d), float(v)) for s, (d, v) in state["daily"].items()}
        book._execs = {
            e: (s, sym, date.fromisoformat(d)) for e, (s, sym, d) in state["execs"].items()
        }
        book._commissioned = set(state["commissioned"])
        book._latest_day = max((d for _, _, d in book._execs.values()), default=None)
        return book
