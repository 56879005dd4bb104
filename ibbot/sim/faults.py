"""What can be made to go wrong in the simulated gateway, and the state that remembers it.

The faults are the ones a service talking to IB must survive: a Gateway restart (sockets dropped,
connections refused for a while), IB's connectivity and data-farm notices, pacing violations,
rejected orders, connect-time requests whose End message never comes (ib_async then times out that
part of its startup sync), slow replies, symbols whose live data never comes, symbols without a
live market data subscription (delayed data only), and a symbol pinned to a price (a crash through
a stop, say) for the exchange's matching. The gateway
applies them; this module only names them and holds the settings, so tests and the control
interface speak the same vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ibbot.sim.protocol import ErrorCode

__all__ = ["NOTICE_CODES", "EndMessage", "FaultState"]

# The system notices a test can send: connectivity lost/restored and the data-farm status messages.
NOTICE_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.CONNECTIVITY_LOST,
        ErrorCode.CONNECTIVITY_RESTORED_DATA_LOST,
        ErrorCode.CONNECTIVITY_RESTORED_DATA_KEPT,
        ErrorCode.MARKET_FARM_BROKEN,
        ErrorCode.MARKET_FARM_OK,
        ErrorCode.HMDS_FARM_BROKEN,
        ErrorCode.HMDS_FARM_OK,
        ErrorCode.SECDEF_FARM_BROKEN,
        ErrorCode.SECDEF_FARM_OK,
    }
)


class EndMessage(StrEnum):
    """The End messages that close ib_async's connect-time requests (withholdable one by one)."""

    POSITION_END = "positionEnd"
    OPEN_ORDER_END = "openOrderEnd"
    COMPLETED_ORDERS_END = "completedOrdersEnd"
    ACCOUNT_DOWNLOAD_END = "accountDownloadEnd"
    ACCOUNT_UPDATE_MULTI_END = "accountUpdateMultiEnd"
    EXEC_DETAILS_END = "execDetailsEnd"


@dataclass(slots=True)
class FaultState:
    """The gateway's current fault settings (mutable; changed through the gateway's fault API)."""

    withheld: set[EndMessage] = field(default_factory=set)
    reply_delay: float = 0.0
    silent_symbols: set[str] = field(default_factory=set)
    # symbols without a live market data subscription: delayed data only (issue 13)
    delayed_only: set[str] = field(default_factory=set)
    # symbol -> the price the exchange trades it at, whatever the simulated market says
    pinned_prices: dict[str, float] = field(default_factory=dict)

    def withholds(self, message: EndMessage) -> bool:
        """True when ``message`` must not be sent."""
        return message in self.withheld

    def is_silent(self, symbol: str) -> bool:
        """True when ``symbol``'s live data (ticks, real-time bars, bar updates) is withheld."""
        return symbol in self.silent_symbols

    def has_live_data(self, symbol: str) -> bool:
        """False when ``symbol`` has no live market data subscription (delayed data only)."""
        return symbol not in self.delayed_only

    def clear(self) -> None:
        """Back to a well-behaved gateway."""
        self.withheld.clear()
        self.reply_delay = 0.0
        self.silent_symbols.clear()
        self.delayed_only.clear()
        self.pinned_prices.clear()
