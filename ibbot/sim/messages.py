"""Gateway -> client messages, field by field, for every server version from 157 to 178.

Each function returns the field list of one message (message id first); the session encodes it at
its negotiated version with :func:`ibbot.sim.wire.encode_frame`. A field that exists only from or
until some version is marked with :func:`~ibbot.sim.versions.since` / ``until`` (the table of them
is in :mod:`ibbot.sim.versions`). Layouts follow what ib_async 2.1 and ib_insync 0.9.86
(``decoder.py``) and IB's official client (``ibapi`` ``decoder.py``/``orderdecoder.py``) read.
Several of ib_async's and ib_insync's handlers unpack an exact number of fields, so the counts here
are load-bearing: tickPrice 7, commissionReport 8, position 16, portfolioValue 20, error 6 (5 before
166), nextValidId/managedAccounts 3, execDetails 32 (31 before 178, where ib_insync takes exactly
31), and openOrder 127 at 178 for a plain order. Version fields carry the values IB sends; ibapi
branches on some of them (portfolioValue 8, position 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.sim import stock_rules as rules
from ibbot.sim.protocol import Out
from ibbot.sim.universe import SimSecurity
from ibbot.sim.versions import Feature, Versioned, since, until
from ibbot.sim.wire import UNSET_DOUBLE, UNSET_INTEGER

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Fields",
    "HistoricalBarRow",
    "LastTick",
    "OrderView",
    "QuoteTick",
    "account_download_end",
    "account_summary",
    "account_summary_end",
    "account_update_multi",
    "account_update_multi_end",
    "account_update_time",
    "account_value",
    "commission_report",
    "completed_order",
    "completed_orders_end",
    "contract_details",
    "contract_details_end",
    "current_time",
    "error",
    "exec_details",
    "exec_details_end",
    "fundamental_data",
    "head_timestamp",
    "histogram_data",
    "historical_bar_fields",
    "historical_data",
    "historical_data_head",
    "historical_data_update",
    "historical_ticks",
    "historical_ticks_bid_ask",
    "historical_ticks_last",
    "managed_accounts",
    "market_data_type",
    "market_rule",
    "next_valid_id",
    "open_order",
    "open_order_end",
    "order_status",
    "pnl",
    "pnl_single",
    "portfolio_value",
    "position",
    "position_end",
    "position_multi",
    "position_multi_end",
    "realtime_bar",
    "security_definition_option_parameter_end",
    "symbol_samples",
    "tick_by_tick_bid_ask",
    "tick_by_tick_last",
    "tick_by_tick_midpoint",
    "tick_generic",
    "tick_price",
    "tick_req_params",
    "tick_size",
    "tick_snapshot_end",
    "tick_string",
]

Fields = list[object]

# contractData before 164: the message's own version, and the market-data size multiplier (what a
# size tick is multiplied by to give shares; IB quoted US stocks in round lots of 100 before 159,
# the sim quotes shares at every version).
CONTRACT_DATA_VERSION = 8
MD_SIZE_MULTIPLIER = 1
# contractData's sizeMinTick: sent at 163 only (164 replaced it with the three size-rule fields).
SIZE_MIN_TICK = Versioned(
    rules.SIZE_INCREMENT, since=Feature.FRACTIONAL_SIZE_SUPPORT, until=Feature.SIZE_RULES
)


def _trading_class(security: SimSecurity) -> str:
    # IB files Nasdaq-listed stocks under the "NMS" trading class; NYSE stocks under their symbol.
    return "NMS" if security.primary_exchange == "NASDAQ" else security.symbol


def _contract_core(security: SimSecurity) -> Fields:
    """conId, symbol, secType, lastTradeDate, strike, right: the head every contract layout shares."""
    return [security.con_id, security.symbol, "STK", "", 0.0, ""]


def _quantity(value: float) -> object:
    """Share quantities as IB writes them: integers without a decimal point, fractions as decimals."""
    return int(value) if float(value).is_integer() else value


def error(req_id: int, code: int, text: str, advanced_order_reject_json: str = "") -> Fields:
    """``error``: 6 fields from 166 (advancedOrderRejectJson last), 5 before."""
    return [
        Out.ERR_MSG,
        2,
        req_id,
        code,
        text,
        since(Feature.ADVANCED_ORDER_REJECT, advanced_order_reject_json),
    ]


def next_valid_id(order_id: int) -> Fields:
    """``nextValidId``: exactly 3 fields (ib_async snoops it before the API is ready)."""
    return [Out.NEXT_VALID_ID, 1, order_id]


def managed_accounts(accounts: Sequence[str]) -> Fields:
    """``managedAccounts``: exactly 3 fields, the accounts comma-separated."""
    return [Out.MANAGED_ACCTS, 1, ",".join(accounts)]


def current_time(epoch_seconds: int) -> Fields:
    """``currentTime``: the gateway's time in epoch seconds."""
    return [Out.CURRENT_TIME, 1, epoch_seconds]


