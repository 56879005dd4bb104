"""The gateway's security master: which simulated stock a client's contract means.

IB matches a contract on whatever the client filled in: a conId alone is enough; otherwise the
symbol, with the security type, currency, exchange and primary exchange narrowing it down. The
simulated world holds US common stocks only, routed through SMART or any venue IB lists for US
stocks, so anything else (options, futures, another currency, an unknown exchange) is "no security
definition" (error 200), exactly what a client sees from IB for a bad contract.

IB's symbol search (reqMatchingSymbols) finds stocks by "the first few letters of the ticker symbol,
or for longer strings, a character sequence matching a word in the security name", up to 16 of them:
tickers that start with the pattern come first, alphabetically (so an exact ticker leads), then
names in which the pattern starts a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.sim.stock_rules import is_valid_exchange, same_listing
from ibbot.sim.universe import SimSecurity, Universe

if TYPE_CHECKING:
    from ibbot.sim.requests import ContractSpec

__all__ = ["MAX_MATCHES", "ContractBook", "Resolved"]

_STOCK_TYPES = {"", "STK"}
# IB answers a symbol search with at most 16 contract descriptions.
MAX_MATCHES = 16
_NOT_WORD = re.compile(r"[^A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A contract matched to a simulated security, with the exchange the client asked for."""

    security: SimSecurity
    exchange: str


class ContractBook:
    """Resolves client contracts against the simulated universe."""

    def __init__(self, universe: Universe) -> None:
        self._universe = universe

    @property
    def universe(self) -> Universe:
        """The securities this gateway knows."""
        return self._universe

    def resolve(self, spec: ContractSpec) -> Resolved | None:
        """The security the contract names, or None when nothing (or more than one thing) matches."""
        security: SimSecurity | None
        if spec.con_id > 0:
            security = self._universe.by_con_id(spec.con_id)
            if security is None or (spec.symbol and spec.symbol.upper() != security.symbol):
                return None
        else:
            symbol = (spec.symbol or spec.local_symbol).upper()
            security = self._universe.get(symbol)
            if security is None:
                return None
        if spec.sec_type.upper() not in _STOCK_TYPES:
            return None
        if spec.currency and spec.currency.upper() != security.currency:
            return None
        if spec.strike or spec.right not in ("", "?") or spec.last_trade_date:
            return None
        exchange = spec.exchange.upper()
        if exchange and not is_valid_exchange(exchange):
            return None
        primary = spec.primary_exchange.upper()
        if primary and not same_listing(primary, security.primary_exchange):
            return None
        return Resolved(security, exchange or "SMART")

    def by_symbol(self, symbol: str) -> SimSecurity | None:
        """The security with this ticker symbol, or None."""
        return self._universe.get(symbol.upper())

    def matching(self, pattern: str) -> list[SimSecurity]:
        """IB's symbol search: tickers starting with ``pattern``, then names with a word starting it."""
        words = _words(pattern)
        if not words:
            return []
        ticker = pattern.strip().upper()
        securities = sorted(self._universe.values(), key=lambda s: s.symbol)
        by_ticker = [s for s in securities if s.symbol.startswith(ticker)]
        found = {s.symbol for s in by_ticker}
        phrase = " " + " ".join(words)
        by_name = [
            s
            for s in securities
            if s.symbol not in found and phrase in " " + " ".join(_words(s.long_name))
        ]
        return (by_ticker + by_name)[:MAX_MATCHES]


def _words(text: str) -> list[str]:
    """The upper-case words of ``text`` (punctuation and spaces separate them)."""
    return [w for w in _NOT_WORD.split(text.upper()) if w]
