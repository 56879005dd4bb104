"""Protection from the decision to the bracket: the model, the legs, sizing, the risk gate,
working orders and the shipped strategies' parameters."""

from __future__ import annotations

import pytest

from ibbot.clock import SimulatedClock
from ibbot.errors import ConfigError
from ibbot.models import (
    Action,
    Decision,
    Order,
    OrderLeg,
    OrderSide,
    OrderType,
    Protection,
    from_json,
    split_leg,
    to_json,
)
from ibbot.strategies import create_strategy
from ibbot.trading import (
    DecisionOutcome,
    Exposure,
    PositionBook,
    RiskGate,
    RiskLimits,
    RiskRule,
    plan_bracket,
    plan_trade,
)
from tests.unit.strategy_events import T0

CAPITAL = 100_000.0


def entry(quantity: int = 10) -> Order:
    return Order("s", "AAPL", OrderSide.BUY, quantity, decision_id="d1", created_at=T0)


def test_protection_is_a_price_or_a_fraction_never_both() -> None:
    """Each protective order is given once, as a positive price or a fraction in (0, 1)."""
    with pytest.raises(ValueError, match="not both"):
        Protection(stop_loss_price=95.0, stop_loss_pct=0.05)
    with pytest.raises(ValueError, match="fraction"):
        Protection(take_profit_pct=5.0)
    with pytest.raises(ValueError, match="positive"):
        Protection(trailing_amount=-1.0)
    assert Protection().empty
    protection = Protection(stop_loss_pct=0.05, take_profit_price=120.0, trailing_amount=2.5)
    assert protection.describe() == (
        "stop-loss 5.00% below entry, take-profit at 120.00, trailing stop 2.50, GTC"
    )
    assert (protection.stop_loss(100.0), protection.take_profit(100.0)) == (95.0, 120.0)
    assert protection.worst_exit(100.0) == 97.5  # the trail starts tighter than the stop
    decision = Decision("AAPL", Action.BUY, 0.1, 1.0, "r", protection=protection, timestamp=T0)
    assert from_json(Decision, to_json(decision)) == decision


def test_legs_are_named_in_the_decision_id() -> None:
    """A child's decision id is the entry's plus its leg; anything else is an entry."""
    assert OrderLeg.STOP_LOSS.decision_id("d1") == "d1/stop_loss"
    assert split_leg("d1/stop_loss") == ("d1", OrderLeg.STOP_LOSS)
    assert split_leg("d1/other") == ("d1/other", OrderLeg.ENTRY)
    assert split_leg("d1") == ("d1", OrderLeg.ENTRY)


def test_trailing_orders_trail_by_one_term() -> None:
    """A TRAIL Order needs one of amount and percent; a decision cannot ask for TRAIL itself."""
    Order("s", "AAPL", OrderSide.SELL, 1, OrderType.TRAIL, trailing_percent=2.0)
    with pytest.raises(ValueError, match="either a trailing amount or a trailing percent"):
        Order("s", "AAPL", OrderSide.SELL, 1, OrderType.TRAIL)
    with pytest.raises(ValueError, match="takes no trailing terms"):
        Order("s", "AAPL", OrderSide.SELL, 1, trailing_amount=1.0)
    decision = Decision("AAPL", Action.BUY, 0.1, 1.0, "r", order_type=OrderType.TRAIL, timestamp=T0)
    plan = plan_trade(
        decision,
        strategy_name="s",
        allocated_capital=CAPITAL,
        book=PositionBook(),
        gate=gate(),
        price=100.0,
        open_orders=0,
        now=T0,
    )
    assert plan.outcome is DecisionOutcome.NO_ORDER
    assert "give the decision a Protection" in plan.reason


