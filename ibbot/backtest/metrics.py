"""The figures a backtest is judged by, each defined here once.

Returns are measured on **trading days**: the equity at the last instant of each day with bars
(the UTC date for daily and longer bars, which start at midnight UTC of their trading date; the
US/Eastern date for intraday bars). Day d's return is ``E_d / E_(d-1) - 1``, the first day's
against the starting cash. Annualisation assumes 252 trading days a year; the risk-free rate is 0.

- ``total_return``: ``final equity / starting cash - 1``.
- ``cagr``: ``(final / starting) ** (1 / years) - 1`` with ``years`` the calendar days from the
  first to the last bar divided by 365.25; null for a run shorter than a day.
- ``annualized_volatility``: sample standard deviation of the daily returns x sqrt(252).
- ``sharpe``: mean daily return / its sample standard deviation x sqrt(252).
- ``sortino``: mean daily return / downside deviation x sqrt(252), the downside deviation being
  ``sqrt(mean(min(r, 0)^2))`` over every day.
- ``max_drawdown``: the deepest fall of the equity curve (every instant, not only day ends) from its
  running peak, ``E_t / max(E_s, s <= t) - 1`` (0 or negative), with the dates of that peak, of the
  trough, and of the recovery (the first instant back at the peak; null if it never was).
- ``trade_count``: executions (rows of ``trades.csv``); ``closed_trades``: executions that reduced a
  position, each with the P&L it realized (see :func:`realized_pnl`).
- ``win_rate``: closed trades with a positive realized P&L / closed trades.
- ``average_win`` / ``average_loss``: the mean realized P&L of the winning / losing closed trades
  (the loss negative); ``expectancy``: the mean realized P&L per closed trade
  (``win_rate x average_win + loss_rate x average_loss``, breakeven trades counting as zero).
- ``open_positions``: what is held after the last bar, each with its last close and market value.
- ``symbols``: per symbol the executions, closed trades, realized P&L, win rate, commissions and the
  position held at the end.
- ``cagr_meaningful``: false for a run shorter than a year, whose CAGR extrapolates a fraction of
  a year to a whole one (the report and the console summary mark it so, in
  :data:`CAGR_NOT_MEANINGFUL`'s words; the benchmark's figures carry their own).
- ``profit_factor``: sum of the positive realized P&Ls / minus the sum of the negative ones (null
  when nothing was lost).
- ``turnover``: traded value (buys and sells) / average equity over the run.
- ``exposure``: the average, over every instant, of gross exposure / equity; ``time_in_market``
  the fraction of instants with any position.

Ratios that cannot be computed (too few days, no variance, no closed trade) are null, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import numpy as np

from ibbot.backtest.builders import utc_from_micros
from ibbot.backtest.result import DecisionOutcome
from ibbot.models import OrderStatus

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ibbot.backtest.result import BacktestResult, EquityCurve
    from ibbot.models import BarSize, Fill

__all__ = [
    "CAGR_NOT_MEANINGFUL",
    "TRADING_DAYS_PER_YEAR",
    "DailyEquity",
    "Drawdown",
    "compute_metrics",
    "daily_equity",
    "daily_returns",
    "dates_of",
    "day_ends",
    "day_numbers",
    "drawdown_curve",
    "epoch_days",
    "last_closes",
    "max_drawdown",
    "monthly_returns",
    "realized_pnl",
    "squares",
    "trading_day",
]

TRADING_DAYS_PER_YEAR: Final = 252
CAGR_NOT_MEANINGFUL: Final = "not meaningful: the run is shorter than a year"
"""What the report and the console say after a CAGR whose ``cagr_meaningful`` is false."""
_MARKET_ZONE = ZoneInfo("America/New_York")
_DAYS_PER_YEAR = 365.25
_DAY_MICROS: Final = 86_400_000_000
_HOUR_MICROS: Final = 3_600_000_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_fromordinal = date.fromordinal


@dataclass(frozen=True, slots=True)
class DailyEquity:
    """The equity at the end of each trading day, oldest first.

    ``numbers`` are the days as days since the epoch when the maker had them (the charts and
    monthly returns want numbers; :func:`epoch_days` makes them from ``days`` otherwise).
    """

    days: list[date]
    equity: list[float]
    numbers: np.ndarray[Any, np.dtype[np.int64]] | None = field(default=None, compare=False)


def epoch_days(daily: DailyEquity) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``daily``'s days as days since the epoch."""
    if daily.numbers is not None:
        return daily.numbers
    ordinals = np.fromiter(map(date.toordinal, daily.days), dtype=np.int64, count=len(daily.days))
    numbers: np.ndarray[Any, np.dtype[np.int64]] = ordinals - _EPOCH_ORDINAL
    return numbers


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest peak-to-trough fall: its depth (<= 0) and when it began, bottomed and ended."""

    depth: float
    peak: datetime | None
    trough: datetime | None
    recovery: datetime | None


def trading_day(micros: int, bar_size: BarSize) -> date:
    """The trading day of an instant: its UTC date for daily and longer bars, else US/Eastern."""
    if bar_size.is_intraday:
        return utc_from_micros(micros).astimezone(_MARKET_ZONE).date()
    return _fromordinal(_EPOCH_ORDINAL + micros // _DAY_MICROS)


def day_numbers(
    micros: Sequence[int] | np.ndarray[Any, np.dtype[np.int64]], bar_size: BarSize
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The trading day of each instant as days since the epoch (see :func:`trading_day`).

    Daily and longer bars: the UTC day, one integer division for the whole column. Intraday: one
    timezone conversion per distinct UTC hour (trading days change on hours), mapped back.
    """
    column = np.asarray(micros, dtype=np.int64)
    if not bar_size.is_intraday:
        days: np.ndarray[Any, np.dtype[np.int64]] = column // _DAY_MICROS
        return days
    hours, inverse = np.unique(column // _HOUR_MICROS, return_inverse=True)
    ordinals = [trading_day(h * _HOUR_MICROS, bar_size).toordinal() for h in hours.tolist()]
    per_hour = np.asarray(ordinals, dtype=np.int64) - _EPOCH_ORDINAL
    return per_hour[inverse.reshape(-1)]


def day_ends(days: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, np.dtype[np.intp]]:
    """The index of the last instant of each run of equal trading days."""
    if not len(days):
        return np.zeros(0, dtype=np.intp)
    return np.append(np.flatnonzero(days[1:] != days[:-1]), len(days) - 1)


def dates_of(days: np.ndarray[Any, np.dtype[np.int64]]) -> list[date]:
    """Days since the epoch as dates (``date.fromordinal`` mapped in C: Arrow's conversion of
    a date column to Python is ten times slower)."""
    return list(map(_fromordinal, (days + _EPOCH_ORDINAL).tolist()))


def daily_equity(curve: EquityCurve, bar_size: BarSize) -> DailyEquity:
    """The last equity of each trading day of ``curve``."""
    days = day_numbers(curve.micros, bar_size)
    ends = day_ends(days)
    equity: list[float] = np.asarray(curve.equity, dtype=np.float64)[ends].tolist()
    return DailyEquity(dates_of(days[ends]), equity, days[ends])


def daily_returns(daily: DailyEquity, starting_cash: float) -> list[float]:
    """Each trading day's return, the first against the starting cash."""
    if not daily.equity:
        return []
    values = np.asarray(daily.equity, dtype=np.float64)
    previous = np.concatenate(([starting_cash], values[:-1]))
    with np.errstate(all="ignore"):
        returns = np.where(previous != 0, values / previous - 1.0, 0.0)
    out: list[float] = returns.tolist()
    return out


def drawdown_curve(equity: Sequence[float] | np.ndarray[Any, np.dtype[np.float64]]) -> list[float]:
    """``E_t / running peak - 1`` at every point (0 at new highs; a NaN never becomes the peak)."""
    if not len(equity):
        return []
    values = np.asarray(equity, dtype=np.float64)
    peaks = np.fmax.accumulate(values)
    with np.errstate(all="ignore"):
        falls = np.where(peaks > 0, values / peaks - 1.0, 0.0)
    out: list[float] = falls.tolist()
    return out


def max_drawdown(curve: EquityCurve, starting_cash: float) -> Drawdown:
    """The deepest drawdown of ``curve``; the starting cash is the peak before the first point.

    A point at or above the running peak is the new peak (the latest of equal ones); the deepest
    fall is the first of equal ones; the recovery is the first point back at that peak.
    """
    equity = np.asarray(curve.equity, dtype=np.float64)
    if not len(equity):
        return Drawdown(0.0, None, None, None)
    with np.errstate(all="ignore"):
        # the peak before each point (a NaN is never a peak, as `value >= peak` is false for it)
        before = np.fmax.accumulate(np.concatenate(([starting_cash], equity)))[:-1]
        new_peak = equity >= before
        falls = np.where(new_peak | np.isnan(equity), np.inf, equity / before - 1.0)
    trough = int(np.argmin(falls))
    depth = float(falls[trough])
    if not depth < 0.0:
        return Drawdown(0.0, None, None, None)
    peaks = np.flatnonzero(new_peak[:trough])
    peak = int(peaks[-1]) if len(peaks) else -1
    target = starting_cash if peak < 0 else float(equity[peak])
    back = np.flatnonzero(equity[trough + 1 :] >= target)
    recovery = None if not len(back) else trough + 1 + int(back[0])
    return Drawdown(
        depth,
        utc_from_micros(curve.micros[max(peak, 0)]),
        utc_from_micros(curve.micros[trough]),
        None if recovery is None else utc_from_micros(curve.micros[recovery]),
    )


def realized_pnl(fills: Sequence[Fill]) -> list[float | None]:
    """The P&L each fill realized for its strategy's position in its symbol (None for openings).

    The arithmetic is the matching engine's (IB's): the average cost includes the commissions
    paid to open, so a closing fill's P&L is net of both legs' commissions; a fill that crosses
    zero realizes its closing part and opens the rest at its price.
    """
    held: dict[tuple[str, str], tuple[float, float]] = {}
    out: list[float | None] = []
    for fill in fills:
        key = (fill.strategy_name, fill.symbol)
        quantity, avg = held.get(key, (0.0, 0.0))
        signed = fill.signed_quantity
        fee = fill.commission or 0.0
        total = quantity + signed
        if quantity == 0 or (quantity > 0) == (signed > 0):
            held[key] = (total, (avg * quantity + fill.price * signed + fee) / total)
            out.append(None)
            continue
        closing = min(abs(signed), abs(quantity))
        closing_fee = fee * closing / abs(signed)
        pnl = closing * (fill.price - avg) * (1.0 if quantity > 0 else -1.0) - closing_fee
        if total == 0:
            avg = 0.0
        elif (total > 0) != (quantity > 0):
            avg = (fill.price * total + (fee - closing_fee)) / total
        held[key] = (total, avg)
        out.append(pnl)
    return out


def monthly_returns(daily: DailyEquity, starting_cash: float) -> dict[int, dict[int, float]]:
    """Year -> month -> that month's return (month-end equity over the previous month-end's)."""
    table: dict[int, dict[int, float]] = {}
    if not daily.days:
        return table
    months = epoch_days(daily).astype("datetime64[D]").astype("datetime64[M]")
    numbers = months.astype(np.int64)  # months since January 1970, one run per month
    ends = day_ends(numbers)
    values = np.asarray(daily.equity, dtype=np.float64)[ends]
    previous = np.concatenate(([starting_cash], values[:-1]))
    with np.errstate(all="ignore"):
        returns = (values / previous - 1.0).tolist()
    for number, value in zip(numbers[ends].tolist(), returns, strict=True):
        table.setdefault(1970 + number // 12, {})[number % 12 + 1] = value
    return table


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _stdev(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = _mean(values)
    return math.sqrt(sum(squares(np.asarray(values, dtype=np.float64) - mean)) / (len(values) - 1))


def squares(values: np.ndarray[Any, np.dtype[np.float64]]) -> Iterator[float]:
    """``v ** 2`` of each value, by Python's own ``pow`` (the C library's, which is not always
    ``v * v`` to the last bit), mapped in C; summed by Python's ``sum``, whose order and rounding
    the figures keep on every Python version."""
    return map(pow, values.tolist(), repeat(2))


def _ratio(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or denominator == 0 or not math.isfinite(denominator):
        return None
    value = numerator / denominator
    return value if math.isfinite(value) else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _trade_stats(pnls: Sequence[float]) -> dict[str, Any]:
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    return {
        "closed_trades": len(pnls),
        "win_rate": len(wins) / len(pnls) if pnls else None,
        "profit_factor": _ratio(sum(wins), -sum(losses)) if losses else None,
        "realized_pnl": sum(pnls),
        "average_win": _mean(wins) if wins else None,
        "average_loss": _mean(losses) if losses else None,
        "expectancy": _mean(pnls) if pnls else None,
    }


def last_closes(result: BacktestResult) -> dict[str, float]:
    """Each symbol's last close of the run (empty without the feed)."""
    feed = result.feed
    if feed is None:
        return {}
    wanted = set(result.symbols)
    closes: dict[str, float] = {}
    for index in range(len(feed) - 1, -1, -1):
        symbol = feed.symbols[index]
        if symbol not in closes:
            closes[symbol] = feed.close[index]
            if len(closes) == len(wanted):
                break
    return closes


def _per_symbol(
    result: BacktestResult, pnls: Sequence[float | None], closes: dict[str, float]
) -> dict[str, dict[str, Any]]:
    fills: dict[str, list[int]] = {symbol: [] for symbol in result.symbols}
    for index, fill in enumerate(result.fills):
        fills.setdefault(fill.symbol, []).append(index)
    out: dict[str, dict[str, Any]] = {}
    for symbol, own in fills.items():
        stats = _trade_stats([p for i in own if (p := pnls[i]) is not None])
        held = result.final_positions.get(symbol, 0.0)
        close = closes.get(symbol)
        out[symbol] = {
            "trade_count": len(own),
            "closed_trades": stats["closed_trades"],
            "realized_pnl": stats["realized_pnl"],
            "win_rate": stats["win_rate"],
            "commissions": sum(result.fills[i].commission or 0.0 for i in own),
            "position": held,
            "market_value": None if close is None else held * close,
        }
    return out


def compute_metrics(
    result: BacktestResult,
    *,
    daily: DailyEquity | None = None,
    pnls: list[float | None] | None = None,
) -> dict[str, Any]:
    """Every figure of the module docstring, with the run's settings, as JSON-ready data.

    ``daily`` and ``pnls`` are :func:`daily_equity` and :func:`realized_pnl` of ``result`` when
    the caller has them already (the outputs need them too).
    """
    config = result.config
    start_cash = config.starting_cash
    curve = result.equity
    if daily is None:
        daily = daily_equity(curve, result.bar_size)
    returns = daily_returns(daily, start_cash)
    final = result.final_equity
    span_days = (result.last_bar - result.first_bar) / timedelta(days=1)
    years = span_days / _DAYS_PER_YEAR
    growth = final / start_cash
    stdev = _stdev(returns)
    mean = _mean(returns) if returns else 0.0
    downside = (
        math.sqrt(
            sum(squares(np.minimum(np.asarray(returns, dtype=np.float64), 0.0))) / len(returns)
        )
        if returns
        else None
    )
    annual = math.sqrt(TRADING_DAYS_PER_YEAR)
    drawdown = max_drawdown(curve, start_cash)
    if pnls is None:
        pnls = realized_pnl(result.fills)
    closed = [p for p in pnls if p is not None]
    traded = sum(fill.notional for fill in result.fills)
    average_equity = _mean(curve.equity) if curve.equity else start_cash
    gross = np.asarray(curve.gross, dtype=np.float64)
    equity = np.asarray(curve.equity, dtype=np.float64)
    if len(gross) != len(equity):
        raise ValueError("equity curve columns of different lengths")
    with np.errstate(all="ignore"):
        exposures: list[float] = np.where(equity > 0, gross / equity, 0.0).tolist()
    statuses = [order.status for order in result.orders]
    per_strategy: dict[str, dict[str, Any]] = {}
    for spec in config.strategies:
        own = [i for i, fill in enumerate(result.fills) if fill.strategy_name == spec.name]
        stats = _trade_stats([p for i in own if (p := pnls[i]) is not None])
        per_strategy[spec.name] = {
            "allocated_capital": spec.allocated_capital,
            "trade_count": len(own),
            **stats,
            "commissions": sum(result.fills[i].commission or 0.0 for i in own),
        }
    trade_stats = _trade_stats(closed)
    closes = last_closes(result)
    return {
        "period": {
            "start": config.start.date().isoformat(),
            "end": config.last_day.date().isoformat(),
            "first_bar": result.first_bar.isoformat(),
            "last_bar": result.last_bar.isoformat(),
            "bar_size": result.bar_size.value,
            "bars": result.bars,
            "trading_days": len(daily.days),
            "years": years,
            "symbols": list(result.symbols),
        },
        "starting_cash": start_cash,
        "final_equity": final,
        "total_return": growth - 1.0,
        "cagr": growth ** (1.0 / years) - 1.0
        if years * _DAYS_PER_YEAR >= 1 and growth > 0
        else None,
        "cagr_meaningful": years >= 1,
        "annualized_volatility": None if stdev is None else stdev * annual,
        "sharpe": None if (r := _ratio(mean, stdev)) is None else r * annual,
        "sortino": None if (r := _ratio(mean, downside)) is None else r * annual,
        "max_drawdown": {
            "depth": drawdown.depth,
            "peak": _iso(drawdown.peak),
            "trough": _iso(drawdown.trough),
            "recovery": _iso(drawdown.recovery),
        },
        "trade_count": len(result.fills),
        "closed_trades": trade_stats["closed_trades"],
        "win_rate": trade_stats["win_rate"],
        "profit_factor": trade_stats["profit_factor"],
        "average_win": trade_stats["average_win"],
        "average_loss": trade_stats["average_loss"],
        "expectancy": trade_stats["expectancy"],
        "open_positions": [
            {
                "symbol": symbol,
                "quantity": quantity,
                "last_close": closes.get(symbol),
                "market_value": None if symbol not in closes else quantity * closes[symbol],
            }
            for symbol, quantity in result.final_positions.items()
            if quantity
        ],
        "turnover": traded / average_equity if average_equity > 0 else None,
        "exposure": _mean(exposures) if exposures else 0.0,
        "time_in_market": (
            int(np.count_nonzero(gross > 0)) / len(curve.gross) if curve.gross else 0.0
        ),
        "commissions": sum(fill.commission or 0.0 for fill in result.fills),
        "decisions": len(result.decisions),
        "orders": {
            "sent": len(result.orders),
            "filled": statuses.count(OrderStatus.FILLED),
            "cancelled": statuses.count(OrderStatus.CANCELLED),
            "rejected": statuses.count(OrderStatus.REJECTED),
            "open": sum(1 for s in statuses if not s.is_terminal),
            "blocked": sum(1 for d in result.decisions if d.outcome is DecisionOutcome.BLOCKED),
        },
        "strategies": per_strategy,
        "symbols": _per_symbol(result, pnls, closes),
        "warnings": list(result.warnings),
        "settings": {
            "commission": str(config.commission),
            "slippage_bps": config.slippage_bps,
            "strategies": [
                {
                    "name": spec.name,
                    "class_path": spec.class_path,
                    "allocated_capital": spec.allocated_capital,
                    "params": dict(spec.params),
                }
                for spec in config.strategies
            ],
        },
    }
