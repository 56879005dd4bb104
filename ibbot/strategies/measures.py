"""Valuation measures from fundamentals at the current price, each with the arithmetic behind it.

Fundamentals arrive rarely (IB snapshots, SEC filings) while prices move every bar, so ratios are
recomputed at the current price whenever their inputs are known, and reported ratios are rescaled
by the price change since they were taken. Every measure says how it was obtained, so a reasoning
trail can show it ("P/E 11.0 = price 210.00 / EPS 19.01").

Where the inputs are looked up, in order:

- market cap: ``shares_outstanding x price``; else ``market_cap`` as reported.
- P/E: ``price / eps`` (``eps``, else IB's ``values["TTMEPSXCLX"]``); else ``pe_ratio`` (IB's
  ``values["PEEXCLXOR"]``) rescaled from ``FundamentalData.price`` to the current price.
- price/book: ``price / book value per share`` (``values["book_value_per_share"]``, else IB's
  ``values["QBVPS"]``); else ``price_to_book`` (IB's ``values["PRICE2BK"]``) rescaled likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.strategies.formatting import compact, money

if TYPE_CHECKING:
    from ibbot.models import FundamentalData

__all__ = ["Measure", "market_cap", "pe_ratio", "price_to_book"]

# IB ReportSnapshot ratio field names (see the fundamentals reference, "Ratios" groups)
_IB_EPS = "TTMEPSXCLX"
_IB_PE = "PEEXCLXOR"
_IB_BOOK_PER_SHARE = "QBVPS"
_IB_PRICE_TO_BOOK = "PRICE2BK"
BOOK_PER_SHARE = "book_value_per_share"


@dataclass(frozen=True, slots=True)
class Measure:
    """A number and how it was obtained; ``value`` is None when it cannot be known or is meaningless."""

    value: float | None
    basis: str


def market_cap(fundamentals: FundamentalData, price: float | None) -> Measure:
    """Market capitalisation at the current price."""
    shares = fundamentals.shares_outstanding
    if shares is not None and shares > 0 and price is not None and price > 0:
        return Measure(shares * price, f"shares {compact(shares)} x price {money(price)}")
    reported = fundamentals.market_cap
    if reported is not None and reported > 0:
        return Measure(reported, "as reported")
    return Measure(None, "no shares outstanding or market cap in the fundamentals")


def _rescaled(
    ratio: float | None, fundamentals: FundamentalData, price: float | None, label: str
) -> Measure:
    if ratio is None:
        return Measure(None, f"no {label} in the fundamentals")
    if ratio <= 0:
        return Measure(None, f"reported {label} {ratio:.2f} is not meaningful")
    then = fundamentals.price
    if then is not None and then > 0 and price is not None and price > 0:
        return Measure(
            ratio * price / then,
            f"reported {ratio:.2f} at {money(then)}, rescaled to {money(price)}",
        )
    return Measure(ratio, "as reported")


def pe_ratio(fundamentals: FundamentalData, price: float | None) -> Measure:
    """Price over trailing earnings per share; None when earnings are not positive."""
    eps = fundamentals.eps if fundamentals.eps is not None else fundamentals.values.get(_IB_EPS)
    if eps is not None and price is not None and price > 0:
        if eps <= 0:
            return Measure(None, f"EPS {eps:.2f} <= 0: no earnings to value")
        return Measure(price / eps, f"price {money(price)} / EPS {eps:.2f}")
    reported = fundamentals.pe_ratio
    if reported is None:
        reported = fundamentals.values.get(_IB_PE)
    return _rescaled(reported, fundamentals, price, "P/E")


def price_to_book(fundamentals: FundamentalData, price: float | None) -> Measure:
    """Price over book value per share; None when book value is not positive."""
    values = fundamentals.values
    book = values.get(BOOK_PER_SHARE, values.get(_IB_BOOK_PER_SHARE))
    if book is not None and price is not None and price > 0:
        if book <= 0:
            return Measure(None, f"book value per share {book:.2f} <= 0")
        return Measure(price / book, f"price {money(price)} / book {book:.2f} per share")
    reported = fundamentals.price_to_book
    if reported is None:
        reported = values.get(_IB_PRICE_TO_BOOK)
    return _rescaled(reported, fundamentals, price, "price/book")
