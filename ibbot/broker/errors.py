"""IB's error codes in one table, and their translation into ibbot's errors and states.

TWS reports everything through one ``error(reqId, code, message)`` callback: failed requests, order
rejections, pacing violations, lost and restored connectivity, farm status chatter and plain
information. This module is the single place that knows which is which (sources: IB's message-code
table, the Campus error table, and what IB Gateway sends in practice; see
``reference/ib-operations.md`` sections 1.5 and 2.5). The rest of the broker package asks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from ibbot.errors import OrderRejected, PacingViolation, RequestFailed
from ibbot.models import ConnectionState, ConnectionStatus, ErrorInfo, OrderStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ib_async import RequestError

__all__ = [
    "CANCEL_OF_UNKNOWN",
    "CANCEL_REFUSED",
    "CLIENT_ID_IN_USE",
    "CONNECT_FAILED",
    "DATA_LOST",
    "FUNDAMENTALS_UNAVAILABLE",
    "IB_ERRORS",
    "LOGGED_BY_IBBOT",
    "ErrorCategory",
    "IBError",
    "connection_status_for",
    "describe",
    "error_info",
    "is_pacing_violation",
    "order_rejected",
    "order_status_for_error",
    "translate_request_error",
]


class ErrorCategory(StrEnum):
    """What kind of message an IB error code is, which decides what ibbot does with it."""

    CONNECTIVITY = "connectivity"  # the socket or the Gateway's link to IB
    FARM_STATUS = "farm_status"  # a data farm went away or came back
    PACING = "pacing"  # a pacing rule was broken: back off and retry
    REQUEST_ERROR = "request_error"  # one request failed; others are unaffected
    ORDER_REJECTION = "order_rejection"  # an order was refused or cancelled by IB
    WARNING = "warning"  # worth a log line; the request or order goes on
    INFORMATIONAL = "informational"  # nothing to do


@dataclass(frozen=True, slots=True)
class IBError:
    """One row of the table: IB's code, IB's meaning, its category and what ibbot does about it."""

    code: int
    meaning: str
    category: ErrorCategory
    handling: str


CLIENT_ID_IN_USE: Final = 326
CONNECT_FAILED: Final = 502
DATA_LOST: Final = 1101
FUNDAMENTALS_UNAVAILABLE: Final = 430
_HMDS_ERROR: Final = 162
_PROCESSING_ERROR: Final = 322

_C = ErrorCategory
_ROWS: Final = (
    # --- pacing
    IBError(100, "Max rate of messages per second has been exceeded.", _C.PACING,
            "PacingViolation; the request is retried after a backoff. Three of these and IB drops "
            "the session, so the global limiter keeps ibbot well under 50 messages/s."),
    IBError(420, "Invalid real-time query (IB files real-time pacing violations here).", _C.PACING,
            "PacingViolation; the subscription is retried after a backoff."),
    # --- request errors
    IBError(101, "Max number of tickers has been reached.", _C.REQUEST_ERROR,
            "RequestFailed and an error event: market data lines are exhausted."),
    IBError(102, "Duplicate ticker ID.", _C.REQUEST_ERROR, "RequestFailed and an error event."),
    IBError(_HMDS_ERROR, "Historical market data Service error message.", _C.REQUEST_ERROR,
            "Read the text: 'pacing violation' is a PacingViolation (back off, retry); anything "
            "else ('HMDS query returned no data', 'query cancelled') is a RequestFailed."),
    IBError(200, "No security definition has been found for the request (or it is ambiguous).",
            _C.REQUEST_ERROR,
            "RequestFailed: the symbol cannot be qualified; for an order, a rejection."),
    IBError(300, "Can't find EId with ticker Id.", _C.REQUEST_ERROR,
            "Logged: a cancel for a subscription IB no longer has (debug after a 1101, when IB "
            "has dropped every stream; a warning otherwise)."),
    IBError(_PROCESSING_ERROR, "Server error when processing an API client request.",
            _C.REQUEST_ERROR,
            "Read the text: 'Only 50 simultaneous API historical data requests allowed' is a "
            "PacingViolation (back off, retry); anything else is a RequestFailed and an error "
            "event."),
    IBError(354, "Requested market data is not subscribed.", _C.REQUEST_ERROR,
            "RequestFailed and an error event: the account lacks the data subscription."),
    IBError(366, "No historical data query found for ticker id.", _C.REQUEST_ERROR,
            "Logged: a cancel of a historical request that already ended (as 300)."),
    IBError(FUNDAMENTALS_UNAVAILABLE,
            "We are sorry, but fundamentals data for the security specified is not available.",
            _C.REQUEST_ERROR,
            "Fundamentals unavailable for that symbol/report (de-supported in API 10.47): said "
            "once in the log, that symbol/report is backed off, collection goes on."),
    IBError(10089, "Requested market data requires additional subscription for API.",
            _C.REQUEST_ERROR, "RequestFailed and an error event."),
    IBError(10090, "Part of requested market data is not subscribed.", _C.WARNING,
            "Logged; the subscription delivers what it can."),
    IBError(10168, "Requested market data is not subscribed. Delayed market data is not enabled.",
            _C.REQUEST_ERROR, "RequestFailed and an error event."),
    IBError(10186, "Requested market data is not subscribed. Delayed market data is not enabled.",
            _C.REQUEST_ERROR, "RequestFailed and an error event."),
    IBError(10187, "Failed to request historical ticks: No market data permissions.",
            _C.REQUEST_ERROR, "RequestFailed and an error event."),
    IBError(10189, "Failed to request tick-by-tick data. Invalid Real-time Query.",
            _C.REQUEST_ERROR, "RequestFailed and an error event."),
    # --- order rejections
    IBError(103, "Duplicate order id.", _C.ORDER_REJECTION,
            "OrderRejected; ids come from ib_async's sequence seeded by nextValidId."),
    IBError(104, "Can't modify a filled order.", _C.ORDER_REJECTION, "OrderRejected."),
    IBError(106, "Can't transmit order ID.", _C.ORDER_REJECTION, "OrderRejected."),
    IBError(107, "Cannot transmit incomplete order.", _C.ORDER_REJECTION, "OrderRejected."),
    IBError(109, "Price is out of the range defined by the Percentage setting at order "
            "defaults frame. The order will not be transmitted.", _C.ORDER_REJECTION,
            "OrderRejected."),
    IBError(110, "The price does not conform to the minimum price variation for this contract.",
            _C.ORDER_REJECTION,
            "OrderRejected for a new order (ib_async cancels it); a warning on a live one."),
    IBError(111, "The TIF (Tif type) and the order type are incompatible.", _C.ORDER_REJECTION,
            "OrderRejected."),
    IBError(135, "Can't find order with ID.", _C.ORDER_REJECTION,
            "cancel() returns False; the order is not known to IB."),
    IBError(161, "Cancel attempted when order is not in a cancellable state.",
            _C.ORDER_REJECTION, "cancel() returns False; the order's state is reported as is."),
    IBError(201, "Order rejected - Reason:", _C.ORDER_REJECTION,
            "OrderResult REJECTED with IB's reason, audited, published as an order_status event."),
    IBError(202, "Order cancelled - Reason:", _C.ORDER_REJECTION,
            "OrderResult CANCELLED with IB's reason (our own cancel confirmed, or IB cancelled)."),
    IBError(203, "The security is not available or allowed for this account.",
            _C.ORDER_REJECTION, "OrderResult REJECTED with IB's reason."),
    IBError(434, "The order size cannot be zero.", _C.ORDER_REJECTION,
            "OrderRejected (ibbot's Order refuses a zero quantity before IB sees it)."),
    IBError(10147, "OrderId that needs to be cancelled is not found.", _C.ORDER_REJECTION,
            "cancel() returns False."),
    IBError(10148, "OrderId that needs to be cancelled cannot be cancelled, state:",
            _C.ORDER_REJECTION, "cancel() returns False; the order's state is reported as is."),
    # --- warnings
    IBError(105, "Order being modified does not match original order.", _C.WARNING, "Logged."),
    IBError(165, "Historical market Data Service query message.", _C.WARNING, "Logged."),
    IBError(321, "Server error when validating an API client request.", _C.WARNING,
            "Logged; ib_async keeps the order alive (a failed modify leaves it working)."),
    IBError(399, "Order message error.", _C.WARNING,
            "Logged with the order; the order is still working (e.g. held until the open)."),
    IBError(404, "Shares for this order are not immediately available for short sale. The "
            "order will be held while we attempt to locate the shares.", _C.WARNING,
            "Logged; the order stays SUBMITTED."),
    IBError(2109, "Order Event Warning: Attribute 'Outside Regular Trading Hours' is ignored "
            "based on the order type and destination.", _C.WARNING, "Logged."),
    IBError(2137, "The closing order quantity is greater than your current position.",
            _C.WARNING, "Logged."),
    IBError(10167, "Requested market data is not subscribed. Displaying delayed market data.",
            _C.WARNING, "Logged once; delayed data is used."),
    IBError(10225, "Bust event occurred, current subscription is deactivated. Please resubscribe "
            "real-time bars immediately.", _C.WARNING,
            "Logged; ib_async re-requests the bars itself."),
    # --- connectivity
    IBError(CLIENT_ID_IN_USE, "Unable to connect as the client id is already in use. Retry with "
            "a unique client id.", _C.CONNECTIVITY,
            "ConnectionFailed at once (no wait for the connect timeout); while reconnecting, "
            "backed off like any failed attempt (IB may hold the id for a while)."),
    IBError(501, "Already connected.", _C.CONNECTIVITY, "Logged."),
    IBError(CONNECT_FAILED, "Couldn't connect to TWS. Confirm that API connections are enabled "
            "and the port is the Socket Port.", _C.CONNECTIVITY,
            "ConnectionFailed at once on first connect; backoff and retry when reconnecting."),
    IBError(504, "Not connected.", _C.CONNECTIVITY, "RequestFailed; the reconnect loop owns it."),
    IBError(507, "Bad Message Length (client id in use, or TWS closed the socket).",
            _C.CONNECTIVITY, "Treated as a dropped socket: reconnect with backoff."),
    IBError(1100, "Connectivity between IB and the TWS has been lost.", _C.CONNECTIVITY,
            "Status DEGRADED (socket stays up): requests wait for the link to come back."),
    IBError(DATA_LOST, "Connectivity between IB and TWS has been restored - data lost.",
            _C.CONNECTIVITY,
            "Status RESTORED with data_lost: every market data subscription and keepUpToDate "
            "request is re-established, then orders and executions are reconciled."),
    IBError(1102, "Connectivity between IB and TWS has been restored - data maintained.",
            _C.CONNECTIVITY, "Status RESTORED; subscriptions survived, nothing to redo."),
    IBError(1300, "TWS socket port has been reset and this connection is being dropped.",
            _C.CONNECTIVITY, "The socket drop that follows triggers a reconnect with backoff."),
    IBError(2110, "Connectivity between TWS and server is broken. It will be restored "
            "automatically.", _C.CONNECTIVITY,
            "Logged as a warning; the 1100/1101/1102 that bracket it drive the state."),
    IBError(10197, "No market data during competing live session.", _C.CONNECTIVITY,
            "Logged as a warning: a live session elsewhere takes the data; ticks pause."),
    # --- farm status
    IBError(2103, "A market data farm is disconnected.", _C.FARM_STATUS, "Status DEGRADED."),
    IBError(2104, "Market data farm connection is OK.", _C.FARM_STATUS,
            "Status RESTORED; also part of connect readiness (farms up)."),
    IBError(2105, "A historical data farm is disconnected.", _C.FARM_STATUS, "Status DEGRADED."),
    IBError(2106, "A historical data farm is connected.", _C.FARM_STATUS,
            "Status RESTORED; also part of connect readiness (farms up)."),
    IBError(2107, "A historical data farm connection has become inactive but should be "
            "available upon demand.", _C.FARM_STATUS, "Ignored (not an outage)."),
    IBError(2108, "A market data farm connection has become inactive but should be available "
            "upon demand.", _C.FARM_STATUS, "Ignored (not an outage)."),
    IBError(2119, "Market data farm is connecting.", _C.FARM_STATUS, "Ignored."),
    IBError(2157, "Sec-def data farm connection is broken.", _C.FARM_STATUS, "Status DEGRADED."),
    IBError(2158, "Sec-def data farm connection is OK.", _C.FARM_STATUS,
            "Status RESTORED; also part of connect readiness (farms up)."),
    # --- informational
    IBError(2100, "New account data requested from TWS. API client has been unsubscribed from "
            "account data.", _C.INFORMATIONAL, "Logged."),
)  # fmt: skip

IB_ERRORS: Final[Mapping[int, IBError]] = MappingProxyType({row.code: row for row in _ROWS})

_DEGRADED: Final = frozenset({1100, 2103, 2105, 2157})
_RESTORED: Final = frozenset({DATA_LOST, 1102, 2104, 2106, 2158})
_CANCELLED: Final = frozenset({202})
# A cancel of a stream IB does not have (any more): after a 1101 IB has dropped every stream, so
# the cancels ibbot sends before subscribing again are answered this way (market_data logs them).
CANCEL_OF_UNKNOWN: Final = frozenset({300, 366})
# Codes ibbot always says in its own words, so ib_async's "Error/Warning <code>" line repeats it:
# connectivity and farm notices (connection.notice, connection.degraded/restored), historical
# "no data" and pacing (requests.*, market_data.stream_failed), 430 (fundamentals.unavailable,
# once per symbol and report) and cancels of unknown streams (market_data.cancel_*). ibbot.logs
# demotes ib_async's line for these to debug.
LOGGED_BY_IBBOT: Final = frozenset(
    {_HMDS_ERROR, FUNDAMENTALS_UNAVAILABLE, *_DEGRADED, *_RESTORED, *CANCEL_OF_UNKNOWN}
    | {row.code for row in _ROWS if row.category is ErrorCategory.FARM_STATUS}
)
# Errors that refuse a *cancel*: the order itself lives on (or has already filled). ib_async marks
# the trade "Cancelled" on any error, so these must not be read as the order's end.
CANCEL_REFUSED: Final = frozenset({135, 161, 10147, 10148})


def describe(code: int) -> IBError:
    """The table row for ``code``; unknown codes get a row from the range they fall in.

    IB files 2100-2199 as notices (ib_async logs them as warnings); any other unknown code is
    treated as an error of the request it names.
    """
    known = IB_ERRORS.get(code)
    if known is not None:
        return known
    if 2100 <= code < 2200:
        return IBError(code, "IB notice", ErrorCategory.WARNING, "Logged.")
    return IBError(
        code, "IB error", ErrorCategory.REQUEST_ERROR, "RequestFailed and an error event."
    )


def is_pacing_violation(code: int, message: str) -> bool:
    """True for 100 and 420, for 162 only when its text says pacing, and for 322 only when it says
    too many historical requests are open ("Only 50 simultaneous API historical data requests").

    162 also carries "HMDS query returned no data" and "API historical data query cancelled",
    which are not pacing: retrying those after a backoff would wait for nothing.
    """
    if code == _HMDS_ERROR:
        return "pacing violation" in message.lower()
    if code == _PROCESSING_ERROR:
        return "simultaneous api historical data requests" in message.lower()
    return describe(code).category is ErrorCategory.PACING


def translate_request_error(exc: RequestError, *, request: str) -> RequestFailed:
    """ib_async's ``RequestError`` as ibbot's error: a :class:`PacingViolation` or :class:`RequestFailed`.

    The caller raises it ``from exc``; ``request`` names what was asked (e.g. ``historical AAPL``).
    """
    text = f"{request}: IB error {exc.code}: {exc.message}"
    if is_pacing_violation(exc.code, exc.message):
        return PacingViolation(text, code=exc.code, request=request)
    return RequestFailed(text, code=exc.code, request=request)


def order_rejected(code: int, message: str, *, order_ref: str = "") -> OrderRejected:
    """An :class:`OrderRejected` naming the order (by its ``orderRef``) and IB's reason."""
    prefix = f"order {order_ref} " if order_ref else "order "
    return OrderRejected(f"{prefix}rejected by IB ({code}): {message}", code=code)


