"""The security master: which client contracts name which simulated stock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ibbot.sim.contracts import ContractBook
from ibbot.sim.requests import ContractSpec
from ibbot.sim.universe import DEFAULT_UNIVERSE

BOOK = ContractBook(DEFAULT_UNIVERSE)
SPEC = ContractSpec(
    con_id=0,
    symbol="AAPL",
    sec_type="STK",
    last_trade_date="",
    strike=0.0,
    right="",
    multiplier="",
    exchange="SMART",
    primary_exchange="",
    currency="USD",
    local_symbol="",
    trading_class="",
)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"symbol": "aapl"},
        {"primary_exchange": "NASDAQ"},
        {"exchange": "NASDAQ"},
        {"exchange": "", "sec_type": "", "currency": ""},
        {"symbol": "", "con_id": 265598},
        {"con_id": 265598},
        {"symbol": "", "local_symbol": "AAPL"},
        {"right": "?"},
    ],
)
def test_contracts_that_name_aapl(changes: dict[str, object]) -> None:
    """conId alone, symbol with SMART or the listing exchange, lower case: all resolve."""
    resolved = BOOK.resolve(replace(SPEC, **changes))  # type: ignore[arg-type]
    assert resolved is not None
    assert resolved.security.symbol == "AAPL"


def test_resolved_exchange_defaults_to_smart() -> None:
    """An empty exchange resolves to SMART; a listing exchange is kept."""
    assert BOOK.resolve(replace(SPEC, exchange="")).exchange == "SMART"  # type: ignore[union-attr]
    assert BOOK.resolve(replace(SPEC, exchange="NASDAQ")).exchange == "NASDAQ"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "changes",
    [
        {"symbol": "NOPE"},
        {"con_id": 1},
        {"con_id": 265598, "symbol": "MSFT"},
        {"sec_type": "OPT"},
        {"currency": "EUR"},
        {"exchange": "NYSE"},
        {"primary_exchange": "NYSE"},
        {"strike": 100.0},
        {"right": "C"},
        {"last_trade_date": "20260320"},
    ],
)
def test_contracts_that_name_nothing(changes: dict[str, object]) -> None:
    """Unknown symbols, conflicting fields and derivatives resolve to None (error 200)."""
    assert BOOK.resolve(replace(SPEC, **changes)) is None  # type: ignore[arg-type]


def test_lookup_by_symbol() -> None:
    """by_symbol is case-insensitive and None for unknown symbols."""
    assert BOOK.by_symbol("jpm") is DEFAULT_UNIVERSE["JPM"]
    assert BOOK.by_symbol("NOPE") is None
    assert BOOK.universe is DEFAULT_UNIVERSE
