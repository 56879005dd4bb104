"""The benchmark a backtest is compared with: buying and holding, from the first bar to the last.

By default the traded symbols themselves, equal weight: the starting cash is split evenly between
the run's symbols and each share is bought at its symbol's first close (a symbol whose bars start
later waits in cash until then); ``--benchmark SYMBOL`` buys that one symbol instead. No
commission, fractional shares: the benchmark is the market's path, not a trade. Its value is taken
at the end of each trading day (as :func:`~ibbot.backtest.metrics.daily_equity` takes the
strategy's), so the two compare day by day; an intraday benchmark also keeps its value after each
instant of its bars, so the report can chart it at the run's own resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ibbot.backtest.feed_arrays import FeedArrays
from ibbot.backtest.metrics import (
    TRADING_DAYS_PER_YEAR,
    DailyEquity,
    daily_returns,
    dates_of,
    day_ends,
    day_numbers,
    drawdown_curve,
    squares,
)

if TYPE_CHECKING:
    from ibbot.backtest.feed import BarFeed


__all__ = ["Benchmark", "buy_and_hold"]

_IntArray = np.ndarray[Any, np.dtype[np.int64]]
_FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A buy-and-hold curve: what it holds (``label``) and its value at each trading day's end.

    ``micros`` and ``equity`` are, for intraday bars, its instants (bar starts, microseconds since
    the epoch) and its value after each (None for daily and longer bars: ``daily`` is that)."""

    label: str
    daily: DailyEquity
    micros: _IntArray | None = None
    equity: _FloatArray | None = None

    def at(self, micros: _IntArray, starting_cash: float) -> _FloatArray:
        """Its value after each of ``micros`` (an intraday benchmark's own instants, sorted): the
        value after its latest instant at or before, the starting cash before its first."""
        if self.micros is None or self.equity is None:
            raise ValueError("a benchmark of daily bars has no intraday values")
        before = np.searchsorted(self.micros, micros, side="right") - 1
        values: _FloatArray = np.where(
            before >= 0, self.equity[np.maximum(before, 0)], starting_cash
        )
        return values

    def figures(self, starting_cash: float, years: float) -> dict[str, Any]:
        """Total return, CAGR (None under a day; ``cagr_meaningful`` false under a year, as the
        strategy's), max drawdown (on day ends) and Sharpe."""
        equity = self.daily.equity
        final = equity[-1] if equity else starting_cash
        growth = final / starting_cash
        returns = daily_returns(self.daily, starting_cash)
        mean = sum(returns) / len(returns) if returns else 0.0
        variance = (
            sum(squares(np.asarray(returns, dtype=np.float64) - mean)) / (len(returns) - 1)
            if len(returns) > 1
            else 0.0
        )
        return {
            "label": self.label,
            "final_equity": final,
            "total_return": growth - 1.0,
            "cagr": growth ** (1.0 / years) - 1.0 if years * 365.25 >= 1 and growth > 0 else None,
            "cagr_meaningful": years >= 1,
            "max_drawdown": min(drawdown_curve([starting_cash, *equity]), default=0.0),
            "sharpe": mean / variance**0.5 * TRADING_DAYS_PER_YEAR**0.5 if variance > 0 else None,
        }


def buy_and_hold(
    feed: BarFeed,
    starting_cash: float,
    symbols: list[str] | None = None,
    *,
    arrays: FeedArrays | None = None,
) -> Benchmark:
    """Equal weight in ``symbols`` (default: every symbol of ``feed``) bought at each one's first
    positive close and held (``arrays``: :meth:`FeedArrays.of` ``feed``, if made already).

    Column-wise: each symbol's share count is fixed at its first positive close, its value at a
    day's end is that count times its last close so far, and the holdings are summed in the order
    they were bought (as a running sum from zero would), then added to the cash left.
    """
    columns = arrays if arrays is not None else FeedArrays.of(feed)
    chosen = symbols if symbols is not None else sorted(columns.names)
    slice_ = starting_cash / len(chosen) if chosen else 0.0
    label = (
        f"buy and hold {chosen[0]}"
        if len(chosen) == 1
        else f"buy and hold {len(chosen)} symbols, equal weight"
    )
    chosen_set = set(chosen)
    wanted = [code for code, name in enumerate(columns.names) if name in chosen_set]
    close, micros = columns.close, columns.micros
    groups = [columns.rows(code) for code in wanted]
    if len(wanted) < len(columns.names):  # only the chosen symbols' bars count, days included
        rows = np.sort(np.concatenate([np.zeros(0, dtype=np.int64), *groups]))
        close, micros = close[rows], micros[rows]
        groups = [np.searchsorted(rows, group) for group in groups]  # positions among `rows`
    days = day_numbers(micros, feed.bar_size)
    ends = day_ends(days)
    bought: list[tuple[int, float, np.ndarray[Any, np.dtype[np.int64]]]] = []
    for own in groups:
        positive = np.flatnonzero(close[own] > 0)
        if len(positive):
            first = int(own[positive[0]])
            bought.append((first, slice_ / float(close[first]), own))
    bought.sort(key=lambda purchase: purchase[0])
    cash = [starting_cash]
    for _ in bought:
        cash.append(cash[-1] - slice_)
    firsts = np.asarray([first for first, _, _ in bought], dtype=np.int64)

    def value_after(ends: np.ndarray[Any, np.dtype[np.intp]]) -> _FloatArray:
        """The value after the rows ``ends`` (each the last row of an instant or a day)."""
        holdings = np.zeros(len(ends), dtype=np.float64)
        for first, shares, own in bought:
            last = own[np.maximum(np.searchsorted(own, ends, side="right") - 1, 0)]
            holdings = holdings + np.where(ends >= first, shares * close[last], 0.0)
        left = np.asarray(cash, dtype=np.float64)[np.searchsorted(firsts, ends, side="right")]
        values: _FloatArray = left + holdings
        return values

    equity: list[float] = value_after(ends).tolist()
    daily = DailyEquity(dates_of(days[ends]), equity, days[ends])
    if not feed.bar_size.is_intraday:
        return Benchmark(label, daily)
    instants = day_ends(micros)  # the last row of each instant (the rows are in time order)
    return Benchmark(label, daily, micros[instants], value_after(instants))
