"""Which account keys and summary tags IB sends for a US Reg T paper account, in which currency.

The values come from the exchange's books (every formula: :mod:`ibbot.exchange.account`); this module
lays them out as IB does on the wire, as seen in account dumps of real IB paper accounts:

* ``reqAccountUpdates`` / ``reqAccountUpdatesMulti`` send every key at once. Account-wide money keys
  come in the base currency, and most also per account segment with a ``-S`` suffix (securities: the
  only segment of an account that trades stocks alone); the cash-ledger keys come twice, once for
  ``BASE`` (all currencies converted to the base) and once per currency held (here USD only); ratios,
  counts and flags have no currency.
* ``reqAccountSummary`` sends the tags asked for (IB's ``AccountSummaryTags``, plus
  ``DayTradesRemainingT+1..4``), in the base currency, sorted by tag; ``$LEDGER`` adds the cash-ledger
  keys for ``BASE``, ``$LEDGER:ALL`` for ``BASE`` and every currency, ``$LEDGER:USD`` for USD alone.
  A tag IB does not know (e.g. ``ReqTEquity``, the misspelling in IB's own sample list) gets no row,
  as from IB.

Keys for assets the simulated account never holds (bonds, options, funds, futures, crypto, other
currencies) and for interest and dividends it never accrues are sent with 0.00, as IB sends them for
an account without such holdings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["BASE", "AccountRow", "summary_rows", "update_rows"]

BASE = "BASE"
_LEDGER = "$LEDGER"
_SEGMENT = "-S"
ACCOUNT_TYPE = "INDIVIDUAL"
# The securities segment's title and trading permissions as IB names them (stocks and options).
SEGMENT_TITLE = "Securities"
TRADING_TYPE = "STKNOPT"

# Money keys sent plain and for the securities segment ("-S"), all in the base currency.
_SEGMENTED = (
    "AccruedCash",
    "AccruedDividend",
    "AvailableFunds",
    "Billable",
    "EquityWithLoanValue",
    "ExcessLiquidity",
    "FullAvailableFunds",
    "FullExcessLiquidity",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "GrossPositionValue",
    "Guarantee",
    "IndianStockHaircut",
    "InitMarginReq",
    "LookAheadAvailableFunds",
    "LookAheadExcessLiquidity",
    "LookAheadInitMarginReq",
    "LookAheadMaintMarginReq",
    "MaintMarginReq",
    "NetLiquidation",
    "PASharesValue",
    "PhysicalCertificateValue",
    "PostExpirationExcess",
    "PostExpirationMargin",
    "PreviousDayEquityWithLoanValue",
    "RegTEquity",
    "RegTMargin",
    "SMA",
    "TotalCashValue",
    "TotalDebitCardPendingCharges",
)
# Money keys sent once, in the base currency.
_PLAIN = ("BuyingPower", "NetLiquidationUncertainty")
# The cash ledger: sent for BASE and for every currency held (values equal: USD is the base).
_LEDGER_MONEY = (
    "AccruedCash",
    "CashBalance",
    "CorporateBondValue",
    "Cryptocurrency",
    "FundValue",
    "FutureOptionValue",
    "FuturesPNL",
    "FxCashBalance",
    "IssuerOptionValue",
    "MoneyMarketFundValue",
    "MutualFundValue",
    "NetDividend",
    "NetLiquidationByCurrency",
    "OptionMarketValue",
    "RealizedPnL",
    "StockMarketValue",
    "TBillValue",
    "TBondValue",
    "TotalCashBalance",
    "UnrealizedPnL",
    "WarrantValue",
)
_DAY_TRADES = tuple("DayTradesRemaining" + (f"T+{ahead}" if ahead else "") for ahead in range(5))
_COUNTS = ("HighestSeverity", "LookAheadNextChange", *_DAY_TRADES)

# reqAccountSummary's money tags; with AccountType, Cushion, Leverage and the counts above they are
# IB's AccountSummaryTags list (RegT spelled as IB answers it) and the DayTradesRemainingT+n tags.
_SUMMARY_MONEY = frozenset(
    {
        "AccruedCash",
        "AvailableFunds",
        "BuyingPower",
        "EquityWithLoanValue",
        "ExcessLiquidity",
        "FullAvailableFunds",
        "FullExcessLiquidity",
        "FullInitMarginReq",
        "FullMaintMarginReq",
        "GrossPositionValue",
        "InitMarginReq",
        "LookAheadAvailableFunds",
        "LookAheadExcessLiquidity",
        "LookAheadInitMarginReq",
        "LookAheadMaintMarginReq",
        "MaintMarginReq",
        "NetLiquidation",
        "PreviousDayEquityWithLoanValue",
        "RegTEquity",
        "RegTMargin",
        "SettledCash",
        "SMA",
        "TotalCashValue",
    }
)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One account key (or summary tag) as sent: its name, its value as text, its currency."""

    key: str
    value: str
    currency: str


