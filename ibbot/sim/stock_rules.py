"""How IB describes the trading of a US stock: venues, order types, price and size rules.

These are what IB Gateway sends in the contract details of a US common stock (as captured from live
gateways in 2025-2026, e.g. for AAPL): the same list of 26 venues for every US stock whatever its
listing, one market rule id per venue (rule 26: a cent at every price), IB's long list of order types
and attributes, and fractional size rules (IB trades US stocks in fractions down to 0.0001 of a
share, and suggests round lots of 100). The simulated gateway advertises them as IB does; the orders
it fills are a subset (see :mod:`ibbot.sim.orders`), and anything else gets IB's error 201 there.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MARKET_RULES",
    "MARKET_RULE_IDS",
    "MIN_SIZE",
    "ORDER_TYPES",
    "PRICE_RULE",
    "SIZE_INCREMENT",
    "STOCK_TYPE",
    "SUGGESTED_SIZE_INCREMENT",
    "VALID_EXCHANGES",
    "is_valid_exchange",
    "same_listing",
]

# The venues IB routes a US stock to, in IB's order (SMART first, then the exchanges, dark pools,
# IBKR's own ATS, the overnight session and T+0 venue).
VALID_EXCHANGES: tuple[str, ...] = (
    "SMART", "AMEX", "NYSE", "CBOE", "PHLX", "ISE", "CHX", "ARCA", "NASDAQ", "DRCTEDGE", "BEX",
    "BATS", "EDGEA", "BYX", "IEX", "EDGX", "FOXRIVER", "PEARL", "NYSENAT", "LTSE", "MEMX", "IBEOS",
    "OVERNIGHT", "TPLUS0", "PSX", "T24X",
)  # fmt: skip

# IB's order types and order attributes for a US stock, alphabetical as IB lists them.
ORDER_TYPES: tuple[str, ...] = (
    "ACTIVETIM", "AD", "ADDONT", "ADJUST", "ALERT", "ALGO", "ALLOC", "AON", "AVGCOST", "BASKET",
    "BENCHPX", "CASHQTY", "COND", "CONDORDER", "DARKONLY", "DARKPOLL", "DAY", "DEACT", "DEACTDIS",
    "DEACTEOD", "DIS", "DUR", "GAT", "GTC", "GTD", "GTT", "HID", "IBKRATS", "ICE", "IMB", "IOC",
    "LIT", "LMT", "LOC", "MIDPX", "MIT", "MKT", "MOC", "MTL", "NGCOMB", "NODARK", "NONALGO", "OCA",
    "OPG", "OPGREROUT", "PEGBENCH", "PEGMID", "POSTATS", "POSTONLY", "PREOPGRTH", "PRICECHK", "REL",
    "REL2MID", "RELPCTOFS", "RPI", "RTH", "SCALE", "SCALEODD", "SCALERST", "SIZECHK", "SNAPMID",
    "SNAPMKT", "SNAPREL", "STP", "STPLMT", "SWEEP", "TRAIL", "TRAILLIT", "TRAILLMT", "TRAILMIT",
    "WHATIF",
)  # fmt: skip

# Market rule 26: from a price of 0 up, prices move in steps of 0.01 (every US stock venue uses it).
PRICE_RULE = 26
MARKET_RULES: Mapping[int, tuple[tuple[float, float], ...]] = MappingProxyType(
    {PRICE_RULE: ((0.0, 0.01),)}
)
# ``marketRuleIds``: one rule id per valid exchange, comma-separated, in the same order.
MARKET_RULE_IDS = ",".join(str(PRICE_RULE) for _ in VALID_EXCHANGES)

# Size rules, as decimal text the way IB writes them: fractions of a share down to 0.0001.
MIN_SIZE = "0.0001"
SIZE_INCREMENT = "0.0001"
SUGGESTED_SIZE_INCREMENT = "100"
STOCK_TYPE = "COMMON"

# IB's other names for the Nasdaq listing: ISLAND (the INET book, in IB's own samples) and the
# NASDAQ.NMS market center that its symbol search reports.
_NASDAQ_ALIASES = frozenset({"ISLAND", "NASDAQ.NMS"})


def same_listing(name: str, primary_exchange: str) -> bool:
    """True when ``name`` (upper case) names the listing exchange ``primary_exchange``."""
    return name == primary_exchange or (primary_exchange == "NASDAQ" and name in _NASDAQ_ALIASES)


def is_valid_exchange(name: str) -> bool:
    """True for an exchange IB routes US stocks to (``name`` upper case; ISLAND means NASDAQ)."""
    return name in VALID_EXCHANGES or name == "ISLAND"
