"""reqMktData's generic tick lists as IB reads them, and the 321 it answers to a bad one."""

from __future__ import annotations

import pytest

from ibbot.sim.generic_ticks import parse_generic_ticks, refusal_text


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("", set()),
        ("233", {233}),
        ("233, 236 ,,mdoff", {233, 236}),
        ("MDOFF,292:BRFG+DJNL", {292}),
        ("221,220,47,59,104", {232, 221, 258, 456, 104}),
        ("165,225,258,293,294,295,318,411,456", {165, 225, 258, 293, 294, 295, 318, 411, 456}),
    ],
)
def test_legal_lists(text: str, codes: set[int]) -> None:
    """Tokens are trimmed, empty ones and mdoff skipped, old ids resolved to IB's request codes."""
    assert parse_generic_ticks(text) == codes


@pytest.mark.parametrize("text", ["999", "13", "162", "233,13", "abc", "292:", "1.5"])
def test_one_bad_token_refuses_the_list(text: str) -> None:
    """An unknown tick, one not legal for a stock (162 is for indexes), a word or an empty
    parameter makes the whole list invalid."""
    assert parse_generic_ticks(text) is None


def test_the_refusal_lists_the_legal_ticks_as_ib_does() -> None:
    """The 321 text names the list and every tick legal for a stock, with its old id and name."""
    text = refusal_text("999")
    assert text.startswith(
        "Error validating request.-'bQ' : cause - Incorrect generic tick list of 999.  "
        "Legal ones for (STK) are: 100(Option Volume),101(Option Open Interest),"
    )
    assert ",221/220(Creditman Mark Price),225(Auction),232/221(Pl Price),233(RTVolume)," in text
    assert ",258/47(Fundamentals),292(Wide_news),293(TradeCount)," in text
    assert text.endswith(
        ",456/59(IBDividends),460(Bond Factor Multiplier),577(EtfNavLast(navlast)),"
        "586(IPOHLMPRC),587(Pl Price Delayed),588(Futures Open Interest),"
        "595(Short-Term Volume X Mins),614(EtfNavMisc(high/low)),619(Creditman Slow Mark Price),"
        "623(EtfFrozenNavLast(fznavlast))"
    )
