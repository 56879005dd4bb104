"""A statement of the strategies' positions and P&L, read from a store while ibbot is not running.

It is what the position book said at its last save, brought up to date with the fills audited
since (a run killed before its last save still shows every fill it audited: each execution id
counts once), and marked at the last price the store knows for each symbol at that time: the close
of the latest stored bar, of any bar size, at or before the moment the statement is as of. For a
gateway's store the book is its account's; for the embedded simulator's, it is the last run's (each
run trades a fresh paper account, so the statement is where that run ended).

Per strategy: each open position (quantity, average cost, price, market value, unrealized P&L),
the realized P&L (net of commissions) since the book began, and its equity: allocated capital plus
realized and unrealized P&L (capital as configured now; unknown for a strategy no longer
configured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.errors import StoreError
from ibbot.live.state import BOOK_STATE
from ibbot.models import Fill, from_dict
from ibbot.trading import PositionBook

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ibbot.models import PriceBar
    from ibbot.store import DataStore

__all__ = ["PositionLine", "Statement", "StrategyLine", "read_statement"]

log = structlog.get_logger(__name__)

_FILLS: Final = "fills"
# How far before the save audited fills are replayed (as at a restart) and how far back a price is
# looked for.
_REPLAY_MARGIN: Final = timedelta(minutes=5)
_PRICE_LOOKBACK: Final = timedelta(days=31)
_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PositionLine:
    """One open position of one strategy, marked at the last known price (None: no price)."""

    symbol: str
    quantity: float
    avg_cost: float
    price: float | None
    price_time: datetime | None

    @property
    def market_value(self) -> float | None:
        """Quantity times price."""
        return None if self.price is None else self.quantity * self.price

    @property
    def unrealized_pnl(self) -> float | None:
        """(price - average cost) x quantity."""
        return None if self.price is None else (self.price - self.avg_cost) * self.quantity


@dataclass(frozen=True, slots=True)
class StrategyLine:
    """One strategy's (or the unattributed holder's) positions and P&L."""

    strategy: str
    positions: tuple[PositionLine, ...]
    realized_pnl: float
    capital: float | None

    @property
    def unrealized_pnl(self) -> float:
        """The open positions' unrealized P&L (positions without a price count 0)."""
        return sum(p.unrealized_pnl or 0.0 for p in self.positions)

    @property
    def equity(self) -> float | None:
        """Capital plus realized and unrealized P&L (None without a configured capital)."""
        if self.capital is None:
            return None
        return self.capital + self.realized_pnl + self.unrealized_pnl


@dataclass(frozen=True, slots=True)
class Statement:
    """The whole statement: whose book, as of when, and each strategy's line."""

    world: str
    run_id: str | None
    saved_at: datetime
    as_of: datetime
    replayed: int
    """How many fills audited after the save were booked (not in the saved book yet)."""
    strategies: tuple[StrategyLine, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "world": self.world,
            "run_id": self.run_id,
            "saved_at": self.saved_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "fills_replayed": self.replayed,
            "strategies": [
                {
                    "strategy": line.strategy,
                    "capital": line.capital,
                    "realized_pnl": line.realized_pnl,
                    "unrealized_pnl": line.unrealized_pnl,
                    "equity": line.equity,
                    "positions": [
                        {
                            "symbol": p.symbol,
                            "quantity": p.quantity,
                            "avg_cost": p.avg_cost,
                            "price": p.price,
                            "price_time": _iso(p.price_time),
                            "market_value": p.market_value,
                            "unrealized_pnl": p.unrealized_pnl,
                        }
                        for p in line.positions
                    ],
                }
                for line in self.strategies
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def read_statement(store: DataStore, capital: Mapping[str, float]) -> Statement | None:
    """The statement of the book saved in ``store`` (None when none is saved).

    ``capital`` is each configured strategy's allocated capital. Raises
    :class:`~ibbot.errors.StoreError` when the saved book cannot be read.
    """
    saved = store.load_strategy_state(BOOK_STATE)
    if saved is None:
        return None
    world = str(saved.get("world", ""))
    run_id = saved.get("run_id") if isinstance(saved.get("run_id"), str) else None
    try:
        book = PositionBook.load(saved["book"])
        saved_at = datetime.fromisoformat(saved["saved_at"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(
            f"the saved position book (state/{BOOK_STATE}.json) cannot be read: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    fills = _fills_since(store, world, run_id, saved_at)
    # Fills audited just before the save are in the book already: each exec id counts once.
    booked = sum(book.apply_fill(fill) is not None for fill in fills)
    as_of = max([saved_at, *(f.timestamp for f in fills)])
    prices: dict[str, tuple[float, datetime]] = {}
    lines = []
    for strategy in book.strategies():
        positions = []
        for symbol, position in sorted(book.positions(strategy).items()):
            if position.is_flat:
                continue
            if symbol not in prices:
                bar = _last_bar(store, symbol, as_of)
                if bar is not None:
                    prices[symbol] = (bar.close, bar.end)
            price, when = prices.get(symbol, (None, None))
            positions.append(
                PositionLine(symbol, position.quantity, position.avg_cost, price, when)
            )
        realized = book.realized_pnl(strategy)
        lines.append(StrategyLine(strategy, tuple(positions), realized, capital.get(strategy)))
    return Statement(world, run_id, saved_at, as_of, booked, tuple(lines))


def _fills_since(
    store: DataStore, world: str, run_id: str | None, saved_at: datetime
) -> list[Fill]:
    """The fills of the book's account (a gateway's) or run (the simulator's) audited since the save."""
    pseudonym = world.removeprefix("account:") if world.startswith("account:") else None
    found = []
    for entry in store.read_audit(_FILLS, since=saved_at - _REPLAY_MARGIN):
        record = entry.record
        mine = (
            record.get("account") in ("", pseudonym)
            if pseudonym is not None
            else run_id is not None and entry.run_id == run_id
        )
        if not mine:
            continue
        try:
            found.append(from_dict(Fill, dict(record)))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "statement.fill_unreadable", logged_at=entry.logged_at.isoformat(), error=str(exc)
            )
    return found


def _last_bar(store: DataStore, symbol: str, as_of: datetime) -> PriceBar | None:
    """The latest stored bar of ``symbol`` that had closed by ``as_of``."""
    try:
        bars = store.read_bars(symbol, as_of - _PRICE_LOOKBACK, as_of + _MICROSECOND)
    except ValueError:  # a name that is not a symbol (a book from elsewhere): no price
        return None
    closed = [bar for bar in bars if bar.end <= as_of + _MICROSECOND]
    return max(closed, key=lambda bar: bar.end) if closed else None
