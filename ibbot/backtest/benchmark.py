"""The benchmark a backtest is compared with: buying and holding, from the first bar to the last.

By default the traded symbols themselves, equal weight: the starting cash is split evenly between
the run's symbols and each share is bought at its symbol's first close (a symbol whose bars start
later waits in cash until then); ``--benchmark SYMBOL`` buys that one symbol instead. No
commission, fractional shares: the benchmark is the market's path, not a trade. Its value is taken
at the end of each trading day (as :func:`~ibbot.backtest.metrics.daily_equity` takes the
strategy's), so the two compare day by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ibbot.backtest.metrics import (
    TRADING_DAYS_PER_YEAR,
    DailyEquity,
    daily_returns,
    drawdown_curve,
    trading_day,
)

if TYPE_CHECKING:
    from ibbot.backtest.feed import BarFeed

_DAY_MICROS = 86_400_000_000
_HOUR_MICROS = 3_600_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_fromordinal = date.fromordinal

__all__ = ["Benchmark", "buy_and_hold"]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A buy-and-hold curve: what it holds (``label``) and its value at each trading day's end."""

    label: str
    daily: DailyEquity

    def figures(self, starting_cash: float, years: float) -> dict[str, Any]:
        """Total return, CAGR (None under a day), max drawdown (on day ends) and Sharpe."""
        equity = self.daily.equity
        final = equity[-1] if equity else starting_cash
        growth = final / starting_cash
        returns = daily_returns(self.daily, starting_cash)
        mean = sum(returns) / len(returns) if returns else 0.0
        variance = (
            sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) if len(returns) > 1 else 0.0
        )
        return {
            "label": self.label,
            "final_equity": final,
            "total_return": growth - 1.0,
            "cagr": growth ** (1.0 / years) - 1.0 if years * 365.25 >= 1 and growth > 0 else None,
            "max_drawdown": min(drawdown_curve([starting_cash, *equity]), default=0.0),
            "sharpe": mean / variance**0.5 * TRADING_DAYS_PER_YEAR**0.5 if variance > 0 else None,
        }


def buy_and_hold(
    feed: BarFeed, starting_cash: float, symbols: list[str] | None = None
) -> Benchmark:
    """Equal weight in ``symbols`` (default: every symbol of ``feed``) bought at each one's first
    close and held."""
    chosen = symbols if symbols is not None else feed.universe
    wanted = set(chosen)
    slice_ = starting_cash / len(chosen) if chosen else 0.0
    cash = starting_cash
    shares: dict[str, float] = {}
    last: dict[str, float] = {}
    days: list[date] = []
    equity: list[float] = []
    bar_size = feed.bar_size
    intraday = bar_size.is_intraday
    # trading days change on UTC days (daily bars) or on hours (intraday): convert once per key
    unit = _HOUR_MICROS if intraday else _DAY_MICROS
    last_key = None
    for symbol, micros, close in zip(feed.symbols, feed.micros, feed.close, strict=True):
        if symbol not in wanted:
            continue
        key = micros // unit
        if key != last_key:
            last_key = key
            # a daily bar's trading day is its UTC date: trading_day's own rule, without the call
            day = trading_day(micros, bar_size) if intraday else _fromordinal(_EPOCH_ORDINAL + key)
            if not days or days[-1] != day:
                if days:
                    equity[-1] = cash + sum([shares[s] * last[s] for s in shares])
                days.append(day)
                equity.append(0.0)
        if symbol not in shares and close > 0:
            shares[symbol] = slice_ / close
            cash -= slice_
        last[symbol] = close
    if days:
        equity[-1] = cash + sum([shares[s] * last[s] for s in shares])
    label = (
        f"buy and hold {chosen[0]}"
        if len(chosen) == 1
        else f"buy and hold {len(chosen)} symbols, equal weight"
    )
    return Benchmark(label, DailyEquity(days, equity))
