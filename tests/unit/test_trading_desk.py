"""plan_trade: one decision through sizing and the risk gate, as live trading and the backtest use it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from ib_async.util import UNSET_DOUBLE

from ibbot.broker.conversions import ib_order
from ibbot.models import Action, Decision, Fill, OrderSide, OrderType, TimeInForce
from ibbot.trading import (
    DecisionOutcome,
    Exposure,
    PositionBook,
    RiskGate,
    RiskLimits,
    RiskRule,
    SizingSkip,
    plan_trade,
)

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def decision(action: Action, *, weight: float = 0.1, strategy: str = "") -> Decision:
    """A decision for AAPL at 100."""
    return Decision(
        "AAPL",
        action,
        weight,
        1.0,
        "because",
        strategy_name=strategy,
        decision_id="d1",
        timestamp=NOW,
        price=100.0,
    )


def gate(**limits: object) -> RiskGate:
    """A gate on a paper account."""
    return RiskGate(RiskLimits(**limits), monotonic=lambda: 0.0, account="DU1")  # type: ignore[arg-type]


def test_hold_is_no_order_without_a_verdict() -> None:
    """A HOLD plans nothing and never reaches the gate."""
    result = plan_trade(
        decision(Action.HOLD),
        strategy_name="s",
        allocated_capital=1.0,
        book=PositionBook(),
        gate=gate(),
        price=None,
        open_orders=0,
        now=NOW,
    )
    assert result.outcome is DecisionOutcome.NO_ORDER
    assert (result.order, result.verdict) == (None, None)
    assert result.reason == "HOLD AAPL: no order"


def test_a_buy_within_the_limits_is_sent_and_attributed_to_its_strategy() -> None:
    """Sized from the weight and the price; the order carries the planning strategy's name."""
    result = plan_trade(
        decision(Action.BUY, strategy="someone-else"),
        strategy_name="s",
        allocated_capital=100_000.0,
        book=PositionBook(),
        gate=gate(),
        price=None,
        open_orders=0,
        now=NOW,
    )
    assert result.outcome is DecisionOutcome.SENT
    assert result.decision.strategy_name == "s"
    assert result.order is not None
    assert (result.order.strategy_name, result.order.action, result.order.quantity) == (
        "s",
        OrderSide.BUY,
        100,
    )
    assert "within every limit" in result.reason


def test_a_buy_over_a_limit_is_blocked_with_the_rule() -> None:
    """The gate's verdict names the rule; the order is kept for the audit."""
    result = plan_trade(
        decision(Action.BUY),
        strategy_name="s",
        allocated_capital=100_000.0,
        book=PositionBook(),
        gate=gate(max_order_notional=5_000.0),
        price=None,
        open_orders=0,
        now=NOW,
    )
    assert result.outcome is DecisionOutcome.BLOCKED
    assert result.verdict is not None
    assert result.verdict.rule is RiskRule.MAX_ORDER_NOTIONAL
    assert result.order is not None
    assert "risk: order BUY 100 AAPL" in result.reason


def test_the_holding_comes_from_the_book() -> None:
    """An EXIT closes what the book says the strategy holds."""
    book = PositionBook()
    book.apply_fill(Fill("e1", 1, 1, "AAPL", OrderSide.BUY, 30.0, 100.0, NOW, strategy_name="s"))
    result = plan_trade(
        decision(Action.EXIT),
        strategy_name="s",
        allocated_capital=100_000.0,
        book=book,
        gate=gate(),
        price=101.0,
        open_orders=0,
        now=NOW,
    )
    assert result.outcome is DecisionOutcome.SENT
    assert result.order is not None
    assert (result.order.action, result.order.quantity) == (OrderSide.SELL, 30)


@pytest.mark.parametrize(
    ("terms", "ib_terms"),
    [
        ({}, ("MKT", "DAY", UNSET_DOUBLE, UNSET_DOUBLE)),
        (
            {"order_type": OrderType.LIMIT, "limit_price": 99.5},
            ("LMT", "DAY", 99.5, UNSET_DOUBLE),
        ),
        (
            {"order_type": OrderType.STOP, "stop_price": 101.0, "time_in_force": TimeInForce.GTC},
            ("STP", "GTC", UNSET_DOUBLE, 101.0),
        ),
        (
            {"order_type": OrderType.STOP_LIMIT, "stop_price": 101.0, "limit_price": 101.5},
            ("STP LMT", "DAY", 101.5, 101.0),
        ),
    ],
)
def test_a_decisions_order_terms_reach_the_ib_order(
    terms: dict[str, Any], ib_terms: tuple[str, str, float, float]
) -> None:
    """Type, limit/stop prices and time in force go from the decision to the order IB receives."""
    planned = dataclasses.replace(decision(Action.BUY), **terms)
    result = plan_trade(
        planned,
        strategy_name="s",
        allocated_capital=100_000.0,
        book=PositionBook(),
        gate=gate(),
        price=100.0,
        open_orders=0,
        now=NOW,
    )
    assert result.outcome is DecisionOutcome.SENT
    assert result.order is not None
    ib = ib_order(result.order)
    assert (ib.orderType, ib.tif, ib.lmtPrice, ib.auxPrice) == ib_terms
    assert (ib.action, ib.orderRef) == ("BUY", "s:d1")


def test_a_limit_without_a_price_is_refused_before_the_gate() -> None:
    """A LMT decision without a limit price plans no order and says why."""
    result = plan_trade(
        dataclasses.replace(decision(Action.BUY), order_type=OrderType.LIMIT),
        strategy_name="s",
        allocated_capital=100_000.0,
        book=PositionBook(),
        gate=gate(),
        price=100.0,
        open_orders=0,
        now=NOW,
    )
    assert (result.outcome, result.order, result.verdict) == (DecisionOutcome.NO_ORDER, None, None)
    assert result.sizing.skip is SizingSkip.INVALID_ORDER
    assert result.reason == "BUY AAPL: LMT order needs a positive limit_price, got None: refused"


def test_the_gate_sees_the_holding_with_the_working_orders() -> None:
    """A purchase on top of working purchases is checked against the position they may make; a
    sale of what working sales leave is a reduction."""
    book = PositionBook()
    book.apply_fill(Fill("e1", 1, 1, "AAPL", OrderSide.BUY, 100.0, 100.0, NOW, strategy_name="s"))
    buy_more = dataclasses.replace(decision(Action.BUY), quantity=260)
    result = plan_trade(
        buy_more,
        strategy_name="s",
        allocated_capital=100_000.0,
        book=book,
        gate=gate(),
        price=100.0,
        open_orders=0,
        now=NOW,
        working=Exposure(buying=140.0, orders=("s:a",)),
    )
    assert result.order is not None
    assert (result.order.action, result.order.quantity) == (OrderSide.BUY, 20)
    assert result.verdict is not None
    assert result.verdict.rule is RiskRule.MAX_POSITION  # 260 x 100 > 25% of 100,000
    sell_rest = plan_trade(
        decision(Action.EXIT),
        strategy_name="s",
        allocated_capital=100_000.0,
        book=book,
        gate=gate(),
        price=None,
        open_orders=0,
        now=NOW,
        working=Exposure(selling=60.0, orders=("s:b",)),
    )
    assert sell_rest.outcome is DecisionOutcome.SENT
    assert sell_rest.order is not None
    assert (sell_rest.order.action, sell_rest.order.quantity) == (OrderSide.SELL, 40)
    assert sell_rest.verdict is not None
    assert "reduces the position of 40" in sell_rest.verdict.message
