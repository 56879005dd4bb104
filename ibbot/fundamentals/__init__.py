"""Company fundamentals from several sources, in priority order, stored point in time.

- :class:`FundamentalsSource`: what a source implements (IB's reports, SEC EDGAR company facts);
- :class:`FundamentalsService`: asks the configured sources in order, stores and publishes what
  the first that answers returns, and gives a per-symbol :class:`FundamentalsOutcome`;
- :func:`open_sources`: the configured sources, built from the settings;
- :mod:`ibbot.fundamentals.sec`: the SEC source (the only part of ibbot that speaks HTTP).
"""

from ibbot.fundamentals.errors import (
    FundamentalsError,
    MalformedResponse,
    NoXbrlFacts,
    SecRequestFailed,
    SourceUnavailable,
    UnknownTicker,
)
from ibbot.fundamentals.prices import PricePoint, StorePrices
from ibbot.fundamentals.service import (
    FundamentalsOutcome,
    FundamentalsService,
    OutcomeStatus,
    SourceAttempt,
)
from ibbot.fundamentals.source import FundamentalsSource
from ibbot.fundamentals.sources import open_sources

__all__ = [
    "FundamentalsError",
    "FundamentalsOutcome",
    "FundamentalsService",
    "FundamentalsSource",
    "MalformedResponse",
    "NoXbrlFacts",
    "OutcomeStatus",
    "PricePoint",
    "SecRequestFailed",
    "SourceAttempt",
    "SourceUnavailable",
    "StorePrices",
    "UnknownTicker",
    "open_sources",
]