def test_a_bracket_has_a_child_per_protection_in_one_group() -> None:
    """Take-profit LMT, trailing TRAIL and stop-loss STP (the stop last: it transmits the bracket),
    each selling the entry's quantity, with their own orderRef; a sale is never bracketed."""
    protection = Protection(stop_loss_pct=0.05, take_profit_pct=0.1, trailing_pct=0.02)
    plan = plan_bracket(entry(), protection, 100.0)
    assert plan.bracket is not None
    children = [
        (leg, o.action, o.quantity, o.order_type, o.limit_price, o.stop_price, o.trailing_percent)
        for leg, o in plan.bracket.children
    ]
    assert children == [
        (OrderLeg.TAKE_PROFIT, OrderSide.SELL, 10, OrderType.LIMIT, 110.0, None, None),
        (OrderLeg.TRAILING_STOP, OrderSide.SELL, 10, OrderType.TRAIL, None, None, 2.0),
        (OrderLeg.STOP_LOSS, OrderSide.SELL, 10, OrderType.STOP, None, 95.0, None),
    ]
    assert plan.bracket.child(OrderLeg.STOP_LOSS).order_ref == "s:d1/stop_loss"  # type: ignore[union-attr]
    assert plan.bracket.oca_group == "ibbot:s:d1"
    assert plan.worst_case_loss == pytest.approx(20.0)  # 10 shares down to the trail's 98
    sale = Order("s", "AAPL", OrderSide.SELL, 10, decision_id="d2")
    assert plan_bracket(sale, protection, 100.0).bracket is None
    assert "not below the entry" in str(
        plan_bracket(entry(), Protection(stop_loss_price=101.0), 100.0).problem
    )


def gate(**limits: float) -> RiskGate:
    return RiskGate(RiskLimits(**limits), monotonic=SimulatedClock(T0).monotonic, account="DU1")  # type: ignore[arg-type]


def test_the_risk_gate_counts_the_worst_case_at_the_stop() -> None:
    """A bracket whose stop could lose more than the day has left is blocked as a unit."""
    decision = Decision(
        "AAPL",
        Action.BUY,
        0.0,
        1.0,
        "r",
        decision_id="d1",
        timestamp=T0,
        quantity=300,
        protection=Protection(stop_loss_pct=0.2),
    )
    book = PositionBook()
    kwargs = {"strategy_name": "s", "book": book, "price": 100.0, "open_orders": 0, "now": T0}
    blocked = plan_trade(
        decision,
        allocated_capital=CAPITAL,
        gate=gate(max_position_pct=1.0, max_order_notional=1e6),
        **kwargs,
    )  # type: ignore[arg-type]
    assert blocked.outcome is DecisionOutcome.BLOCKED
    assert blocked.verdict is not None
    assert blocked.verdict.rule is RiskRule.DAILY_LOSS_LIMIT
    assert "worst case at the stop 6,000.00" in blocked.verdict.message
    tight = Decision(**{**_fields(decision), "protection": Protection(stop_loss_pct=0.1)})
    sent = plan_trade(
        tight,
        allocated_capital=CAPITAL,
        gate=gate(max_position_pct=1.0, max_order_notional=1e6),
        **kwargs,
    )  # type: ignore[arg-type]
    assert sent.outcome is DecisionOutcome.SENT
    assert sent.bracket is not None
    assert "worst case 3,000.00 at the stop" in sent.reason


def _fields(decision: Decision) -> dict[str, object]:
    return {name: getattr(decision, name) for name in decision.__dataclass_fields__}


def test_a_brackets_children_count_once_in_the_working_exposure() -> None:
    """Take-profit and stop-loss of one bracket may sell the position once, not twice."""
    exposure = Exposure.of(
        [
            ("s:d1", OrderSide.BUY, 10.0),
            ("s:d1/take_profit", OrderSide.SELL, 10.0),
            ("s:d1/stop_loss", OrderSide.SELL, 10.0),
            ("s:d2", OrderSide.SELL, 3.0),
        ]
    )
    assert (exposure.buying, exposure.selling) == (10.0, 13.0)


@pytest.mark.parametrize("name", ["sma_cross", "value_momentum"])
def test_shipped_strategies_take_optional_protection(name: str) -> None:
    """Off by default; set, the strategy's parameters give every entry the same protection."""
    plain = create_strategy(name, name=name, allocated_capital=CAPITAL)
    assert plain.params.protection() is None  # type: ignore[attr-defined]
    protected = create_strategy(
        name,
        name=name,
        allocated_capital=CAPITAL,
        params={"stop_loss_pct": 0.05, "trailing_stop_pct": 0.03, "protection_tif": "DAY"},
    )
    assert protected.params.protection() == Protection(  # type: ignore[attr-defined]
        stop_loss_pct=0.05, trailing_pct=0.03, time_in_force="DAY"
    )
    with pytest.raises(ConfigError, match="protection_tif"):
        create_strategy(
            name, name=name, allocated_capital=CAPITAL, params={"protection_tif": "DAY"}
        )
    with pytest.raises(ConfigError, match="stop_loss_pct"):
        create_strategy(name, name=name, allocated_capital=CAPITAL, params={"stop_loss_pct": 1.5})