def contract_details(
    req_id: int,
    security: SimSecurity,
    *,
    exchange: str,
    trading_hours: str,
    liquid_hours: str,
) -> Fields:
    """``contractData``: a version field and mdSizeMultiplier before 164, size rules from 164.

    As IB sends it for a US stock: its ISIN in ``secIdList`` (IB adds the CUSIP only for accounts
    with a CUSIP subscription), IB's venues and order types, a market rule id per venue, and
    fractional size rules.
    """
    trading_class = _trading_class(security)
    return [
        Out.CONTRACT_DATA,
        until(Feature.SIZE_RULES, CONTRACT_DATA_VERSION),
        req_id,
        security.symbol,
        "STK",
        "",  # lastTradeDateOrContractMonth
        0.0,  # strike
        "",  # right
        exchange,
        security.currency,
        security.symbol,  # localSymbol
        trading_class,  # marketName
        trading_class,
        security.con_id,
        security.min_tick,
        until(Feature.SIZE_RULES, MD_SIZE_MULTIPLIER),
        "",  # multiplier
        ",".join(rules.ORDER_TYPES),
        ",".join(rules.VALID_EXCHANGES),
        1,  # priceMagnifier
        0,  # underConId
        security.long_name,
        security.primary_exchange,
        "",  # contractMonth
        security.industry,
        security.category,
        security.subcategory,
        security.time_zone,
        trading_hours,
        liquid_hours,
        "",  # evRule
        0,  # evMultiplier
        1,  # secIdList count, then (tag, value) pairs
        "ISIN",
        security.isin,
        1,  # aggGroup
        "",  # underSymbol
        "",  # underSecType
        rules.MARKET_RULE_IDS,
        "",  # realExpirationDate
        rules.STOCK_TYPE,
        SIZE_MIN_TICK,
        since(Feature.SIZE_RULES, rules.MIN_SIZE),
        since(Feature.SIZE_RULES, rules.SIZE_INCREMENT),
        since(Feature.SIZE_RULES, rules.SUGGESTED_SIZE_INCREMENT),
    ]


def contract_details_end(req_id: int) -> Fields:
    """``contractDataEnd``: resolves reqContractDetails."""
    return [Out.CONTRACT_DATA_END, 1, req_id]


def tick_req_params(req_id: int, min_tick: float, bbo_exchange: str, permissions: int) -> Fields:
    """``tickReqParams``: sent first on every market data request (no version field)."""
    return [Out.TICK_REQ_PARAMS, req_id, min_tick, bbo_exchange, permissions]


def market_data_type(req_id: int, data_type: int) -> Fields:
    """``marketDataType``: 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""
    return [Out.MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_price(
    req_id: int, tick_type: int, price: float, size: float, attr_mask: int = 0
) -> Fields:
    """``tickPrice``: exactly 7 fields; the size rides along for bid/ask/last."""
    return [Out.TICK_PRICE, 6, req_id, tick_type, price, _quantity(size), attr_mask]


def tick_size(req_id: int, tick_type: int, size: float) -> Fields:
    """``tickSize``: a size-only update (bid/ask/last size, volume)."""
    return [Out.TICK_SIZE, 6, req_id, tick_type, _quantity(size)]


def tick_string(req_id: int, tick_type: int, value: str) -> Fields:
    """``tickString``: e.g. tick 45, the last trade's epoch seconds."""
    return [Out.TICK_STRING, 6, req_id, tick_type, value]


