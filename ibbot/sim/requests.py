"""Client -> gateway requests whose layout needs more than a few reads: contracts and placeOrder.

A ``placeOrder`` (157..178) has no version field and a fixed head (order id, the 12
contract fields, the main order fields up to ``hidden``), after which segments appear only when
earlier fields call for them: combo legs for BAG contracts, the delta-neutral block when a
delta-neutral order type is set, seven scale fields when a scale price increment is set, a hedge
parameter, algo parameters, PEG BENCH fields, conditions (each sized by its type), and the version
>= 170 tail for IBKRATS and PEG BEST/MID orders; single fields come and go with the negotiated
version (:mod:`ibbot.sim.versions`). :func:`parse_place_order` walks them in the order ib_async 2.1,
ib_insync 0.9.86 and IB's official client write them, and insists the message ends where the
layout says it does, so a misread can never turn into a wrongly understood order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ibbot.sim.versions import Feature
from ibbot.sim.wire import FieldReader, ProtocolError

__all__ = ["ContractSpec", "ExecutionFilter", "PlaceOrder", "parse_place_order", "read_contract"]

# Fields after the type id for each order-condition type: conjunction plus the type's own fields.
# 1 price (isMore, price, conId, exchange, triggerMethod), 3 time (isMore, time), 4 margin
# (isMore, percent), 5 execution (secType, exchange, symbol), 6 volume (isMore, volume, conId,
# exchange), 7 percent change (isMore, changePercent, conId, exchange).
_CONDITION_FIELDS = {1: 6, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5}
_PEG_BEST = {"PEG BEST", "PEGBEST"}
_PEG_MID = {"PEG MID", "PEGMID"}
_PEG_BENCH = {"PEG BENCH", "PEGBENCH"}


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """The 12 contract fields a client sends with most requests."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str
    strike: float | None
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str

    def describe(self) -> str:
        """A short human-readable form for logs and error texts."""
        name = self.symbol or self.local_symbol or f"conId {self.con_id}"
        return f"{name} {self.sec_type or '?'} {self.exchange or '?'} {self.currency or '?'}"


def read_contract(reader: FieldReader) -> ContractSpec:
    """Read the 12-field contract block (conId ... tradingClass)."""
    return ContractSpec(
        con_id=reader.integer(default=0),
        symbol=reader.text(),
        sec_type=reader.text(),
        last_trade_date=reader.text(),
        strike=reader.number(),
        right=reader.text(),
        multiplier=reader.text(),
        exchange=reader.text(),
        primary_exchange=reader.text(),
        currency=reader.text(),
        local_symbol=reader.text(),
        trading_class=reader.text(),
    )


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """reqExecutions' filter; empty fields match everything."""

    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """What the gateway needs from a placeOrder; fields it does not act on are walked, not kept."""

    order_id: int
    contract: ContractSpec
    action: str
    quantity: float | None
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_after_time: str
    good_till_date: str
    algo_strategy: str
    what_if: bool
    condition_count: int
    cash_quantity: float | None
    is_combo: bool
    oca_type: int = 0
    trail_stop_price: float | None = None
    trailing_percent: float | None = None
    limit_offset: float | None = None
    algo_params: tuple[tuple[str, str], ...] = ()


# Algo parameters one order may carry (IB's algos take a dozen at most).
MAX_ALGO_PARAMS = 64


def _read_tag_values(reader: FieldReader) -> tuple[tuple[str, str], ...]:
    count = reader.integer(default=0)
    if not 0 <= count <= MAX_ALGO_PARAMS:
        raise ProtocolError(f"algo parameter count {count} is outside 0..{MAX_ALGO_PARAMS}")
    return tuple((reader.text(), reader.text()) for _ in range(count))


def _skip_tag_values(reader: FieldReader) -> None:
    count = reader.integer(default=0)
    if count < 0:
        raise ProtocolError(f"negative tag/value count {count}")
    reader.skip(2 * count)


