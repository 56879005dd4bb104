"""The gateway's inbound memory budget: who is dropped when the buffered bytes exceed it."""

from __future__ import annotations

import pytest

from ibbot.sim.budget import InboundBudget


def test_holders_within_the_limit_are_left_alone() -> None:
    """Bytes are tracked per owner; a new size replaces the old; releasing forgets them."""
    budget: InboundBudget[str] = InboundBudget(100)
    assert budget.hold("a", 40) == []
    assert budget.hold("b", 50) == []
    assert budget.hold("a", 30) == []
    assert (budget.total, budget.held("a"), budget.held("b")) == (80, 30, 50)
    assert budget.hold("b", 0) == []
    budget.release("a")
    assert budget.total == 0


def test_past_the_limit_the_largest_holders_are_dropped_first() -> None:
    """The biggest holder goes first, then the next, until the rest fits; small ones stay."""
    budget: InboundBudget[str] = InboundBudget(100)
    budget.hold("small", 5)
    budget.hold("big", 60)
    budget.hold("mid", 30)
    assert budget.hold("growing", 40) == ["big"]
    assert budget.total == 75
    assert budget.hold("growing", 99) == ["growing"]
    assert budget.held("growing") == 0
    assert budget.hold("huge", 300) == ["huge"]
    assert (budget.total, budget.held("small"), budget.held("mid")) == (35, 5, 30)


def test_the_budget_must_be_positive() -> None:
    """A zero budget is refused."""
    with pytest.raises(ValueError, match="positive"):
        InboundBudget(0)
