"""The one exception tree of ibbot.

Every error ibbot raises on purpose derives from :class:`IbbotError`, so a caller can catch "anything
ibbot says went wrong" in one place. Foreign exceptions (ib_async, pyarrow, OSError, pydantic) are
translated at the boundary where they happen, with ``raise ... from``, so the original stays attached.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ConfigError",
    "ConnectionFailed",
    "FundamentalsParseError",
    "FundamentalsUnavailable",
    "IbbotError",
    "LiveTradingRefused",
    "OrderRejected",
    "PacingViolation",
    "RequestFailed",
    "RiskBlocked",
    "SessionEnded",
    "StoreError",
]


class IbbotError(Exception):
    """Root of every error ibbot raises deliberately."""


class ConfigError(IbbotError):
    """A setting is missing or invalid.

    ``key`` is the dotted settings path (``ib.port``), ``value`` what was given, ``reason`` why it was
    refused. ``str()`` is the one line the CLI prints before exiting with status 2.
    """

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(f"invalid setting {key}={value!r}: {reason}")


class StoreError(IbbotError):
    """A file in the data store could not be read or written; the message names the file."""


class BrokerError(IbbotError):
    """Something went wrong talking to TWS / IB Gateway."""


class ConnectionFailed(BrokerError):
    """The gateway could not be reached, refused us, or did not become ready in time."""


class RequestFailed(BrokerError):
    """An IB request ended with an error code, a timeout, or an empty answer where data was expected.

    ``code`` is IB's error code when there is one (see ``ibbot.broker.errors`` for the table).
    """

    def __init__(self, message: str, *, code: int | None = None, request: str = "") -> None:
        self.code = code
        self.request = request
        super().__init__(message)


class SessionEnded(RequestFailed):
    """The connection session a piece of work belonged to has ended (the Gateway dropped us).

    Raised instead of waiting for the next session by work that must end with its session (the
    session hooks, a reconciliation): its answer would describe a session that no longer exists,
    and the next session runs the hooks again.
    """


class FundamentalsUnavailable(RequestFailed):
    """IB has no fundamentals report for this symbol: error 430, an empty answer or no answer.

    IB de-supported ``reqFundamentalData`` in TWS API 10.47, so this is an expected state, not a
    fault: the collector says so once per symbol and report and backs off.
    """


class PacingViolation(RequestFailed):
    """IB refused a request for breaking its pacing rules (codes 100, 162 with the pacing text, 420)."""


class FundamentalsParseError(BrokerError):
    """An IB fundamentals document could not be parsed (garbage, truncated, hostile or wrong report).

    ``str()`` names the symbol and report and quotes a short excerpt, so one log line tells what came
    back; the caller logs it and carries on with the next symbol.
    """

    def __init__(self, symbol: str, report_type: str, reason: str, excerpt: str) -> None:
        self.symbol = symbol
        self.report_type = report_type
        self.reason = reason
        self.excerpt = excerpt
        super().__init__(f"{report_type} for {symbol}: {reason} (document starts {excerpt!r})")


class OrderRejected(BrokerError):
    """The broker rejected an order; ``code`` is IB's error code when known."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class LiveTradingRefused(BrokerError):
    """An order was refused because the account is live and live trading is not enabled.

    Paper accounts start with ``DU``; anything else moves real money and needs the explicit setting
    ``ib.allow_live_trading = true``.
    """


class RiskBlocked(IbbotError):
    """The risk gate refused an order; ``rule`` names the limit that blocked it."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"{rule}: {message}")