def parse_place_order(reader: FieldReader, server_version: int) -> PlaceOrder:
    """Parse a placeOrder message written for ``server_version`` (``reader`` just past the id)."""
    order_id = reader.integer()
    contract = read_contract(reader)
    reader.skip(2)  # secIdType, secId
    action = reader.text()
    quantity = reader.number()
    order_type = reader.text()
    limit_price = reader.number()
    aux_price = reader.number()
    tif = reader.text()
    oca_group = reader.text()
    account = reader.text()
    reader.skip(2)  # openClose, origin
    order_ref = reader.text()
    transmit = reader.flag()
    parent_id = reader.integer(default=0)
    reader.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = reader.flag()
    reader.skip(1)  # hidden

    is_combo = contract.sec_type == "BAG"
    if is_combo:
        legs = reader.integer(default=0)
        if legs < 0:
            raise ProtocolError(f"negative combo leg count {legs}")
        reader.skip(
            8 * legs
        )  # conId, ratio, action, exchange, openClose, shortSale, location, exempt
        order_legs = reader.integer(default=0)
        if order_legs < 0:
            raise ProtocolError(f"negative order combo leg count {order_legs}")
        reader.skip(order_legs)
        _skip_tag_values(reader)  # smartComboRoutingParams

    reader.skip(2)  # deprecated sharesAllocation, discretionaryAmt
    good_after_time = reader.text()
    good_till_date = reader.text()
    reader.skip(3)  # faGroup, faMethod, faPercentage
    if server_version < Feature.FA_PROFILE_DESUPPORT:
        reader.skip(1)  # faProfile
    reader.skip(4)  # modelCode, shortSaleSlot, designatedLocation, exemptCode
    oca_type = reader.integer(default=0)
    # rule80A .. overridePercentageConstraints (15 fields), volatility, volatilityType
    reader.skip(17)
    delta_neutral_order_type = reader.text()
    reader.skip(1)  # deltaNeutralAuxPrice
    if delta_neutral_order_type:
        reader.skip(8)
    reader.skip(2)  # continuousUpdate, referencePriceType
    trail_stop_price = reader.number()
    trailing_percent = reader.number()
    reader.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
    scale_increment = reader.number()
    if scale_increment is not None and scale_increment > 0:
        reader.skip(7)
    reader.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if reader.text():  # hedgeType
        reader.skip(1)  # hedgeParam
    reader.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if reader.flag():  # delta-neutral contract
        reader.skip(3)
    algo_strategy = reader.text()
    algo_params = _read_tag_values(reader) if algo_strategy else ()
    reader.skip(1)  # algoId
    what_if = reader.flag()
    reader.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type in _PEG_BENCH:
        reader.skip(5)
    condition_count = reader.integer(default=0)
    if condition_count < 0:
        raise ProtocolError(f"negative condition count {condition_count}")
    for _ in range(condition_count):
        condition_type = reader.integer()
        if condition_type not in _CONDITION_FIELDS:
            raise ProtocolError(f"unknown order condition type {condition_type}")
        reader.skip(_CONDITION_FIELDS[condition_type])
    if condition_count:
        reader.skip(2)  # conditionsIgnoreRth, conditionsCancelOrder
    reader.skip(2)  # adjustedOrderType, triggerPrice
    limit_offset = reader.number()
    # adjustedStopPrice .. adjustableTrailingUnit, extOperator, softDollarTier name/value
    reader.skip(7)
    cash_quantity = reader.number()
    # mifid2 x4, dontUseAutoPriceForHedge, isOmsContainer, discretionaryUpToLimitPrice,
    # usePriceMgmtAlgo
    reader.skip(8)
    for feature in (
        Feature.DURATION,
        Feature.POST_TO_ATS,
        Feature.AUTO_CANCEL_PARENT,
        Feature.ADVANCED_ORDER_REJECT,  # advancedErrorOverride
        Feature.MANUAL_ORDER_TIME,
    ):
        if server_version >= feature:
            reader.skip(1)
    if server_version >= Feature.PEGBEST_PEGMID_OFFSETS:
        if contract.exchange == "IBKRATS":
            reader.skip(1)  # minTradeQty
        if order_type in _PEG_BEST:
            reader.skip(1)  # minCompeteSize
            offset = reader.number()
            if offset is not None and math.isinf(offset):  # "up to mid": both mid offsets follow
                reader.skip(2)
        elif order_type in _PEG_MID:
            reader.skip(2)
    if reader.remaining:
        raise ProtocolError(
            f"placeOrder has {reader.remaining} fields beyond the version {server_version} layout"
        )
    return PlaceOrder(
        order_id=order_id,
        contract=contract,
        action=action,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        aux_price=aux_price,
        tif=tif,
        oca_group=oca_group,
        account=account,
        order_ref=order_ref,
        transmit=transmit,
        parent_id=parent_id,
        outside_rth=outside_rth,
        good_after_time=good_after_time,
        good_till_date=good_till_date,
        algo_strategy=algo_strategy,
        what_if=what_if,
        condition_count=condition_count,
        cash_quantity=cash_quantity,
        is_combo=is_combo,
        oca_type=oca_type,
        trail_stop_price=trail_stop_price,
        trailing_percent=trailing_percent,
        limit_offset=limit_offset,
        algo_params=algo_params,
    )
