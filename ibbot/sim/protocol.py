"""Message ids of the TWS protocol and the IB error codes the simulated gateway answers with.

Ids follow IB's official client (``ibapi.message``); texts are IB's own wording where IB publishes
it (the TWS API message-codes table) or where it is seen in Gateway logs, so clients that match on
text (e.g. "pacing violation" inside a 162) behave as they would against IB.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["HISTORICAL_PACING_TEXT", "ErrorCode", "In", "Out", "error_text"]


class In(IntEnum):
    """Client -> gateway message ids."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_MKT_DEPTH = 10
    CANCEL_MKT_DEPTH = 11
    REQ_NEWS_BULLETINS = 12
    CANCEL_NEWS_BULLETINS = 13
    SET_SERVER_LOGLEVEL = 14
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_FA = 18
    REPLACE_FA = 19
    REQ_HISTORICAL_DATA = 20
    EXERCISE_OPTIONS = 21
    REQ_SCANNER_SUBSCRIPTION = 22
    CANCEL_SCANNER_SUBSCRIPTION = 23
    REQ_SCANNER_PARAMETERS = 24
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_REAL_TIME_BARS = 50
    CANCEL_REAL_TIME_BARS = 51
    REQ_FUNDAMENTAL_DATA = 52
    CANCEL_FUNDAMENTAL_DATA = 53
    REQ_CALC_IMPLIED_VOLAT = 54
    REQ_CALC_OPTION_PRICE = 55
    CANCEL_CALC_IMPLIED_VOLAT = 56
    CANCEL_CALC_OPTION_PRICE = 57
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    VERIFY_REQUEST = 65
    VERIFY_MESSAGE = 66
    QUERY_DISPLAY_GROUPS = 67
    SUBSCRIBE_TO_GROUP_EVENTS = 68
    UPDATE_DISPLAY_GROUP = 69
    UNSUBSCRIBE_FROM_GROUP_EVENTS = 70
    START_API = 71
    VERIFY_AND_AUTH_REQUEST = 72
    VERIFY_AND_AUTH_MESSAGE = 73
    REQ_POSITIONS_MULTI = 74
    CANCEL_POSITIONS_MULTI = 75
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_SEC_DEF_OPT_PARAMS = 78
    REQ_SOFT_DOLLAR_TIERS = 79
    REQ_FAMILY_CODES = 80
    REQ_MATCHING_SYMBOLS = 81
    REQ_MKT_DEPTH_EXCHANGES = 82
    REQ_SMART_COMPONENTS = 83
    REQ_NEWS_ARTICLE = 84
    REQ_NEWS_PROVIDERS = 85
    REQ_HISTORICAL_NEWS = 86
    REQ_HEAD_TIMESTAMP = 87
    REQ_HISTOGRAM_DATA = 88
    CANCEL_HISTOGRAM_DATA = 89
    CANCEL_HEAD_TIMESTAMP = 90
    REQ_MARKET_RULE = 91
    REQ_PNL = 92
    CANCEL_PNL = 93
    REQ_PNL_SINGLE = 94
    CANCEL_PNL_SINGLE = 95
    REQ_HISTORICAL_TICKS = 96
    REQ_TICK_BY_TICK_DATA = 97
    CANCEL_TICK_BY_TICK_DATA = 98
    REQ_COMPLETED_ORDERS = 99
    REQ_WSH_META_DATA = 100
    CANCEL_WSH_META_DATA = 101
    REQ_WSH_EVENT_DATA = 102
    CANCEL_WSH_EVENT_DATA = 103
    REQ_USER_INFO = 104


