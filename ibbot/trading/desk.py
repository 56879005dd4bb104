"""One decision through the trading layer: size it, check the order against the risk gate, say what to do.

Live trading and the backtest call :func:`plan_trade` for every decision, so both apply exactly the
same arithmetic and the same limits; what differs is only what happens to a planned order (the
awaitable executor, or the simulated broker). Pure and synchronous: the caller supplies the price,
the number of open orders and the time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ibbot.models import Bracket, Decision, OrderSide
from ibbot.models.frozen import builder
from ibbot.trading.brackets import plan_bracket
from ibbot.trading.risk import RiskVerdict
from ibbot.trading.sizing import SizingResult, SizingSkip, size_decision
from ibbot.trading.working import NOTHING_WORKING

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.models import Order
    from ibbot.trading.positions import PositionBook
    from ibbot.trading.risk import RiskGate
    from ibbot.trading.working import Exposure

__all__ = ["DecisionOutcome", "TradePlan", "plan_trade"]


class DecisionOutcome(StrEnum):
    """What the trading layer did with a decision."""

    NO_ORDER = "no_order"  # HOLD, or sizing found nothing to do
    BLOCKED = "blocked"  # the risk gate refused the order
    SENT = "sent"  # the order went to the broker (see its final status)
    NOT_TRADED = "not_traded"  # live only: recorded, never traded (history, a stale bar, stopping)


@dataclass(frozen=True, slots=True)
class TradePlan:
    """A decision (attributed to its strategy), how it was sized, and the risk gate's verdict.

    ``order`` is the order to send when ``outcome`` is SENT, the refused one when BLOCKED, and None
    when there is nothing to send. ``bracket`` holds it with its protective children when the
    decision asked for protection: then the whole bracket is sent, as one unit.
    """

    decision: Decision
    outcome: DecisionOutcome
    sizing: SizingResult
    verdict: RiskVerdict | None = None
    bracket: Bracket | None = None

    @property
    def order(self) -> Order | None:
        """The sized order (None for NO_ORDER)."""
        return self.sizing.order

    @property
    def reason(self) -> str:
        """The sizing sentence, then the risk verdict when there was one."""
        if self.verdict is None:
            return self.sizing.reason
        return f"{self.sizing.reason}; risk: {self.verdict.message}"


def plan_trade(
    decision: Decision,
    *,
    strategy_name: str,
    allocated_capital: float,
    book: PositionBook,
    gate: RiskGate,
    price: float | None,
    open_orders: int,
    now: datetime,
    working: Exposure = NOTHING_WORKING,
) -> TradePlan:
    """Size ``decision`` against the holding in ``book`` and the working orders, then ask ``gate``.

    The decision is attributed to ``strategy_name`` (a strategy cannot send orders for another).
    ``price`` is the freshest known price of the symbol (None: the decision's own price);
    ``open_orders`` counts the orders working at the broker for every strategy; ``now`` is the
    market time, which picks the trading day of the daily loss limit; ``working`` what the
    strategy's working orders in the symbol may still buy or sell (their fills not yet booked).
    """
    if decision.strategy_name != strategy_name:
        decision = dataclasses.replace(decision, strategy_name=strategy_name)
    held = book.quantity(strategy_name, decision.symbol)
    sized = size_decision(
        decision,
        allocated_capital=allocated_capital,
        position_quantity=held,
        price=price,
        min_order_notional=gate.limits.min_order_notional,
        working=working,
    )
    order = sized.order
    if order is None:
        return TradePlan(decision, DecisionOutcome.NO_ORDER, sized)
    protected = plan_bracket(order, decision.protection, sized.price)
    if protected.problem is not None:
        refused = SizingResult(
            None,
            f"{sized.reason}; protection refused: {protected.problem}: no order",
            target_quantity=sized.target_quantity,
            price=sized.price,
            skip=SizingSkip.INVALID_ORDER,
        )
        return TradePlan(decision, DecisionOutcome.NO_ORDER, refused)
    if protected.bracket is not None:
        sized = dataclasses.replace(sized, reason=f"{sized.reason}; {protected.detail}")
    # The gate sees the holding the order was sized from: a sale reduces what is left after the
    # working sales, a purchase adds to what the working purchases may bring.
    sized_from = working.high(held) if order.action is OrderSide.BUY else working.low(held)
    verdict = gate.check(
        order,
        price=sized.price,
        allocated_capital=allocated_capital,
        position_quantity=sized_from,
        daily_pnl=book.daily_realized_pnl(strategy_name, now),
        open_orders=open_orders,
        worst_case_loss=protected.worst_case_loss,
    )
    outcome = DecisionOutcome.SENT if verdict.allowed else DecisionOutcome.BLOCKED
    return _new_plan(decision, outcome, sized, verdict, protected.bracket)


_new_plan = builder(TradePlan)  # TradePlan(...) without the per-field cost: one per order