def tick_snapshot_end(req_id: int) -> Fields:
    """``tickSnapshotEnd``: closes a snapshot request (resolves ``reqTickersAsync``)."""
    return [Out.TICK_SNAPSHOT_END, 1, req_id]


@dataclass(frozen=True, slots=True)
class HistoricalBarRow:
    """One bar as it goes on the wire; ``date`` is already formatted per the request's formatDate."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


def historical_data(req_id: int, start: str, end: str, bars: Sequence[HistoricalBarRow]) -> Fields:
    """``historicalData`` (no version field): start/end strings, the count, then 8 fields per bar."""
    fields = historical_data_head(req_id, start, end, len(bars))
    for bar in bars:
        fields += historical_bar_fields(bar)
    return fields


def historical_data_head(req_id: int, start: str, end: str, count: int) -> Fields:
    """The fields of ``historicalData`` before its bars (a large answer is encoded piece by piece)."""
    return [Out.HISTORICAL_DATA, req_id, start, end, count]


def historical_bar_fields(bar: HistoricalBarRow) -> Fields:
    """One bar's 8 fields in ``historicalData``."""
    return [
        bar.date,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        _quantity(bar.volume),
        bar.wap,
        bar.count,
    ]


def historical_data_update(req_id: int, bar: HistoricalBarRow) -> Fields:
    """``historicalDataUpdate`` for keepUpToDate: note IB's order open, *close*, high, low, wap, volume."""
    return [
        Out.HISTORICAL_DATA_UPDATE,
        req_id,
        bar.count,
        bar.date,
        bar.open,
        bar.close,
        bar.high,
        bar.low,
        bar.wap,
        _quantity(bar.volume),
    ]


def realtime_bar(
    req_id: int,
    *,
    epoch_seconds: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    wap: float,
    count: int,
) -> Fields:
    """``realtimeBar``: one 5-second bar, its start in epoch seconds."""
    return [
        Out.REAL_TIME_BARS,
        3,
        req_id,
        epoch_seconds,
        open_,
        high,
        low,
        close,
        _quantity(volume),
        wap,
        count,
    ]


def head_timestamp(req_id: int, timestamp: str) -> Fields:
    """``headTimestamp``: the earliest data available for the contract."""
    return [Out.HEAD_TIMESTAMP, req_id, timestamp]


def fundamental_data(req_id: int, xml: str) -> Fields:
    """``fundamentalData``: one XML document as a single field."""
    return [Out.FUNDAMENTAL_DATA, 1, req_id, xml]


@dataclass(frozen=True, slots=True)
class OrderView:
    """Everything the order messages say about one order, independent of the matching engine's types.

    ``what_if`` orders carry the margin/commission preview instead of a working status.
    """

    order_id: int
    client_id: int
    perm_id: int
    security: SimSecurity
    exchange: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    outside_rth: bool
    status: str
    filled: float = 0.0
    what_if: bool = False
    init_margin_change: float | None = None
    maint_margin_change: float | None = None
    equity_with_loan: float | None = None
    commission: float | None = None
    warning_text: str = ""
    completed_time: str = ""
    completed_status: str = ""
    parent_id: int = 0
    parent_perm_id: int = 0
    oca_group: str = ""
    oca_type: int = 0  # 0: IB's default, reported as 3
    trail_stop_price: float | None = None
    trailing_percent: float | None = None
    limit_offset: float | None = None
    algo_strategy: str = ""
    algo_params: tuple[tuple[str, str], ...] = ()


# IB reports this ocaType for orders that name none (its default, "reduce with no block").
_DEFAULT_OCA_TYPE = 3


