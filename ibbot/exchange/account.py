"""IB's account tags for a Reg T margin account of US stocks: every formula in one place.

:func:`account_tags` turns the books at one instant (:class:`AccountFigures`) into the values IB
reports under each tag; the wire layer only chooses which tags a request gets and how they are
written. Money is rounded to cents first and every derived tag is computed from rounded inputs, so
the identities below hold to the cent on the wire, not merely to within a rounding error.

==================================  ===============================================================
tag                                 value
==================================  ===============================================================
TotalCashValue, CashBalance,        cash on the trade date (a fill moves it at once, commission
TotalCashBalance                    included); negative when buying on margin
SettledCash                         TotalCashValue minus the net proceeds of trades not yet settled
                                    (US stocks settle T+1: the next business day)
StockMarketValue                    sum of quantity x mark (shorts negative)
GrossPositionValue                  sum of abs(quantity) x mark
NetLiquidation,                     TotalCashValue + StockMarketValue
NetLiquidationByCurrency
EquityWithLoanValue, RegTEquity     NetLiquidation (stocks only: nothing is non-marginable)
PreviousDayEquityWithLoanValue      cash at the start of the trading day + sum of quantity held then
                                    x that symbol's previous regular close
InitMarginReq, MaintMarginReq       25% x GrossPositionValue (IB's intraday rate)
RegTMargin                          50% x GrossPositionValue (Reg T initial requirement)
AvailableFunds                      EquityWithLoanValue - InitMarginReq
ExcessLiquidity                     EquityWithLoanValue - MaintMarginReq
BuyingPower                         4 x AvailableFunds (25% margin: four times leverage)
Cushion                             ExcessLiquidity / NetLiquidation (0 when NetLiquidation <= 0)
Leverage                            GrossPositionValue / NetLiquidation (0 when NetLiquidation <= 0)
Full{InitMarginReq, MaintMarginReq, the same as without "Full": the sim grants no intraday discount,
AvailableFunds, ExcessLiquidity}    so the whole-portfolio values are the current ones
LookAhead{InitMarginReq, ...}       the same as the current values: margin rates never change with the
                                    time of day here, so no change is pending
LookAheadNextChange                 0 (no pending change)
SMA                                 the Special Memorandum Account the books keep (see ``Ledger``):
                                    opening cash; each fill subtracts 50% of the gross value it adds
                                    (adds 50% of what it removes) and its commission; at each new
                                    trading day raised to the previous close's RegTEquity - RegTMargin
                                    when that is higher (market gains credit SMA, losses never debit)
DayTradesRemaining                  -1 (unlimited) when PreviousDayEquityWithLoanValue >= 25,000
                                    (FINRA's pattern-day-trader minimum), else 3 - day trades in the
                                    last five business days, never below 0
DayTradesRemainingT+1 .. T+4        the same, one to four business days ahead (today's trades drop
                                    out of the five-day window)
HighestSeverity                     0 while ExcessLiquidity >= 0, else 1 (a margin deficiency)
UnrealizedPnL                       sum of (mark - average cost) x quantity (average costs include
                                    commissions, as IB's do)
RealizedPnL                         P&L realized today (commissions included), 0 at each new day
AccruedCash, AccruedDividend,       0: the sim pays no interest and no dividends and holds no
NetDividend, OptionMarketValue,     options, bonds, funds, futures or other currencies
FuturesPNL, ... (asset classes the
sim does not hold)
==================================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DAY_TRADES_ALLOWED",
    "INITIAL_MARGIN_RATE",
    "MAINTENANCE_MARGIN_RATE",
    "PATTERN_DAY_TRADER_EQUITY",
    "REG_T_MARGIN_RATE",
    "UNLIMITED_DAY_TRADES",
    "AccountFigures",
    "PositionPnL",
    "account_tags",
    "cents",
]

INITIAL_MARGIN_RATE = 0.25
MAINTENANCE_MARGIN_RATE = 0.25
# Regulation T: a purchase on margin needs 50% of its value as equity (the SMA debit of a buy).
REG_T_MARGIN_RATE = 0.50
# FINRA Rule 4210: below USD 25,000 of equity a margin account may make 3 day trades in 5 business
# days; at or above it day trades are unlimited, which IB reports as -1.
PATTERN_DAY_TRADER_EQUITY = 25_000.0
DAY_TRADES_ALLOWED = 3
UNLIMITED_DAY_TRADES = -1


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """The books at one instant, valued at the caller's marks: what every tag is computed from."""

    cash: float
    settled_cash: float
    stock_value: float
    gross_value: float
    unrealized: float
    realized_today: float
    previous_day_equity: float
    sma: float
    # day trades left today and one to four business days ahead (before the PDT equity test)
    day_trades_left: tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class PositionPnL:
    """One symbol's P&L as IB's reqPnLSingle reports it.

    ``daily`` is the change in value since the previous regular close (positions held then) or since
    the trade (positions opened today), commissions included; ``realized`` is what today's trades
    realized, None when the symbol has not traded today (IB then sends its "unset" double).
    """

    symbol: str
    position: float
    daily: float
    unrealized: float
    realized: float | None
    value: float


