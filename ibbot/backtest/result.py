"""What a backtest produced: the equity curve, the fills, every decision and its fate, the orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ibbot.backtest.broker import BrokerOrder
from ibbot.backtest.config import BacktestConfig
from ibbot.backtest.feed import BarFeed
from ibbot.models import BarSize, Decision, Fill, Order
from ibbot.trading import DecisionOutcome, RiskVerdict

__all__ = ["BacktestResult", "DecisionOutcome", "DecisionRecord", "EquityCurve"]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision, the sizing sentence, the order it led to and the risk gate's verdict."""

    decision: Decision
    outcome: DecisionOutcome
    sizing: str
    order: Order | None = None
    verdict: RiskVerdict | None = None
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """The account after each replayed instant, as parallel columns.

    ``micros`` is the instant (bar start, microseconds since the epoch, UTC); ``equity`` the net
    liquidation value (cash plus positions at their latest close); ``gross`` the gross exposure
    (the sum of the absolute position values).
    """

    micros: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    cash: list[float] = field(default_factory=list)
    gross: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.micros)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Everything one run produced, ready for the metrics and the report.

    ``first_bar`` and ``last_bar`` are the starts of the first and last bars replayed; ``feed``
    the bars replayed (the report charts each symbol's prices and the buy-and-hold benchmark from
    them); ``warnings`` the lines that say why a strategy may have decided nothing (e.g. it needs
    fundamentals and the store had none).
    """

    config: BacktestConfig
    bar_size: BarSize
    symbols: tuple[str, ...]
    bars: int
    first_bar: datetime
    last_bar: datetime
    equity: EquityCurve
    fills: tuple[Fill, ...]
    decisions: tuple[DecisionRecord, ...]
    orders: tuple[BrokerOrder, ...]
    final_positions: dict[str, float]
    final_cash: float
    feed: BarFeed | None = None
    warnings: tuple[str, ...] = ()

    @property
    def starting_cash(self) -> float:
        """The account's cash before the first bar."""
        return self.config.starting_cash

    @property
    def final_equity(self) -> float:
        """Net liquidation value after the last bar."""
        return self.equity.equity[-1] if self.equity.equity else self.config.starting_cash
