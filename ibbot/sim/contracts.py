"""The gateway's security master: which simulated stock a client's contract means.

IB matches a contract on whatever the client filled in: a conId alone is enough; otherwise the
symbol, with the security type, currency, exchange and primary exchange narrowing it down. The
simulated world holds US common stocks only, routed through SMART or their listing exchange, so
anything else (options, futures, another currency, an exchange the stock does not trade on) is
"no security definition" (error 200), exactly what a client sees from IB for a bad contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.sim.universe import SimSecurity, Universe

if TYPE_CHECKING:
    from ibbot.sim.requests import ContractSpec

__all__ = ["ContractBook", "Resolved"]

_STOCK_TYPES = {"", "STK"}


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
        if exchange not in ("", "SMART", security.primary_exchange):
            return None
        primary = spec.primary_exchange.upper()
        if primary and primary != security.primary_exchange:
            return None
        return Resolved(security, exchange or "SMART")

    def by_symbol(self, symbol: str) -> SimSecurity | None:
        """The security with this ticker symbol, or None."""
        return self._universe.get(symbol.upper())