def _algo(view: OrderView) -> Fields:
    """algoStrategy, then (only when there is one) its parameter count and tag/value pairs."""
    if not view.algo_strategy:
        return [""]
    pairs = [field for pair in view.algo_params for field in pair]
    return [view.algo_strategy, len(view.algo_params), *pairs]


def _peg_best_mid_fields() -> Fields:
    """openOrder's and completedOrder's last five fields, from 170, all unset for the sim's orders."""
    return [
        since(Feature.PEGBEST_PEGMID_OFFSETS, UNSET_INTEGER),  # minTradeQty
        since(Feature.PEGBEST_PEGMID_OFFSETS, UNSET_INTEGER),  # minCompeteSize
        since(Feature.PEGBEST_PEGMID_OFFSETS, UNSET_DOUBLE),  # competeAgainstBestOffset
        since(Feature.PEGBEST_PEGMID_OFFSETS, UNSET_DOUBLE),  # midOffsetAtWhole
        since(Feature.PEGBEST_PEGMID_OFFSETS, UNSET_DOUBLE),  # midOffsetAtHalf
    ]


def _price(value: float | None) -> float:
    return UNSET_DOUBLE if value is None else value


def _money_text(value: float | None) -> str:
    # the margin fields of OrderState travel as text; IB writes its unset sentinel when there is none
    return "1.7976931348623157E308" if value is None else repr(float(value))


def _order_contract(view: OrderView) -> Fields:
    s = view.security
    return [
        *_contract_core(s),
        "",  # multiplier
        view.exchange,
        s.currency,
        s.symbol,
        _trading_class(s),
    ]


def open_order(view: OrderView) -> Fields:
    """``openOrder``: 127 fields at 178 for a plain (non-combo, unconditioned) order, plus an algo's
    parameters."""
    return [
        Out.OPEN_ORDER,
        view.order_id,
        *_order_contract(view),  # 2-12
        view.action,
        _quantity(view.quantity),
        view.order_type,
        _price(view.limit_price),
        _price(view.aux_price),
        view.tif,
        view.oca_group,
        view.account,
        "O",  # openClose
        0,  # origin: customer
        view.order_ref,
        view.client_id,
        view.perm_id,
        view.outside_rth,
        False,  # hidden
        0.0,  # discretionaryAmt
        "",  # goodAfterTime
        "",  # sharesAllocation (deprecated)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
        until(Feature.FA_PROFILE_DESUPPORT, ""),  # faProfile
        "",  # modelCode
        "",  # goodTillDate
        "",  # rule80A
        UNSET_DOUBLE,  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        0,  # auctionStrategy
        UNSET_DOUBLE,  # startingPrice
        UNSET_DOUBLE,  # stockRefPrice
        UNSET_DOUBLE,  # delta
        UNSET_DOUBLE,  # stockRangeLower
        UNSET_DOUBLE,  # stockRangeUpper
        UNSET_INTEGER,  # displaySize
        False,  # blockOrder
        False,  # sweepToFill
        False,  # allOrNone
        UNSET_INTEGER,  # minQty
        view.oca_type or _DEFAULT_OCA_TYPE,
        False,  # eTradeOnly
        False,  # firmQuoteOnly
        UNSET_DOUBLE,  # nbboPriceCap
        view.parent_id,
        0,  # triggerMethod
        UNSET_DOUBLE,  # volatility
        0,  # volatilityType
        "",  # deltaNeutralOrderType (empty: no delta-neutral block follows)
        UNSET_DOUBLE,  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        0,  # referencePriceType
        _price(view.trail_stop_price),
        _price(view.trailing_percent),
        UNSET_DOUBLE,  # basisPoints
        UNSET_INTEGER,  # basisPointsType
        "",  # comboLegsDescrip
        0,  # combo legs
        0,  # order combo legs
        0,  # smart combo routing params
        UNSET_INTEGER,  # scaleInitLevelSize
        UNSET_INTEGER,  # scaleSubsLevelSize
        UNSET_DOUBLE,  # scalePriceIncrement (unset: no scale block follows)
        "",  # hedgeType (empty: no hedgeParam follows)
        False,  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # delta-neutral contract present
        *_algo(view),  # algoStrategy [count, tag/value pairs]
        False,  # solicited
        view.what_if,
        view.status,
        _money_text(None),  # initMarginBefore
        _money_text(None),  # maintMarginBefore
        _money_text(None),  # equityWithLoanBefore
        _money_text(view.init_margin_change),
        _money_text(view.maint_margin_change),
        _money_text(view.equity_with_loan),  # equityWithLoanChange
        _money_text(view.init_margin_change),  # initMarginAfter
        _money_text(view.maint_margin_change),  # maintMarginAfter
        _money_text(view.equity_with_loan),  # equityWithLoanAfter
        _price(view.commission),
        _price(view.commission),  # minCommission
        _price(view.commission),  # maxCommission
        view.security.currency if view.commission is not None else "",
        view.warning_text,
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # conditions
        "",  # adjustedOrderType
        UNSET_DOUBLE,  # triggerPrice
        _price(view.trail_stop_price),
        _price(view.limit_offset),
        UNSET_DOUBLE,  # adjustedStopPrice
        UNSET_DOUBLE,  # adjustedStopLimitPrice
        UNSET_DOUBLE,  # adjustedTrailingAmount
        0,  # adjustableTrailingUnit
        "",  # softDollarTier name
        "",  # softDollarTier value
        "",  # softDollarTier displayName
        UNSET_DOUBLE,  # cashQty
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        False,  # discretionaryUpToLimitPrice
        False,  # usePriceMgmtAlgo
        since(Feature.DURATION, UNSET_INTEGER),  # duration
        since(Feature.POST_TO_ATS, UNSET_INTEGER),  # postToAts
        since(Feature.AUTO_CANCEL_PARENT, False),  # autoCancelParent
        *_peg_best_mid_fields(),
    ]