def order_status_for_error(code: int) -> OrderStatus | None:
    """The order state an error on a live order means: CANCELLED for 202, REJECTED for the rest.

    None when the code does not end an order: warnings such as 399 or 404 leave it working, and a
    refused cancel (161, 10147, 10148, 135) leaves it as it was.
    """
    if code in CANCEL_REFUSED:
        return None
    if code in _CANCELLED:
        return OrderStatus.CANCELLED
    if describe(code).category is ErrorCategory.ORDER_REJECTION or code == 200:
        return OrderStatus.REJECTED
    return None


def connection_status_for(
    code: int, message: str, *, host: str = "", port: int = 0, client_id: int = 0
) -> ConnectionStatus | None:
    """The connection state change an error code announces, or None if it announces none.

    Degraded on 1100/2103/2105/2157, restored on 1101/1102/2104/2106/2158; only 1101 says the
    Gateway lost our subscriptions (``data_lost``), so only 1101 forces a resubscription.
    """
    if code in _DEGRADED:
        state = ConnectionState.DEGRADED
    elif code in _RESTORED:
        state = ConnectionState.RESTORED
    else:
        return None
    return ConnectionStatus(
        state=state,
        message=message,
        code=code,
        host=host,
        port=port,
        client_id=client_id,
        data_lost=code == DATA_LOST,
    )


def error_info(
    code: int | None, message: str, *, request: str = "", symbol: str | None = None
) -> ErrorInfo:
    """The payload of an ``error`` event for a failed request."""
    return ErrorInfo(message=message, code=code, request=request, symbol=symbol)
