"""Entry orders: passive limit prices on the Reg NMS price grid."""

from __future__ import annotations

import pytest

from ibbot.models import OrderSide
from ibbot.strategies.entry import passive_limit, tick_size


@pytest.mark.parametrize(
    ("price", "side", "bps", "limit"),
    [
        (12.0, OrderSide.BUY, 200, 11.76),  # exactly on the grid
        (10.0, OrderSide.BUY, 5, 9.99),  # 9.995 rounds down for a buy
        (10.0, OrderSide.SELL, 5, 10.01),  # 10.005 rounds up for a sell
        (9.99, OrderSide.BUY, 0, 9.99),  # the float 999.0000000001 steps is still 9.99
        (203.62, OrderSide.BUY, 0, 203.62),
        (0.5, OrderSide.BUY, 10, 0.4995),  # below $1: hundredths of a cent
        (1.0004, OrderSide.BUY, 10, 0.9993),  # 0.99939...: the limit's own price picks the grid
        (0.00005, OrderSide.BUY, 0, 0.0001),  # never below one tick
    ],
)
def test_passive_limits_wait_on_their_side_of_the_price_grid(
    price: float, side: OrderSide, bps: float, limit: float
) -> None:
    """A buy limit is below the price and rounded down, a sell limit above and rounded up."""
    assert passive_limit(price, side, bps) == limit


def test_tick_size_follows_rule_612() -> None:
    """Whole cents from $1.00 up, hundredths of a cent below."""
    assert (tick_size(1.0), tick_size(0.9999)) == (0.01, 0.0001)


@pytest.mark.parametrize(("price", "bps"), [(0.0, 5), (float("nan"), 5), (10.0, -1), (10.0, 1e4)])
def test_a_limit_needs_a_price_and_a_sane_offset(price: float, bps: float) -> None:
    """No reference price or an offset outside 0..10,000 bps is an error, not a guess."""
    with pytest.raises(ValueError, match=r"reference price|offset"):
        passive_limit(price, OrderSide.BUY, bps)