def open_order_end() -> Fields:
    """``openOrderEnd``: closes reqOpenOrders / reqAllOpenOrders."""
    return [Out.OPEN_ORDER_END, 1]


def order_status(
    *,
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    last_fill_price: float,
    client_id: int,
    why_held: str = "",
    parent_id: int = 0,
) -> Fields:
    """``orderStatus`` (no version field at >= 131); ``client_id`` is the placing client's id."""
    return [
        Out.ORDER_STATUS,
        order_id,
        status,
        _quantity(filled),
        _quantity(remaining),
        avg_fill_price,
        perm_id,
        parent_id,
        last_fill_price,
        client_id,
        why_held,
        0.0,  # mktCapPrice
    ]


def completed_order(view: OrderView) -> Fields:
    """``completedOrder``: a finished order (filled, cancelled or rejected), no order id."""
    return [
        Out.COMPLETED_ORDER,
        *_order_contract(view),  # 1-11
        view.action,
        _quantity(view.quantity),
        view.order_type,
        _price(view.limit_price),
        _price(view.aux_price),
        view.tif,
        view.oca_group,
        view.account,
        "O",  # openClose
        0,  # origin
        view.order_ref,
        view.perm_id,
        view.outside_rth,
        False,  # hidden
        0.0,  # discretionaryAmt
        "",  # goodAfterTime
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
        until(Feature.FA_PROFILE_DESUPPORT, ""),  # faProfile
        "",  # modelCode
        "",  # goodTillDate
        "",  # rule80A
        UNSET_DOUBLE,  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        UNSET_DOUBLE,  # startingPrice
        UNSET_DOUBLE,  # stockRefPrice
        UNSET_DOUBLE,  # delta
        UNSET_DOUBLE,  # stockRangeLower
        UNSET_DOUBLE,  # stockRangeUpper
        UNSET_INTEGER,  # displaySize
        False,  # sweepToFill
        False,  # allOrNone
        UNSET_INTEGER,  # minQty
        view.oca_type or _DEFAULT_OCA_TYPE,
        0,  # triggerMethod
        UNSET_DOUBLE,  # volatility
        0,  # volatilityType
        "",  # deltaNeutralOrderType
        UNSET_DOUBLE,  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        0,  # referencePriceType
        _price(view.trail_stop_price),
        _price(view.trailing_percent),
        "",  # comboLegsDescrip
        0,  # combo legs
        0,  # order combo legs
        0,  # smart combo routing params
        UNSET_INTEGER,  # scaleInitLevelSize
        UNSET_INTEGER,  # scaleSubsLevelSize
        UNSET_DOUBLE,  # scalePriceIncrement
        "",  # hedgeType
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # delta-neutral contract present
        *_algo(view),  # algoStrategy [count, tag/value pairs]
        False,  # solicited
        view.status,
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # conditions
        _price(view.trail_stop_price),
        _price(view.limit_offset),
        UNSET_DOUBLE,  # cashQty
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        "",  # autoCancelDate
        _quantity(view.filled),  # filledQuantity
        0,  # refFuturesConId
        False,  # autoCancelParent
        "",  # shareholder
        False,  # imbalanceOnly
        False,  # routeMarketableToBbo
        view.parent_perm_id,
        view.completed_time,
        view.completed_status,
        *_peg_best_mid_fields(),
    ]


