"""From decisions to orders, safely: sizing, the risk gate, the position book and the orders still
working, reconciliation.

Everything here is pure (no I/O beyond the kill switch's occasional ``stat``, no asyncio, no
ib_async), so the orchestrator and the backtester run exactly the same code per decision:
:func:`plan_trade` (sizing, then the risk gate) on every decision.
"""

from ibbot.trading.brackets import BracketPlan, plan_bracket, wanted_stop
from ibbot.trading.desk import DecisionOutcome, TradePlan, plan_trade
from ibbot.trading.kill_switch import KillSwitch
from ibbot.trading.positions import MARKET_TIMEZONE, UNATTRIBUTED, PositionBook
from ibbot.trading.reconciliation import (
    Mismatch,
    ReconciliationOutcome,
    ReconciliationPolicy,
    compare_positions,
)
from ibbot.trading.risk import PAPER_ACCOUNT_PREFIX, RiskGate, RiskLimits, RiskRule, RiskVerdict
from ibbot.trading.sizing import SizingResult, SizingSkip, size_decision
from ibbot.trading.working import NOTHING_WORKING, Exposure, WorkingOrders

__all__ = [
    "MARKET_TIMEZONE",
    "NOTHING_WORKING",
    "PAPER_ACCOUNT_PREFIX",
    "UNATTRIBUTED",
    "BracketPlan",
    "DecisionOutcome",
    "Exposure",
    "KillSwitch",
    "Mismatch",
    "PositionBook",
    "ReconciliationOutcome",
    "ReconciliationPolicy",
    "RiskGate",
    "RiskLimits",
    "RiskRule",
    "RiskVerdict",
    "SizingResult",
    "SizingSkip",
    "TradePlan",
    "WorkingOrders",
    "compare_positions",
    "plan_bracket",
    "plan_trade",
    "size_decision",
    "wanted_stop",
]