def account_tags(figures: AccountFigures) -> dict[str, float]:
    """Every account tag the books define, by IB's tag name (see the module docstring)."""
    cash = cents(figures.cash)
    stock_value = cents(figures.stock_value)
    gross = cents(figures.gross_value)
    net = cents(cash + stock_value)
    initial = cents(INITIAL_MARGIN_RATE * gross)
    maintenance = cents(MAINTENANCE_MARGIN_RATE * gross)
    reg_t_margin = cents(REG_T_MARGIN_RATE * gross)
    available = cents(net - initial)
    excess = cents(net - maintenance)
    previous_equity = cents(figures.previous_day_equity)
    tags = {
        "AccruedCash": 0.0,
        "AvailableFunds": available,
        "BuyingPower": cents(available / INITIAL_MARGIN_RATE),
        "CashBalance": cash,
        "Cushion": excess / net if net > 0 else 0.0,
        "EquityWithLoanValue": net,
        "ExcessLiquidity": excess,
        "GrossPositionValue": gross,
        "HighestSeverity": 0.0 if excess >= 0 else 1.0,
        "InitMarginReq": initial,
        "Leverage": gross / net if net > 0 else 0.0,
        "LookAheadNextChange": 0.0,
        "MaintMarginReq": maintenance,
        "NetLiquidation": net,
        "NetLiquidationByCurrency": net,
        "PreviousDayEquityWithLoanValue": previous_equity,
        "RealizedPnL": cents(figures.realized_today),
        "RegTEquity": net,
        "RegTMargin": reg_t_margin,
        "SettledCash": cents(figures.settled_cash),
        "SMA": cents(figures.sma),
        "StockMarketValue": stock_value,
        "TotalCashBalance": cash,
        "TotalCashValue": cash,
        "UnrealizedPnL": cents(figures.unrealized),
    }
    for name in ("InitMarginReq", "MaintMarginReq", "AvailableFunds", "ExcessLiquidity"):
        tags[f"Full{name}"] = tags[name]
        tags[f"LookAhead{name}"] = tags[name]
    unlimited = previous_equity >= PATTERN_DAY_TRADER_EQUITY
    for ahead, left in enumerate(figures.day_trades_left):
        key = "DayTradesRemaining" + (f"T+{ahead}" if ahead else "")
        tags[key] = float(UNLIMITED_DAY_TRADES if unlimited else left)
    return dict(sorted(tags.items()))


def cents(value: float) -> float:
    """``value`` rounded to cents as IB reports money (never -0.0)."""
    # + 0.0 turns a rounded -0.0 into 0.0, so a zero is never written "-0.00"
    return round(value, 2) + 0.0