def completed_orders_end() -> Fields:
    """``completedOrdersEnd``: closes reqCompletedOrders."""
    return [Out.COMPLETED_ORDERS_END]


def exec_details(
    *,
    req_id: int,
    order_id: int,
    client_id: int,
    perm_id: int,
    security: SimSecurity,
    exec_id: str,
    time: str,
    account: str,
    exchange: str,
    side: str,
    shares: float,
    price: float,
    cum_qty: float,
    avg_price: float,
    order_ref: str,
    last_liquidity: int,
) -> Fields:
    """``execDetails`` (no version field; pendingPriceRevision from 178); live fills use ``req_id`` -1.

    ``last_liquidity`` is IB's code: 1 added liquidity (a resting limit order), 2 removed it (marketable).
    """
    return [
        Out.EXECUTION_DATA,
        req_id,
        order_id,
        *_contract_core(security),
        "",  # multiplier
        exchange,
        security.currency,
        security.symbol,
        _trading_class(security),
        exec_id,
        time,
        account,
        exchange,
        side,
        _quantity(shares),
        price,
        perm_id,
        client_id,
        0,  # liquidation
        _quantity(cum_qty),
        avg_price,
        order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        last_liquidity,
        since(Feature.PENDING_PRICE_REVISION, False),
    ]


def exec_details_end(req_id: int) -> Fields:
    """``execDetailsEnd``: closes reqExecutions."""
    return [Out.EXECUTION_DATA_END, 1, req_id]


def commission_report(
    exec_id: str, commission: float, currency: str, realized_pnl: float | None
) -> Fields:
    """``commissionReport``: exactly 8 fields; realized PnL unset for an opening execution."""
    return [
        Out.COMMISSION_REPORT,
        1,
        exec_id,
        commission,
        currency,
        _price(realized_pnl),
        UNSET_DOUBLE,  # yield
        "",  # yieldRedemptionDate
    ]


def position(account: str, security: SimSecurity, quantity: float, avg_cost: float) -> Fields:
    """``position``: exactly 16 fields; a zero quantity tells the client the position closed."""
    return [
        Out.POSITION_DATA,
        3,
        account,
        *_contract_core(security),
        "",  # multiplier
        security.primary_exchange,
        security.currency,
        security.symbol,
        _trading_class(security),
        _quantity(quantity),
        avg_cost,
    ]


def position_multi(
    req_id: int,
    *,
    account: str,
    model_code: str,
    security: SimSecurity,
    quantity: float,
    avg_cost: float,
) -> Fields:
    """``positionMulti``: exactly 18 fields, one position of a reqPositionsMulti subscription."""
    return [
        Out.POSITION_MULTI,
        1,
        req_id,
        account,
        *_contract_core(security),
        "",  # multiplier
        security.primary_exchange,
        security.currency,
        security.symbol,
        _trading_class(security),
        _quantity(quantity),
        avg_cost,
        model_code,
    ]