def update_rows(tags: Mapping[str, float], account: str, currency: str) -> list[AccountRow]:
    """Every key of ``reqAccountUpdates`` for the account's ``tags``, sorted as IB sends them."""
    rows = {
        ("AccountCode", ""): account,
        ("AccountReady", ""): "true",
        ("AccountType", ""): ACCOUNT_TYPE,
        ("Cushion", ""): _ratio(tags["Cushion"]),
        ("Leverage" + _SEGMENT, ""): f"{tags['Leverage']:.2f}",
        ("NLVAndMarginInReview", ""): "false",
        ("SegmentTitle" + _SEGMENT, ""): SEGMENT_TITLE,
        ("TradingType" + _SEGMENT, ""): TRADING_TYPE,
        ("WhatIfPMEnabled", ""): "true",
    }
    for key in _COUNTS:
        if key != "HighestSeverity":  # a summary tag only
            rows[key, ""] = _count(tags[key])
    for key in _SEGMENTED:
        rows[key, currency] = rows[key + _SEGMENT, currency] = _money(tags.get(key, 0.0))
    for key in _PLAIN:
        rows[key, currency] = _money(tags.get(key, 0.0))
    for ledger_currency in (BASE, currency):
        rows.update({(r.key, r.currency): r.value for r in _ledger(tags, account, ledger_currency)})
    return [AccountRow(key, value, cur) for (key, cur), value in sorted(rows.items())]


def summary_rows(
    requested: Iterable[str], tags: Mapping[str, float], account: str, currency: str
) -> list[AccountRow]:
    """The rows of ``reqAccountSummary`` for the ``requested`` tags, sorted as IB sends them."""
    rows: dict[tuple[str, str], str] = {}
    for tag in requested:
        if tag in _SUMMARY_MONEY:
            rows[tag, currency] = _money(tags[tag])
        elif tag in _COUNTS:
            rows[tag, ""] = _count(tags[tag])
        elif tag == "AccountType":
            rows[tag, ""] = ACCOUNT_TYPE
        elif tag in ("Cushion", "Leverage"):
            rows[tag, ""] = _ratio(tags[tag])
        elif tag == _LEDGER or tag.startswith(_LEDGER + ":"):
            for ledger_currency in _ledger_currencies(tag, currency):
                rows.update(
                    {(r.key, r.currency): r.value for r in _ledger(tags, account, ledger_currency)}
                )
    return [AccountRow(tag, value, cur) for (tag, cur), value in sorted(rows.items())]


def _ledger_currencies(tag: str, currency: str) -> tuple[str, ...]:
    """``$LEDGER``: BASE; ``$LEDGER:ALL``: BASE and every currency held; ``$LEDGER:XXX``: XXX if held."""
    wanted = tag.partition(":")[2].upper()
    if not wanted:
        return (BASE,)
    if wanted == "ALL":
        return (BASE, currency)
    return (currency,) if wanted == currency else ()


def _ledger(tags: Mapping[str, float], account: str, currency: str) -> list[AccountRow]:
    rows = [
        AccountRow("AccountOrGroup", account, currency),
        AccountRow("Currency", currency, currency),
        AccountRow("ExchangeRate", "1.00", currency),  # one currency, the base: rate 1
        AccountRow("RealCurrency", currency, currency),
    ]
    rows.extend(AccountRow(key, _money(tags.get(key, 0.0)), currency) for key in _LEDGER_MONEY)
    return rows


def _money(value: float) -> str:
    return f"{value:.2f}"


def _ratio(value: float) -> str:
    # IB writes ratios with up to six decimals and no trailing zeros (e.g. Cushion 0.99515)
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _count(value: float) -> str:
    return str(int(value))
