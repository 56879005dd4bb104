"""The margin account's books: cash, positions, average costs, realized P&L, marks, and the day.

A Reg T margin account with a 25% initial and maintenance requirement on gross position value, so
buying power is four times available funds (IB's intraday leverage for a pattern day trader). Average
costs include commissions, as IB's do; realized P&L is exact for long and short positions and flips
through zero. Positions are valued at the caller's marks, else at the last trade the ledger saw. The
account tags computed from these books, with every formula, are in :mod:`ibbot.exchange.account`.

The books also keep what those tags and IB's P&L need across time:

* **The trading day** is the New York date of the latest time the books were given. The first time
  they see a later date they roll: today's realized P&L and trade cash flows restart (IB's daily P&L
  resets), the cash and quantities held become the day's opening, and settled trades leave the
  unsettled list. Nothing trades from 20:00 to 04:00 New York time, so the date change is the start
  of the next session as far as any value can tell.
* **Settlement**: US stocks settle T+1 (since 28 May 2024), so a trade's net cash is unsettled until
  the next business day (weekdays; exchange holidays are not modelled in the books).
* **The Special Memorandum Account** (Reg T): it opens at the starting cash; each fill debits 50% of
  the gross position value it adds (credits 50% of what it removes) and its commission; at a new day
  it is raised to the previous close's excess equity (RegTEquity - RegTMargin) when that is higher,
  the first time the caller supplies previous closes that day, so market gains credit it and losses
  never debit it.
* **Day trades** (FINRA's pattern-day-trader rule): an execution that reduces a position opened
  earlier the same day counts as one day trade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ibbot.exchange.account import (
    DAY_TRADES_ALLOWED,
    INITIAL_MARGIN_RATE,
    REG_T_MARGIN_RATE,
    AccountFigures,
    PositionPnL,
    account_tags,
    cents,
)
from ibbot.exchange.events import PortfolioItem, PositionChanged
from ibbot.exchange.rejections import REJECT_PREFIX
from ibbot.models.frozen import builder

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ibbot.exchange.orders import OrderRequest

__all__ = ["Ledger", "trading_day"]

# US stocks trade on New York time: its date is the trading day of every fill and valuation.
MARKET_ZONE = ZoneInfo("America/New_York")
# The pattern-day-trader window: day trades count for five business days, today included.
DAY_TRADE_WINDOW = 5
_SATURDAY = 5


def trading_day(now: datetime) -> date:
    """The trading day an instant belongs to: its New York date."""
    return now.astimezone(MARKET_ZONE).date()


def _add_business_days(day: date, count: int) -> date:
    """``count`` weekdays after (before, when negative) the business day on or before ``day``.

    In closed form (whole weeks of 7 days, then the rest, stepping over one weekend when the rest
    crosses it): a long backtest asks for a new day at every fill, so a cache would only miss.
    Counted in day ordinals: a timedelta made per call cost as much as the rest."""
    ordinal = day.toordinal()
    weekday = day.weekday()
    if weekday >= _SATURDAY:  # from the Friday before
        ordinal -= weekday - _SATURDAY + 1
        weekday = _SATURDAY - 1
    weeks, rest = divmod(abs(count), 5)
    if count >= 0:
        days = 7 * weeks + rest + (2 if weekday + rest >= _SATURDAY else 0)
    else:
        days = -(7 * weeks + rest + (2 if weekday - rest < 0 else 0))
    return date.fromordinal(ordinal + days)


_position_changed = builder(PositionChanged)  # one per fill: without the per-field cost


@dataclass(slots=True)
class _Position:
    updated: datetime
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized: float = 0.0


@dataclass(slots=True)
class _Day:
    """What the books know of the current trading day (everything here restarts at a new day)."""

    day: date | None = None
    open_cash: float = 0.0
    open_quantity: dict[str, float] = field(default_factory=dict)
    # net cash of today's fills per symbol (proceeds minus cost and commission)
    flows: dict[str, float] = field(default_factory=dict)
    # P&L today's fills realized, per symbol that traded today
    realized: dict[str, float] = field(default_factory=dict)
    # signed quantity opened today and still held, per symbol (what a day trade closes)
    opened: dict[str, float] = field(default_factory=dict)
    # SMA debits and credits of today's fills, and whether the previous close raised the SMA yet
    sma_change: float = 0.0
    sma_raised: bool = False


class Ledger:
    """One account's books: every fill lands here, every account and portfolio query reads here."""

    def __init__(self, account: str, cash: float, currency: str) -> None:
        self._account = account
        self._cash = cash
        self._currency = currency
        self._positions: dict[str, _Position] = {}
        self._marks: dict[str, float] = {}
        # (stock value, gross value) of the positions at their marks, as margin_problem sums them;
        # None once a position or a held symbol's mark changes (see margin_problem)
        self._held_values: tuple[float, float] | None = None
        self._today = _Day(open_cash=cash)
        # (settlement date, net cash) of trades not yet settled
        self._unsettled: list[tuple[date, float]] = []
        # the SMA at the start of the current day, before today's fills
        self._sma = cash
        self._day_trades: dict[date, int] = {}

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
        position = self._positions.get(symbol)
        if position is not None and position.quantity:  # the margin check's sums skip the others
            self._held_values = None

    def set_marks(self, marks: Iterable[tuple[str, float]]) -> None:
        """:meth:`set_mark` for each ``(symbol, price)``, in order."""
        own, positions = self._marks, self._positions
        for symbol, price in marks:
            own[symbol] = price
            position = positions.get(symbol)
            if position is not None and position.quantity:
                self._held_values = None

    def last_mark(self, symbol: str) -> float | None:
        """The last trade seen in ``symbol``, if any."""
        return self._marks.get(symbol)

    def marks(self) -> dict[str, float]:
        """The last trade seen in every symbol, by symbol."""
        return dict(sorted(self._marks.items()))

    def roll(self, now: datetime) -> None:
        """Start a new trading day if ``now`` falls on a later one than the books have seen."""
        day = trading_day(now)
        today = self._today
        if today.day is not None and day <= today.day:
            return
        self._sma += today.sma_change
        self._today = _Day(
            day=day,
            open_cash=self._cash,
            open_quantity={s: p.quantity for s, p in self._positions.items() if p.quantity},
        )
        self._unsettled = [
            (settles, amount) for settles, amount in self._unsettled if settles > day
        ]
        if self._day_trades:
            oldest = _add_business_days(day, -DAY_TRADE_WINDOW)
            self._day_trades = {d: n for d, n in self._day_trades.items() if d >= oldest}

    def book(
        self, symbol: str, signed: float, price: float, commission: float, now: datetime
    ) -> float:
        """Apply one fill to cash and the position (its price is the new mark); return its realized P&L."""
        self.roll(now)
        today = self._today
        assert today.day is not None  # rolled just above
        self._marks[symbol] = price
        self._held_values = None
        amount = -(signed * price + commission)
        self._cash += amount
        self._unsettled.append((_add_business_days(today.day, 1), amount))
        today.flows[symbol] = today.flows.get(symbol, 0.0) + amount
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
        today.realized[symbol] = today.realized.get(symbol, 0.0) + realized
        today.sma_change -= REG_T_MARGIN_RATE * (abs(position.quantity) - abs(held)) * price
        today.sma_change -= commission
        self._count_day_trade(symbol, held, signed)
        return realized

    def _count_day_trade(self, symbol: str, held: float, signed: float) -> None:
        today = self._today
        assert today.day is not None
        opened = today.opened.get(symbol, 0.0)
        if held == 0 or (held > 0) == (signed > 0):
            today.opened[symbol] = opened + signed
            return
        closing = min(abs(signed), abs(held))
        if opened and (opened > 0) == (held > 0):
            self._day_trades[today.day] = self._day_trades.get(today.day, 0) + 1
            opened = max(0.0, abs(opened) - closing) * (1 if opened > 0 else -1)
        rest = abs(signed) - closing  # what flips the position opens anew today
        today.opened[symbol] = opened + rest * (1 if signed > 0 else -1)

    def position(self, symbol: str, now: datetime) -> PositionChanged:
        """The position in ``symbol`` as IB reports it after a change at ``now``."""
        p = self._positions[symbol]
        return _position_changed(self._account, symbol, p.quantity, p.avg_cost, now, p.realized)

    def positions(self) -> list[PositionChanged]:
        """The position in every symbol traded (closed ones stay listed at zero, as IB lists them)."""
        return [
            PositionChanged(self._account, symbol, p.quantity, p.avg_cost, p.updated, p.realized)
            for symbol, p in sorted(self._positions.items())
        ]

    def account_values(
        self,
        marks: Mapping[str, float],
        now: datetime | None = None,
        closes: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """IB's account tags, valuing positions at ``marks`` (else the last price seen).

        ``now`` rolls the books to its trading day first; ``closes`` are the previous regular
        closes of the symbols held at the day's start (else their last price seen), the basis of
        PreviousDayEquityWithLoanValue and of the SMA's daily raise.
        """
        if now is not None:
            self.roll(now)
        return account_tags(self._figures(marks, closes))

    def _figures(
        self, marks: Mapping[str, float], closes: Mapping[str, float] | None
    ) -> AccountFigures:
        stock_value = 0.0
        gross = 0.0
        unrealized = 0.0
        for symbol, position in self._positions.items():
            if position.quantity == 0:
                continue
            price = self._mark(symbol, marks)
            stock_value += position.quantity * price
            gross += abs(position.quantity) * price
            unrealized += (price - position.avg_cost) * position.quantity
        today = self._today
        opening = {s: (q, self._close(s, closes)) for s, q in today.open_quantity.items()}
        previous_equity = today.open_cash + sum(q * c for q, c in opening.values())
        if closes is not None and not today.sma_raised:
            previous_margin = REG_T_MARGIN_RATE * sum(abs(q) * c for q, c in opening.values())
            self._sma = max(self._sma, previous_equity - previous_margin)
            today.sma_raised = True
        unsettled = sum(
            a for settles, a in self._unsettled if today.day is None or settles > today.day
        )
        return AccountFigures(
            cash=self._cash,
            settled_cash=self._cash - unsettled,
            stock_value=stock_value,
            gross_value=gross,
            unrealized=unrealized,
            realized_today=sum(today.realized.values()),
            previous_day_equity=previous_equity,
            sma=self._sma + today.sma_change,
            day_trades_left=self._day_trades_left(),
        )

    def _day_trades_left(self) -> tuple[int, int, int, int, int]:
        """Day trades left today and one to four business days ahead, under the 3-in-5 rule."""
        today = self._today.day
        if today is None or not self._day_trades:  # no day trade in the window: all allowed
            return (DAY_TRADES_ALLOWED,) * 5
        left: list[int] = []
        for ahead in range(5):
            last = _add_business_days(today, ahead)
            first = _add_business_days(last, 1 - DAY_TRADE_WINDOW)
            used = sum(n for d, n in self._day_trades.items() if first <= d <= last)
            left.append(max(0, DAY_TRADES_ALLOWED - used))
        return left[0], left[1], left[2], left[3], left[4]

    def pnl(
        self,
        marks: Mapping[str, float],
        closes: Mapping[str, float],
        now: datetime | None = None,
    ) -> list[PositionPnL]:
        """IB's P&L per symbol held or traded today, at ``marks`` against the previous ``closes``.

        A symbol held at the day's start earns from its previous close (``closes``, else its last
        price seen); one opened today from its trade prices. Commissions are part of both daily and
        realized P&L, as in IB's figures.
        """
        if now is not None:
            self.roll(now)
        today = self._today
        symbols = {s for s, p in self._positions.items() if p.quantity}
        symbols |= today.open_quantity.keys() | today.realized.keys()
        return [self.position_pnl(symbol, marks, closes) for symbol in sorted(symbols)]

    def position_pnl(
        self, symbol: str, marks: Mapping[str, float], closes: Mapping[str, float]
    ) -> PositionPnL:
        """One symbol's P&L (a symbol never traded has none: all zero, realized unset)."""
        position = self._positions.get(symbol)
        if position is None:
            return PositionPnL(symbol, 0.0, 0.0, 0.0, None, 0.0)
        today = self._today
        quantity = position.quantity
        price = self._mark(symbol, marks)
        value = quantity * price
        opening = today.open_quantity.get(symbol, 0.0)
        start = opening * self._close(symbol, closes) if opening else 0.0
        return PositionPnL(
            symbol=symbol,
            position=quantity,
            daily=value - start + today.flows.get(symbol, 0.0),
            unrealized=(price - position.avg_cost) * quantity if quantity else 0.0,
            realized=today.realized.get(symbol),
            value=value,
        )

    def portfolio(
        self, marks: Mapping[str, float], now: datetime | None = None
    ) -> list[PortfolioItem]:
        """Every position valued at ``marks`` (else the last price seen), as IB's updatePortfolio.

        Realized P&L is today's, as in IB's account window (it resets once a day).
        """
        if now is not None:
            self.roll(now)
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
                    realized_pnl=self._today.realized.get(symbol, 0.0),
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
        # GrossPositionValue and EquityWithLoanValue exactly as account_tags rounds them, without
        # the other tags (this runs for every order that adds exposure)
        # (the order's symbol valued at ``price``, every other at its last mark: _mark inlined).
        # The sums over the holdings are kept until a position or a held symbol's mark changes:
        # the orders of one instant see the same positions and marks, so the later ones reuse the
        # first one's sums, term for term the same floats added in the same order. They apply
        # unless the order's own symbol is held and ``price`` is not its mark (a limit price).
        values = self._held_values
        mark_price = not held or (price == self._marks[request.symbol] and price != 0.0)
        if values is None or not mark_price:
            values = self._holdings_value(request.symbol, price)
            if mark_price:
                self._held_values = values
        stock_value, gross_value = values
        equity = cents(cents(self._cash) + cents(stock_value))
        gross = cents(gross_value) - abs(held) * price + abs(after) * price
        initial = INITIAL_MARGIN_RATE * gross
        if initial <= equity:
            return None
        return (
            f"{REJECT_PREFIX}YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
            f"YOUR EQUITY WITH LOAN VALUE [{equity:.2f} {self._currency}] MUST EXCEED THE INITIAL "
            f"MARGIN [{initial:.2f} {self._currency}]"
        )

    def _holdings_value(self, ordered: str, price: float) -> tuple[float, float]:
        """Stock value and gross value of the positions, ``ordered`` at ``price``, every other
        symbol at its last mark."""
        last_marks = self._marks
        stock_value = gross_value = 0.0
        for symbol, held_position in self._positions.items():
            quantity = held_position.quantity
            if quantity == 0:
                continue
            mark = price if symbol == ordered else last_marks[symbol]
            stock_value += quantity * mark
            gross_value += abs(quantity) * mark
        return stock_value, gross_value

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

    def _close(self, symbol: str, closes: Mapping[str, float] | None) -> float:
        price = None if closes is None else closes.get(symbol)
        return self._marks[symbol] if price is None else price