def position_multi_end(req_id: int) -> Fields:
    """``positionMultiEnd``: closes the first download of a reqPositionsMulti subscription."""
    return [Out.POSITION_MULTI_END, 1, req_id]


def market_rule(rule_id: int, increments: Sequence[tuple[float, float]]) -> Fields:
    """``marketRule``: the price increments (low edge, increment) of one market rule."""
    fields: Fields = [Out.MARKET_RULE, rule_id, len(increments)]
    for low_edge, increment in increments:
        fields += [low_edge, increment]
    return fields


def position_end() -> Fields:
    """``positionEnd``: closes reqPositions."""
    return [Out.POSITION_END, 1]


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    """``updateAccountValue``: one key of the account, as text."""
    return [Out.ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(
    *,
    security: SimSecurity,
    quantity: float,
    market_price: float,
    market_value: float,
    avg_cost: float,
    unrealized_pnl: float,
    realized_pnl: float,
    account: str,
) -> Fields:
    """``updatePortfolio``: exactly 20 fields (version 8: multiplier, primaryExchange, tradingClass)."""
    return [
        Out.PORTFOLIO_VALUE,
        8,
        *_contract_core(security),
        "",  # multiplier
        security.primary_exchange,
        security.currency,
        security.symbol,
        _trading_class(security),
        _quantity(quantity),
        market_price,
        market_value,
        avg_cost,
        unrealized_pnl,
        realized_pnl,
        account,
    ]


def account_update_time(hh_mm: str) -> Fields:
    """``updateAccountTime``: when the account values were last refreshed (``HH:MM``)."""
    return [Out.ACCT_UPDATE_TIME, 1, hh_mm]


def account_download_end(account: str) -> Fields:
    """``accountDownloadEnd``: closes the first reqAccountUpdates download."""
    return [Out.ACCT_DOWNLOAD_END, 1, account]


def account_update_multi(
    req_id: int, *, account: str, model_code: str, key: str, value: str, currency: str
) -> Fields:
    """``accountUpdateMulti``: one key for a reqAccountUpdatesMulti subscription."""
    return [Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model_code, key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    """``accountUpdateMultiEnd``: closes the first download of a multi subscription."""
    return [Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    """``accountSummary``: one tag of a reqAccountSummary subscription."""
    return [Out.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    """``accountSummaryEnd``: closes the first download of a summary subscription."""
    return [Out.ACCOUNT_SUMMARY_END, 1, req_id]


# ---------------------------------------------------------------- security definitions (sec-def farm)


def symbol_samples(req_id: int, securities: Sequence[SimSecurity]) -> Fields:
    """``symbolSamples`` (no version field): one contract description per matching stock.

    Each is conId, symbol, secType, primaryExchange (IB reports Nasdaq's market center,
    ``NASDAQ.NMS``), currency, the derivative security types (none exist in the simulation), then at
    version >= 176 the description (the company name) and the issuer id (bonds only).
    """
    fields: Fields = [Out.SYMBOL_SAMPLES, req_id, len(securities)]
    for s in securities:
        primary = "NASDAQ.NMS" if s.primary_exchange == "NASDAQ" else s.primary_exchange
        fields += [s.con_id, s.symbol, "STK", primary, s.currency, 0]
        fields += [since(Feature.BOND_ISSUERID, s.long_name), since(Feature.BOND_ISSUERID, "")]
    return fields


def security_definition_option_parameter_end(req_id: int) -> Fields:
    """``securityDefinitionOptionParameterEnd``: closes reqSecDefOptParams."""
    return [Out.SECURITY_DEFINITION_OPTION_PARAMETER_END, req_id]


# ---------------------------------------------------------------- P&L (same layout at 157..178)


def pnl(req_id: int, daily: float, unrealized: float, realized: float) -> Fields:
    """``pnl``: an account's daily, unrealized and realized P&L (no version field since 127)."""
    return [Out.PNL, req_id, daily, unrealized, realized]


def pnl_single(
    req_id: int,
    *,
    position: float,
    daily: float,
    unrealized: float,
    realized: float | None,
    value: float,
) -> Fields:
    """``pnlSingle``: one position's size, daily, unrealized and realized P&L and market value.

    A realized P&L of None (the position has not traded today) is written as IB's "unset" double,
    as IB does ("unpopulated values are set to maximum double").
    """
    return [Out.PNL_SINGLE, req_id, _quantity(position), daily, unrealized, _price(realized), value]


# ---------------------------------------------------------------- tick data (issue 13, market data)
# Layouts as ib_async's and ibapi's decoders read them; none carries a version field, and none
# changed between server versions 157 and 178.


@dataclass(frozen=True, slots=True)
class LastTick:
    """One trade as the tick messages carry it (``time`` in epoch seconds)."""

    time: int
    price: float
    size: int
    exchange: str
    conditions: str


@dataclass(frozen=True, slots=True)
class QuoteTick:
    """One top of book as the tick messages carry it (``time`` in epoch seconds)."""

    time: int
    bid: float
    ask: float
    bid_size: int
    ask_size: int


def tick_generic(req_id: int, tick_type: int, value: float) -> Fields:
    """``tickGeneric``: a number-valued tick (shortable 46, trade count 54, volatility 58...)."""
    return [Out.TICK_GENERIC, 6, req_id, tick_type, value]


def tick_by_tick_last(req_id: int, tick_type: int, tick: LastTick) -> Fields:
    """``tickByTick`` type 1 (Last) or 2 (AllLast): a trade; mask 0 (not past limit, reported)."""
    return [
        Out.TICK_BY_TICK,
        req_id,
        tick_type,
        tick.time,
        tick.price,
        tick.size,
        0,
        tick.exchange,
        tick.conditions,
    ]


def tick_by_tick_bid_ask(req_id: int, tick: QuoteTick) -> Fields:
    """``tickByTick`` type 3 (BidAsk): the book; mask 0 (bid not past low, ask not past high)."""
    return [
        Out.TICK_BY_TICK,
        req_id,
        3,
        tick.time,
        tick.bid,
        tick.ask,
        tick.bid_size,
        tick.ask_size,
        0,
    ]


def tick_by_tick_midpoint(req_id: int, time: int, midpoint: float) -> Fields:
    """``tickByTick`` type 4 (MidPoint)."""
    return [Out.TICK_BY_TICK, req_id, 4, time, midpoint]


def historical_ticks(req_id: int, ticks: Sequence[tuple[int, float]], *, done: bool) -> Fields:
    """``historicalTicks`` (MIDPOINT): (time, price) ticks; each carries an unused field and size 0."""
    fields: Fields = [Out.HISTORICAL_TICKS, req_id, len(ticks)]
    for time, price in ticks:
        fields += [time, 0, price, 0]
    return [*fields, int(done)]


def historical_ticks_bid_ask(req_id: int, ticks: Sequence[QuoteTick], *, done: bool) -> Fields:
    """``historicalTicksBidAsk`` (BID_ASK): mask 0, then bid, ask and their sizes."""
    fields: Fields = [Out.HISTORICAL_TICKS_BID_ASK, req_id, len(ticks)]
    for tick in ticks:
        fields += [tick.time, 0, tick.bid, tick.ask, tick.bid_size, tick.ask_size]
    return [*fields, int(done)]


def historical_ticks_last(req_id: int, ticks: Sequence[LastTick], *, done: bool) -> Fields:
    """``historicalTicksLast`` (TRADES): mask 0, price, size, exchange and special conditions."""
    fields: Fields = [Out.HISTORICAL_TICKS_LAST, req_id, len(ticks)]
    for tick in ticks:
        fields += [tick.time, 0, tick.price, tick.size, tick.exchange, tick.conditions]
    return [*fields, int(done)]


def histogram_data(req_id: int, points: Sequence[tuple[float, int]]) -> Fields:
    """``histogramData``: (price, size) points, the volume traded at each price."""
    fields: Fields = [Out.HISTOGRAM_DATA, req_id, len(points)]
    for price, size in points:
        fields += [price, size]
    return fields
