"""The live runtime the orchestrator (:mod:`ibbot.app`) wires: one concept per module.

- :class:`StrategyRunner` (``runner``): one strategy's events in, decisions out, failures contained.
- :class:`LiveTrader` (``trader``): decisions planned, audited and submitted; fills into the book;
  the kill switch; reconciliation with the broker's positions.
- :class:`StateKeeper` (``state``): strategy and book state across runs, tied to the account.
- :func:`read_statement` (``statement``): positions and P&L from a stopped service's store.
- :func:`history_events` (``history``): the warm-up feed from the store.
- :class:`Activity` (``activity``): last prices, event rate, the summary line.
- :class:`LifecycleLog` (``lifecycle``): lifecycle events, logged and audited.
- :class:`ControlServer` (``control``): the loopback HTTP/JSON control endpoint (Starlette/uvicorn).
- :func:`shutdown_signals` (``signals``): SIGINT/SIGTERM, graceful then forced.
"""

from ibbot.live.activity import Activity, summary_line
from ibbot.live.control import (
    CONTROL_FILE,
    TOKEN_FILE,
    ControlEndpoint,
    ControlServer,
    ControlTarget,
    read_control_file,
)
from ibbot.live.history import history_events
from ibbot.live.lifecycle import LifecycleLog
from ibbot.live.runner import DecisionSink, RunnerState, StrategyRunner, stale_reason
from ibbot.live.signals import shutdown_signals
from ibbot.live.state import BOOK_STATE, FreshAccountStore, StateKeeper, world_of
from ibbot.live.statement import Statement, read_statement
from ibbot.live.trader import LiveTrader, OrderPort, PositionsPort, TraderStats

__all__ = [
    "BOOK_STATE",
    "CONTROL_FILE",
    "TOKEN_FILE",
    "Activity",
    "ControlEndpoint",
    "ControlServer",
    "ControlTarget",
    "DecisionSink",
    "FreshAccountStore",
    "LifecycleLog",
    "LiveTrader",
    "OrderPort",
    "PositionsPort",
    "RunnerState",
    "StateKeeper",
    "Statement",
    "StrategyRunner",
    "TraderStats",
    "history_events",
    "read_control_file",
    "read_statement",
    "shutdown_signals",
    "stale_reason",
    "summary_line",
    "world_of",
]
