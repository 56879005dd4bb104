"""The security master's public identifiers and listing days, checked the way issuers compute them."""

from __future__ import annotations

from datetime import date

import pytest

from ibbot.sim.calendar import ExchangeCalendar
from ibbot.sim.universe import DEFAULT_UNIVERSE, SimSecurity


def _luhn_ok(digits: str) -> bool:
    """The Luhn check: doubling every second digit from the right, the digit sum ends in 0."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


def _isin_ok(isin: str) -> bool:
    """ISO 6166: two letters, nine alphanumerics, a Luhn check digit over the letters as 10-35."""
    if len(isin) != 12 or not isin[:2].isalpha() or not isin.isalnum() or not isin[-1].isdigit():
        return False
    return _luhn_ok("".join(str(int(char, 36)) for char in isin))


def _cusip_ok(cusip: str) -> bool:
    """CUSIP: eight characters and a check digit (letters 10-35, every second value doubled)."""
    if len(cusip) != 9 or not cusip.isalnum() or not cusip[-1].isdigit():
        return False
    total = 0
    for i, char in enumerate(cusip[:8]):
        value = int(char, 36) * (2 if i % 2 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10 == int(cusip[-1])


@pytest.mark.parametrize("security", DEFAULT_UNIVERSE.values(), ids=lambda s: s.symbol)
def test_every_security_has_a_valid_isin_and_cusip(security: SimSecurity) -> None:
    """US ISINs embed the CUSIP; both check digits hold for every security of the universe."""
    assert _isin_ok(security.isin), security.isin
    assert _cusip_ok(security.cusip), security.cusip
    assert security.isin[:2] == "US"
    assert security.isin[2:11] == security.cusip


def test_identifiers_are_distinct_and_typos_would_show() -> None:
    """No two securities share an ISIN or a CUSIP; one changed or swapped digit fails the checks."""
    securities = list(DEFAULT_UNIVERSE.values())
    assert len({s.isin for s in securities}) == len(securities)
    assert len({s.cusip for s in securities}) == len(securities)
    apple = DEFAULT_UNIVERSE["AAPL"]
    assert (apple.isin, apple.cusip) == ("US0378331005", "037833100")
    assert not _isin_ok("US0378331015")
    assert not _isin_ok("US0378331004")
    assert not _cusip_ok("037833109")
    assert not _cusip_ok("037383100")


def test_first_trading_days() -> None:
    """IPO days as published, each a trading day; XOM and JPM predate the simulated calendar."""
    first = {s.symbol: s.first_traded for s in DEFAULT_UNIVERSE.values()}
    assert first["AAPL"] == date(1980, 12, 12)
    assert first["META"] == date(2012, 5, 18)
    assert first["TSLA"] == date(2010, 6, 29)
    assert first["XOM"] is None
    assert first["JPM"] is None
    calendar = ExchangeCalendar()
    for day in first.values():
        if day is not None and day.year >= 1971:
            assert calendar.is_trading_day(day), day