class Out(IntEnum):
    """Gateway -> client message ids."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    TICK_STRING = 46
    CURRENT_TIME = 49
    REAL_TIME_BARS = 50
    FUNDAMENTAL_DATA = 51
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    POSITION_MULTI = 71
    POSITION_MULTI_END = 72
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    SECURITY_DEFINITION_OPTION_PARAMETER_END = 76
    SYMBOL_SAMPLES = 79
    TICK_REQ_PARAMS = 81
    HEAD_TIMESTAMP = 88
    HISTORICAL_DATA_UPDATE = 90
    MARKET_RULE = 93
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102
    # reqPnL / reqPnLSingle answers
    PNL = 94
    PNL_SINGLE = 95
    # tick-by-tick, historical ticks, histogram and generic ticks (issue 13, market data)
    TICK_GENERIC = 45
    HISTOGRAM_DATA = 89
    HISTORICAL_TICKS = 96
    HISTORICAL_TICKS_BID_ASK = 97
    HISTORICAL_TICKS_LAST = 98
    TICK_BY_TICK = 99


class ErrorCode(IntEnum):
    """IB error and notice codes the gateway sends (``error`` message, id 4)."""

    # 100: the client sent more than the allowed messages per second; three strikes end the session.
    MAX_RATE_EXCEEDED = 100
    # 102: a market data request reused a ticker id that is still active.
    DUPLICATE_TICKER_ID = 102
    # 103: placeOrder with an order id this client already used for a finished order.
    DUPLICATE_ORDER_ID = 103
    # 162: every historical-data (HMDS) failure, pacing violations included; the text says which.
    HISTORICAL_SERVICE_ERROR = 162
    # 200: the contract matches nothing in the security master (or is ambiguous).
    NO_SECURITY_DEFINITION = 200
    # 201: the order was rejected (buying power, invalid quantity, ...); the text gives the reason.
    ORDER_REJECTED = 201
    # 202: an order was cancelled (by the client, a global cancel, or at session close).
    ORDER_CANCELLED = 202
    # 300: cancelMktData for a ticker id that is not streaming.
    TICKER_ID_NOT_FOUND = 300
    # 321: the request failed validation (bad bar size, unsupported option combination, ...).
    VALIDATION_ERROR = 321
    # 322: the gateway could not process the request (unsupported by this gateway).
    PROCESSING_ERROR = 322
    # 326: another session already uses this client id; IB closes the new socket after saying so.
    CLIENT_ID_IN_USE = 326
    # 366: cancelHistoricalData for a request id that is not active.
    NO_HISTORICAL_QUERY = 366
    # 420: real-time bars refused, here for breaking the 60-new-requests-per-10-minutes rule.
    INVALID_REALTIME_QUERY = 420
    # 430: fundamentals not available for this security / report type (what most accounts now get).
    FUNDAMENTALS_UNAVAILABLE = 430
    # 503 / 506: the client's API version range and the gateway's have nothing in common: the
    # gateway is too old for the client / the client too old for the gateway. IB's clients raise
    # both themselves when a gateway announces a version outside their range; the sim says it too.
    UPDATE_TWS = 503
    UNSUPPORTED_VERSION = 506
    # 1100/1101/1102: IB <-> Gateway connectivity lost / restored (data lost: resubscribe) / restored.
    CONNECTIVITY_LOST = 1100
    CONNECTIVITY_RESTORED_DATA_LOST = 1101
    CONNECTIVITY_RESTORED_DATA_KEPT = 1102
    # 2103-2108, 2157/2158: data farm status notices (warnings; ib_async only logs them).
    MARKET_FARM_BROKEN = 2103
    MARKET_FARM_OK = 2104
    HMDS_FARM_BROKEN = 2105
    HMDS_FARM_OK = 2106
    SECDEF_FARM_BROKEN = 2157
    SECDEF_FARM_OK = 2158
    # 10314: reqHistoricalData with an end date/time the gateway cannot parse.
    INVALID_END_DATE = 10314
    # Market data permissions and the tick data requests (issue 13, market data):
    # 354: a live (or frozen) data request for a symbol without a live subscription.
    MARKET_DATA_NOT_SUBSCRIBED = 354
    # 10167: a delayed data request for a symbol without a live subscription: delayed data follows.
    DISPLAYING_DELAYED_DATA = 10167
    # 10187/10188/10189: reqHistoricalTicks / reqHistogramData / reqTickByTickData refused.
    HISTORICAL_TICKS_FAILED = 10187
    HISTOGRAM_FAILED = 10188
    TICK_BY_TICK_FAILED = 10189
    # 10190: more simultaneous tick-by-tick subscriptions than the account's limit.
    TICK_BY_TICK_LIMIT = 10190


_TEXTS: dict[ErrorCode, str] = {
    ErrorCode.MAX_RATE_EXCEEDED: (
        "Max rate of messages per second has been exceeded:max={limit} rec={received} ({strikes})"
    ),
    ErrorCode.DUPLICATE_TICKER_ID: "Duplicate ticker id",
    ErrorCode.DUPLICATE_ORDER_ID: "Duplicate order id",
    ErrorCode.HISTORICAL_SERVICE_ERROR: "Historical Market Data Service error message:{detail}",
    ErrorCode.NO_SECURITY_DEFINITION: "No security definition has been found for the request",
    ErrorCode.ORDER_REJECTED: "Order rejected - reason:{detail}",
    ErrorCode.ORDER_CANCELLED: "Order Canceled - reason:{detail}",
    ErrorCode.TICKER_ID_NOT_FOUND: "Can't find EId with tickerId:{req_id}",
    ErrorCode.VALIDATION_ERROR: "Error validating request.-'{tag}' : cause - {detail}",
    ErrorCode.PROCESSING_ERROR: "Error processing request.-'{tag}' : cause - {detail}",
    ErrorCode.CLIENT_ID_IN_USE: (
        "Unable to connect as the client id is already in use. Retry with a unique client id."
    ),
    ErrorCode.NO_HISTORICAL_QUERY: "No historical data query found for ticker id:{req_id}",
    ErrorCode.INVALID_REALTIME_QUERY: "Invalid Real-time Query:{detail}",
    ErrorCode.FUNDAMENTALS_UNAVAILABLE: (
        "We are sorry, but fundamentals data for the security specified is not available.{detail}"
    ),
    ErrorCode.UPDATE_TWS: "The TWS is out of date and must be upgraded.",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version",
    ErrorCode.CONNECTIVITY_LOST: "Connectivity between IB and Trader Workstation has been lost.",
    ErrorCode.CONNECTIVITY_RESTORED_DATA_LOST: (
        "Connectivity between IB and Trader Workstation has been restored - data lost."
    ),
    ErrorCode.CONNECTIVITY_RESTORED_DATA_KEPT: (
        "Connectivity between IB and Trader Workstation has been restored - data maintained."
    ),
    ErrorCode.MARKET_FARM_BROKEN: "Market data farm connection is broken:usfarm",
    ErrorCode.MARKET_FARM_OK: "Market data farm connection is OK:usfarm",
    ErrorCode.HMDS_FARM_BROKEN: "HMDS data farm connection is broken:ushmds",
    ErrorCode.HMDS_FARM_OK: "HMDS data farm connection is OK:ushmds",
    ErrorCode.SECDEF_FARM_BROKEN: "Sec-def data farm connection is broken:secdefnj",
    ErrorCode.SECDEF_FARM_OK: "Sec-def data farm connection is OK:secdefnj",
    ErrorCode.INVALID_END_DATE: (
        "Error validating request.-'bW' : cause - End Date/Time: The date, time, or time-zone "
        "entered is invalid. The correct format is yyyymmdd hh:mm:ss xx/xxxx where yyyymmdd and "
        "xx/xxxx are optional. E.g.: 20031126 15:59:00 US/Eastern  Note that there is a space "
        "between the date and time, and between the time and time-zone."
    ),
    ErrorCode.MARKET_DATA_NOT_SUBSCRIBED: (
        "Requested market data is not subscribed.Delayed market data is available.{detail}"
    ),
    ErrorCode.DISPLAYING_DELAYED_DATA: (
        "Requested market data is not subscribed. Displaying delayed market data."
    ),
    ErrorCode.HISTORICAL_TICKS_FAILED: "Failed to request historical ticks:{detail}",
    ErrorCode.HISTOGRAM_FAILED: "Failed to request histogram data:{detail}",
    ErrorCode.TICK_BY_TICK_FAILED: "Failed to request tick-by-tick data.{detail}",
    ErrorCode.TICK_BY_TICK_LIMIT: "Max number of tick-by-tick requests has been reached.",
}

# Pacing texts, as IB words them inside 162 / 420 (clients classify pacing violations by this text).
HISTORICAL_PACING_TEXT = "Historical data request pacing violation"


def error_text(
    code: ErrorCode, *, req_id: int = -1, detail: str = "", tag: str = "bW", **extra: object
) -> str:
    """IB's message text for ``code`` with its placeholders filled in."""
    return _TEXTS[code].format(req_id=req_id, detail=detail, tag=tag, **extra)
