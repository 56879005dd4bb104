"""The security master: which client contracts name which simulated stock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ibbot.sim.contracts import ContractBook
from ibbot.sim.requests import ContractSpec
from ibbot.sim.universe import DEFAULT_UNIVERSE, Universe

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
        {"exchange": "NYSE"},
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
        {"exchange": "LSE"},
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


@pytest.mark.parametrize(
    ("changes", "exchange"),
    [
        ({"exchange": "ARCA"}, "ARCA"),
        ({"exchange": "iex"}, "IEX"),
        ({"exchange": "OVERNIGHT"}, "OVERNIGHT"),
        ({"exchange": "ISLAND"}, "ISLAND"),
        ({"primary_exchange": "ISLAND"}, "SMART"),
        ({"primary_exchange": "NASDAQ.NMS"}, "SMART"),
    ],
)
def test_every_venue_ib_lists_resolves(changes: dict[str, object], exchange: str) -> None:
    """Any venue of IB's valid-exchange list routes the stock; ISLAND and NASDAQ.NMS mean Nasdaq."""
    resolved = BOOK.resolve(replace(SPEC, **changes))  # type: ignore[arg-type]
    assert resolved is not None
    assert resolved.exchange == exchange
    assert BOOK.resolve(replace(SPEC, symbol="KO", primary_exchange="ISLAND")) is None


def _symbols(pattern: str, book: ContractBook = BOOK) -> list[str]:
    return [s.symbol for s in book.matching(pattern)]


def test_symbol_search_by_ticker_prefix() -> None:
    """Tickers starting with the pattern, any case, an exact ticker first."""
    assert _symbols("aa") == ["AAPL"]
    assert _symbols("J") == ["JNJ", "JPM"]
    assert _symbols("NV") == ["NVDA"]
    assert _symbols("META") == ["META"]
    assert _symbols("MSFT") == ["MSFT"]


def test_symbol_search_by_name_word() -> None:
    """After the tickers, names in which the pattern starts a word (punctuation separates words)."""
    assert _symbols("micro") == ["MSFT"]
    assert _symbols("Cola") == ["KO"]
    assert _symbols("coca-cola co") == ["KO"]
    assert _symbols("johnson & johnson") == ["JNJ"]
    assert _symbols("chase") == ["JPM"]
    # ALPHABET INC-CL A, META PLATFORMS INC-CLASS A; COCA-COLA CO/THE
    assert _symbols("a") == ["AAPL", "AMZN", "GOOGL", "META"]
    assert _symbols("T") == ["TSLA", "KO"]
    assert _symbols("soft") == []  # inside a word, not at its start


def test_symbol_search_without_matches_or_pattern() -> None:
    """No match, or a pattern of only spaces and punctuation: an empty answer."""
    assert _symbols("ZZZZ") == []
    assert _symbols("") == []
    assert _symbols(" - ") == []


def test_symbol_search_answers_at_most_16() -> None:
    """IB returns at most 16 descriptions, tickers first in alphabetical order."""
    base = DEFAULT_UNIVERSE["AAPL"]
    many = Universe(
        replace(base, symbol=f"X{i:02d}", con_id=1_000 + i, long_name=f"X CORP {i}")
        for i in range(30)
    )
    book = ContractBook(many)
    assert _symbols("X", book) == [f"X{i:02d}" for i in range(16)]
    assert _symbols("X07", book) == ["X07"]
