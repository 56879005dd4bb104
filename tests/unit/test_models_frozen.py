"""The fast builder of frozen records: the constructor's instances, at a fraction of the cost."""

from __future__ import annotations

import dataclasses
import pickle
import re
from datetime import UTC, datetime

import pytest

from ibbot.exchange import (
    CommissionReport,
    Execution,
    OrderAccepted,
    OrderRequest,
    OrderState,
    OrderStatusChanged,
    PositionChanged,
    SimBar,
)
from ibbot.models import Action, Decision, Fill, Order, OrderSide, OrderType, TimeInForce
from ibbot.models.frozen import builder

T0 = datetime(2024, 1, 2, 15, 30, tzinfo=UTC)
REQUEST = OrderRequest(
    1, 7, "AAA", OrderSide.SELL, 10.0, OrderType.STOP, None, 9.5, TimeInForce.GTC, "s:d", "DU1",
    parent_id=6, oca_group="g", trailing_percent=None,
)  # fmt: skip
STATE = OrderState(REQUEST, 99, "Filled", 10.0, 0.0, 9.49, 9.49, "", None, 98)


@pytest.mark.parametrize(
    ("cls", "args", "kwargs"),
    [
        (OrderRequest, (1, 7, "AAA", OrderSide.BUY, 5.0, OrderType.MARKET, None, None,
                                    TimeInForce.DAY, "s:d", "DU1"), {"trailing_amount": 0.5}),
        (OrderState, (REQUEST, 99, "Filled", 10.0, 0.0, 9.49, 9.49), {"parent_perm_id": 98}),
        (OrderAccepted, (STATE, T0), {}),
        (OrderStatusChanged, (STATE, T0), {"reason": "filled"}),
        (Execution, ("e1", STATE, T0, OrderSide.SELL, 10.0, 9.49, 10.0, 9.49, "SIM"), {}),
        (CommissionReport, ("e1", 1.0, "USD", -5.1, T0), {}),
        (PositionChanged, ("DU1", "AAA", 0.0, 0.0, T0), {}),
        (SimBar, (T0, 1.0, 2.0, 0.5, 1.5, 100, 1.5, 0), {}),
        (Fill, ("e1", 7, 99, "AAA", OrderSide.SELL, 10.0, 9.49, T0), {"commission": 1.0}),
    ],
)  # fmt: skip
def test_a_built_record_is_the_constructed_one(
    cls: type[object], args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    built = builder(cls)(*args, **kwargs)
    made = cls(*args, **kwargs)
    assert type(built) is cls
    assert built == made
    assert repr(built) == repr(made)
    assert hash(built) == hash(made)
    assert pickle.loads(pickle.dumps(built)) == made
    field = dataclasses.fields(cls)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, field, None)


def test_only_plain_slotted_dataclasses_get_a_builder() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = dataclasses.field(kw_only=True)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int

    for cls in (NoSlots, KeywordOnly, Derived):
        with pytest.raises(TypeError, match="no fast builder"):
            builder(cls)


def test_defaults_factories_and_post_init_work_as_in_the_constructor() -> None:
    new_order, new_decision = builder(Order), builder(Decision)
    # __post_init__ normalises (a str side becomes the enum member) and checks, as the constructor
    built = new_order("s", "AAA", "BUY", 10, decision_id="d", created_at=T0)
    assert built == Order("s", "AAA", OrderSide.BUY, 10, decision_id="d", created_at=T0)
    assert type(built.action) is OrderSide
    for bad in ({"quantity": 0}, {"symbol": ""}, {"strategy_name": "a:b"}, {"limit_price": 1.0}):
        fields = {"strategy_name": "s", "symbol": "AAA", "action": OrderSide.BUY, "quantity": 1}
        with pytest.raises(ValueError, match=r".+") as made:
            Order(**(fields | bad))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=re.escape(str(made.value))):
            new_order(**(fields | bad))
    # a default factory runs per instance when the field is not given
    first = new_decision("AAA", Action.BUY, 0.1, 1.0, "why", timestamp=T0)
    second = new_decision("AAA", Action.BUY, 0.1, 1.0, "why", timestamp=T0)
    assert first == Decision("AAA", Action.BUY, 0.1, 1.0, "why", timestamp=T0)
    assert first.data == {}
    assert first.data is not second.data
    assert new_decision("AAA", Action.BUY, 0.1, 1.0, "why").timestamp.tzinfo is UTC
    with pytest.raises(ValueError, match="target_weight"):
        new_decision("AAA", Action.BUY, 1.5, 1.0, "why", timestamp=T0)


def test_without_post_init_the_values_are_taken_as_given() -> None:
    """post_init=False is for values already normal: nothing is normalised or checked."""
    as_given = builder(Order, post_init=False)("s", "AAA", "BUY", 0, created_at=T0)
    assert as_given.action == "BUY"
    assert type(as_given.action) is str
    assert as_given.quantity == 0
