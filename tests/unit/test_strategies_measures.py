"""Valuation measures: derived at the current price when possible, else reported (rescaled)."""

from __future__ import annotations

from typing import Any

import pytest

from ibbot.models import FundamentalData
from ibbot.strategies.measures import market_cap, pe_ratio, price_to_book
from tests.unit.strategy_events import T0


def fund(**fields: Any) -> FundamentalData:
    return FundamentalData("JPM", T0, "JPMORGAN", **fields)


def test_market_cap_prefers_shares_times_current_price() -> None:
    """Shares x price beats the reported figure, which is the fallback; neither gives None."""
    both = fund(shares_outstanding=2.84e9, market_cap=1.0)
    derived = market_cap(both, 210.0)
    assert derived.value == pytest.approx(596.4e9)
    assert derived.basis == "shares 2.84B x price 210.00"
    assert market_cap(both, None).value == 1.0
    assert market_cap(fund(market_cap=5e9), 10.0).basis == "as reported"
    assert market_cap(fund(), 10.0).value is None


@pytest.mark.parametrize(
    ("fields", "price", "value", "basis"),
    [
        ({"eps": 19.0}, 209.0, 11.0, "price 209.00 / EPS 19.00"),
        ({"values": {"TTMEPSXCLX": 10.0}}, 150.0, 15.0, "price 150.00 / EPS 10.00"),
        ({"eps": -1.2}, 50.0, None, "EPS -1.20 <= 0: no earnings to value"),
        (
            {"pe_ratio": 10.0, "price": 100.0},
            110.0,
            11.0,
            "reported 10.00 at 100.00, rescaled to 110.00",
        ),
        ({"values": {"PEEXCLXOR": 12.0}}, 110.0, 12.0, "as reported"),
        ({"pe_ratio": 12.0}, None, 12.0, "as reported"),
        ({"pe_ratio": -3.0}, 10.0, None, "reported P/E -3.00 is not meaningful"),
        ({}, 10.0, None, "no P/E in the fundamentals"),
    ],
)
def test_pe_ratio(
    fields: dict[str, Any], price: float | None, value: float | None, basis: str
) -> None:
    """P/E from EPS at the current price, else the reported ratio rescaled, else unknown."""
    measure = pe_ratio(fund(**fields), price)
    assert measure.value == (None if value is None else pytest.approx(value))
    assert measure.basis == basis


@pytest.mark.parametrize(
    ("fields", "price", "value", "basis"),
    [
        (
            {"values": {"book_value_per_share": 100.0}},
            150.0,
            1.5,
            "price 150.00 / book 100.00 per share",
        ),
        ({"values": {"QBVPS": 50.0}}, 100.0, 2.0, "price 100.00 / book 50.00 per share"),
        ({"values": {"QBVPS": -5.0}}, 100.0, None, "book value per share -5.00 <= 0"),
        (
            {"price_to_book": 2.0, "price": 100.0},
            50.0,
            1.0,
            "reported 2.00 at 100.00, rescaled to 50.00",
        ),
        ({"values": {"PRICE2BK": 3.0}}, 10.0, 3.0, "as reported"),
        ({}, 10.0, None, "no price/book in the fundamentals"),
    ],
)
def test_price_to_book(
    fields: dict[str, Any], price: float | None, value: float | None, basis: str
) -> None:
    """P/B from book value per share at the current price, else reported (rescaled), else unknown."""
    measure = price_to_book(fund(**fields), price)
    assert measure.value == (None if value is None else pytest.approx(value))
    assert measure.basis == basis
