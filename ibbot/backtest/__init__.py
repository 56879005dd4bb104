"""Backtesting: the live strategies and trading layer over stored data, with a simulated broker.

:func:`run_backtest` replays stored bars (and fundamentals as of each bar) through the strategies
built from settings, sizing, the risk gate and :class:`SimulatedBroker` (the simulator's matching
engine, in-process); :func:`compute_metrics` and :func:`write_outputs` turn the result into
``trades.csv``, ``equity.csv``, ``metrics.json``, ``decisions.jsonl``, ``report.html`` and
``report.png``. See :mod:`ibbot.backtest.replay` for the order of events and
:mod:`ibbot.backtest.broker` for the fill semantics.
"""

from ibbot.backtest.broker import BACKTEST_ACCOUNT, BrokerOrder, SimulatedBroker
from ibbot.backtest.commission import CommissionKind, CommissionModel
from ibbot.backtest.config import (
    DEFAULT_ALLOCATION,
    BacktestConfig,
    StrategySpec,
    risk_limits,
    select_strategies,
)
from ibbot.backtest.errors import BacktestError, BacktestInputError
from ibbot.backtest.feed import BarFeed, load_bars, load_fundamentals
from ibbot.backtest.replay import SOURCE, Backtest, ProgressCallback, run_backtest
from ibbot.backtest.result import BacktestResult, DecisionOutcome, DecisionRecord, EquityCurve

__all__ = [
    "BACKTEST_ACCOUNT",
    "DEFAULT_ALLOCATION",
    "SOURCE",
    "Backtest",
    "BacktestConfig",
    "BacktestError",
    "BacktestInputError",
    "BacktestResult",
    "BarFeed",
    "BrokerOrder",
    "CommissionKind",
    "CommissionModel",
    "DecisionOutcome",
    "DecisionRecord",
    "EquityCurve",
    "ProgressCallback",
    "SimulatedBroker",
    "StrategySpec",
    "load_bars",
    "load_fundamentals",
    "risk_limits",
    "run_backtest",
    "select_strategies",
]
