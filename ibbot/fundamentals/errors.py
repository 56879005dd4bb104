"""What can go wrong when fetching fundamentals, split by what the caller should do about it.

:class:`SourceUnavailable` is an expected state, not a fault: the source has nothing for this
symbol (IB's error 430 since reqFundamentalData was de-supported, a ticker the SEC does not list, a
company that files no XBRL). The service moves on to the next source and says so once.
Every other :class:`FundamentalsError` is a failure worth a warning (HTTP errors after retries,
malformed answers); the service also moves on, and the symbol's outcome carries the reason.
"""

from __future__ import annotations

from ibbot.errors import IbbotError

__all__ = [
    "FundamentalsError",
    "MalformedResponse",
    "NoXbrlFacts",
    "SecRequestFailed",
    "SourceUnavailable",
    "UnknownTicker",
]


class FundamentalsError(IbbotError):
    """A fundamentals source could not answer for a symbol; the message says why."""


class SourceUnavailable(FundamentalsError):
    """The source has no fundamentals for this symbol (try the next source; not worth a warning)."""


class UnknownTicker(SourceUnavailable):
    """The SEC's ticker map does not list this symbol (not a US filer, or a delisted ticker)."""


class NoXbrlFacts(SourceUnavailable):
    """The company files no XBRL financial data (funds, many foreign filers, shells)."""


class SecRequestFailed(FundamentalsError):
    """An SEC request failed for good: an HTTP error, or retries exhausted on 429/5xx/network errors.

    ``status`` is the last HTTP status (None when no answer came), ``url`` what was asked.
    """

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class MalformedResponse(FundamentalsError):
    """An answer was not the JSON document expected (truncated, garbage, or another shape)."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)
