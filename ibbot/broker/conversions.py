"""Conversions between ib_async's objects and ibbot's models, in both directions.

Everything ib_async hands us passes through here before it leaves the broker package, so the rest
of ibbot never sees IB's conventions: NaN or -1 for "no value", "BOT"/"SLD" sides, naive datetimes
in the Gateway's zone, order states that say "Cancelled" when IB rejected the order.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final

from ib_async import Contract, Stock
from ib_async import Order as IBOrder

from ibbot.broker.errors import CANCEL_REFUSED, order_status_for_error
from ibbot.clock import ensure_utc
from ibbot.models import (
    BarSize,
    ContractInfo,
    Fill,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PriceBar,
    Tick,
    parse_order_ref,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ib_async import BarData, ContractDetails, RealTimeBar, Ticker, Trade
    from ib_async import Fill as IBFill
    from ib_async import Position as IBPosition

    from ibbot.models import Bracket

__all__ = [
    "bar_start",
    "contract_for",
    "contract_info",
    "fill_from_ib",
    "ib_bracket",
    "ib_order",
    "map_order_status",
    "order_result",
    "position_from_ib",
    "price_bar",
    "realtime_price_bar",
    "stock_contract",
    "tick_from_ticker",
]

# IB's execution sides: "BOT" (bought) and "SLD" (sold).
_EXEC_SIDES: Final = {"BOT": OrderSide.BUY, "SLD": OrderSide.SELL}

# IB order states (orderStatus.status) in which IB is working the order. PendingCancel is still
# working until IB confirms the cancel; ValidationError is ib_async's marker for a warning on a
# live order (e.g. 399, held until the open).
_WORKING_STATES: Final = frozenset(
    {"PreSubmitted", "Submitted", "PendingCancel", "ValidationError", "ApiUpdate"}
)
_CANCELLED_STATES: Final = frozenset({"Cancelled", "ApiCancelled"})


def stock_contract(
    symbol: str,
    *,
    exchange: str = "SMART",
    currency: str = "USD",
    primary_exchange: str = "",
    con_id: int = 0,
) -> Contract:
    """An ib_async stock contract, SMART-routed by default (what ``qualifyContracts`` completes)."""
    return Stock(symbol, exchange, currency, primaryExchange=primary_exchange, conId=con_id)


def contract_for(info: ContractInfo) -> Contract:
    """The IB contract of a qualified :class:`ContractInfo` (conId pins it; no ambiguity)."""
    return Contract(
        conId=info.con_id,
        symbol=info.symbol,
        secType=info.sec_type,
        exchange=info.exchange or "SMART",
        primaryExchange=info.primary_exchange,
        currency=info.currency,
    )


def contract_info(details: ContractDetails) -> ContractInfo:
    """What IB says a contract is, as a :class:`ContractInfo`."""
    contract = details.contract
    if contract is None:
        raise ValueError("contract details without a contract")
    return ContractInfo(
        symbol=contract.symbol,
        con_id=contract.conId,
        long_name=details.longName,
        industry=details.industry,
        category=details.category,
        subcategory=details.subcategory,
        exchange=contract.exchange,
        currency=contract.currency,
        primary_exchange=contract.primaryExchange,
        sec_type=contract.secType or "STK",
        min_tick=details.minTick if details.minTick > 0 else 0.01,
        time_zone=details.timeZoneId,
        trading_hours=details.tradingHours,
        liquid_hours=details.liquidHours,
    )


def bar_start(value: date | datetime, *, time_zone: tzinfo = UTC) -> datetime:
    """A bar's start in UTC.

    Daily and longer bars come as a date (IB's ``YYYYmmdd``): they start at midnight UTC of that
    trading day, so ``timestamp.date()`` is the trading date everywhere. Intraday bars requested
    with formatDate=2 are already UTC; naive ones are in ``time_zone`` (the Gateway's zone).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=time_zone)
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def price_bar(bar: BarData, symbol: str, bar_size: BarSize, *, time_zone: tzinfo = UTC) -> PriceBar:
    """A historical (or keepUpToDate) bar as a :class:`PriceBar`.

    IB sends -1 for "no value" in volume, average and count (e.g. MIDPOINT bars); those become
    None for ``wap``/``bar_count`` and 0 for volume.
    """
    return PriceBar(
        symbol=symbol,
        timestamp=bar_start(bar.date, time_zone=time_zone),
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=max(float(bar.volume), 0.0),
        bar_size=bar_size,
        wap=bar.average if bar.average > 0 else None,
        bar_count=bar.barCount if bar.barCount >= 0 else None,
    )


def realtime_price_bar(bar: RealTimeBar, symbol: str) -> PriceBar:
    """One of IB's 5-second real-time bars as a :class:`PriceBar` (``time`` is the bar's start)."""
    return PriceBar(
        symbol=symbol,
        timestamp=bar_start(bar.time),
        open=bar.open_,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=max(float(bar.volume), 0.0),
        bar_size=BarSize.SEC_5,
        wap=bar.wap if bar.wap > 0 else None,
        bar_count=bar.count if bar.count >= 0 else None,
    )


def _price(value: float | None) -> float | None:
    """IB's quote price, or None for its "no value" markers (NaN, -1, 0)."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def _size(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def tick_from_ticker(ticker: Ticker, symbol: str, *, now: datetime) -> Tick | None:
    """The ticker's current top of book and last trade, or None when it holds nothing yet.

    ``ticker.time`` (when the update arrived) is used when set; otherwise ``now``.
    """
    bid, ask, last = _price(ticker.bid), _price(ticker.ask), _price(ticker.last)
    volume = _size(ticker.volume)
    if bid is None and ask is None and last is None and volume is None:
        return None
    stamp = ticker.time if ticker.time is not None and ticker.time.tzinfo else now
    return Tick(
        symbol=symbol,
        timestamp=ensure_utc(stamp),
        bid=bid,
        ask=ask,
        last=last,
        bid_size=_size(ticker.bidSize) if bid is not None else None,
        ask_size=_size(ticker.askSize) if ask is not None else None,
        last_size=_size(ticker.lastSize) if last is not None else None,
        volume=volume,
    )


def map_order_status(
    ib_status: str, *, filled: float = 0.0, remaining: float = 0.0, error_code: int | None = None
) -> OrderStatus:
    """IB's order state as ibbot's :class:`OrderStatus`, never more optimistic than IB.

    PendingSubmit/ApiPending -> PENDING; PreSubmitted/Submitted (and PendingCancel until IB
    confirms) -> SUBMITTED, or PARTIALLY_FILLED once something filled; Filled -> FILLED;
    Cancelled/ApiCancelled -> CANCELLED, unless the error that ended it is a rejection (ib_async
    marks a rejected order "Cancelled") -> REJECTED, or a refused cancel (the order still works);
    Inactive -> REJECTED. An unknown state is PENDING: we do not know that IB is working it.
    """
    if ib_status == "Filled":
        return OrderStatus.FILLED
    if ib_status == "Inactive":
        return OrderStatus.REJECTED
    if ib_status in _CANCELLED_STATES and error_code in CANCEL_REFUSED:
        # ib_async marks a trade "Cancelled" on any error, including IB refusing our cancel: the
        # order is in fact still working (a fill would have arrived as "Filled" before).
        ib_status = "Submitted"
    if ib_status in _CANCELLED_STATES:
        ended_by = order_status_for_error(error_code) if error_code else None
        return OrderStatus.REJECTED if ended_by is OrderStatus.REJECTED else OrderStatus.CANCELLED
    if ib_status in _WORKING_STATES:
        if filled > 0 and remaining != 0:
            return OrderStatus.PARTIALLY_FILLED
        return OrderStatus.SUBMITTED
    return OrderStatus.PENDING


def order_result(trade: Trade, *, now: datetime) -> OrderResult:
    """The current state of an ib_async ``Trade`` as an :class:`OrderResult` stamped ``now``."""
    status = trade.orderStatus
    error_entry = next((e for e in reversed(trade.log) if e.errorCode), None)
    error_code = error_entry.errorCode if error_entry is not None else None
    fills = trade.fills
    total = float(trade.order.totalQuantity)
    filled_by_fills = sum(f.execution.shares for f in fills)
    order_filled = trade.order.filledQuantity  # set on completed orders, UNSET_DOUBLE otherwise
    filled = max(
        status.filled,
        filled_by_fills,
        float(order_filled) if 0 < order_filled <= total else 0.0,
    )
    if status.status == "Filled":
        # "Filled" means completely filled; a completed order fetched after a reconnect may
        # carry no quantities at all.
        filled, remaining = max(filled, total), 0.0
    elif status.remaining > 0:
        remaining = status.remaining
    else:
        remaining = max(total - filled, 0.0)
    if status.avgFillPrice > 0:
        avg_price: float | None = status.avgFillPrice
    elif filled_by_fills > 0:
        avg_price = sum(f.execution.shares * f.execution.price for f in fills) / filled_by_fills
    else:
        avg_price = None
    reports = [f.commissionReport for f in fills if f.commissionReport.execId]
    mapped = map_order_status(
        status.status, filled=filled, remaining=remaining, error_code=error_code
    )
    if error_entry is not None and error_entry.message:
        message: str | None = error_entry.message
    elif status.whyHeld:
        message = f"held: {status.whyHeld}"
    elif mapped is OrderStatus.REJECTED:
        message = f"IB reports the order {status.status}"
    else:
        message = None
    strategy, decision_id = parse_order_ref(trade.order.orderRef)
    return OrderResult(
        order_id=trade.order.orderId,
        status=mapped,
        fill_price=avg_price if filled > 0 else None,
        fill_quantity=filled,
        message=message,
        perm_id=status.permId or trade.order.permId,
        remaining=remaining,
        commission=sum(r.commission for r in reports) if reports else None,
        symbol=trade.contract.symbol,
        strategy_name=strategy,
        decision_id=decision_id,
        timestamp=now,
        error_code=error_code,
    )


def fill_from_ib(fill: IBFill) -> Fill:
    """One execution (with its commission report once IB sent it) as a :class:`Fill`.

    The strategy and decision come from the execution's ``orderRef``, which IB echoes on every
    execution, so a fill is attributed even when it arrives after a reconnect.
    """
    execution = fill.execution
    side = _EXEC_SIDES.get(execution.side.upper())
    if side is None:
        raise ValueError(f"execution {execution.execId} has an unknown side {execution.side!r}")
    report = fill.commissionReport
    has_report = bool(report.execId)
    strategy, decision_id = parse_order_ref(execution.orderRef)
    stamp = execution.time if execution.time.tzinfo is not None else fill.time
    return Fill(
        exec_id=execution.execId,
        order_id=execution.orderId,
        perm_id=execution.permId,
        symbol=fill.contract.symbol,
        side=side,
        quantity=float(execution.shares),
        price=float(execution.price),
        timestamp=ensure_utc(stamp),
        commission=report.commission if has_report else None,
        strategy_name=strategy,
        decision_id=decision_id,
        account=execution.acctNumber,
        realized_pnl=report.realizedPNL if has_report else None,
    )


def position_from_ib(position: IBPosition) -> Position:
    """An account position as IB reports it (all strategies together, so no ``strategy_name``).

    IB's ``avgCost`` of a stock is per share, commissions included.
    """
    return Position(
        symbol=position.contract.symbol,
        quantity=float(position.position),
        avg_cost=float(position.avgCost),
        account=position.account,
    )


def _order_template() -> dict[str, Any] | None:
    """ib_async's Order defaults in field order, or None if it is not a plain dataclass."""
    if getattr(IBOrder, "__post_init__", None) is not None or not hasattr(IBOrder, "__dict__"):
        return None
    template: dict[str, Any] = {}
    for item in dataclasses.fields(IBOrder):
        if not item.init:
            return None
        template[item.name] = item.default  # MISSING for a factory's field, replaced on each copy
    return template


_ORDER_TEMPLATE: Final = _order_template()
_ORDER_FACTORIES: Final = tuple(
    (item.name, item.default_factory)
    for item in dataclasses.fields(IBOrder)
    if item.default_factory is not dataclasses.MISSING
)


def _new_ib_order(**values: Any) -> IBOrder:
    """``IBOrder(**values)`` from a copy of its defaults.

    ib_async's Order has some 140 fields; its generated ``__init__`` takes about 50 µs when the
    caches are cold, as they are on the way from a tick to an order; copying the defaults takes
    about half of that.
    """
    if _ORDER_TEMPLATE is None:
        return IBOrder(**values)
    ib = object.__new__(IBOrder)
    fields = ib.__dict__
    fields.update(_ORDER_TEMPLATE)
    for name, factory in _ORDER_FACTORIES:
        fields[name] = factory()
    fields.update(values)
    return ib


def ib_order(order: Order) -> IBOrder:
    """An ibbot :class:`Order` as an ib_async order, tagged with ``orderRef`` for attribution."""
    ib = _new_ib_order(
        action=order.action.value,
        totalQuantity=float(order.quantity),
        orderType=order.order_type.value,
        tif=order.time_in_force.value,
        orderRef=order.order_ref,
        transmit=True,
    )
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        ib.lmtPrice = order.limit_price
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        ib.auxPrice = order.stop_price
    if order.order_type is OrderType.TRAIL:
        # IB's TRAIL trails by auxPrice (an amount) or by trailingPercent (2.0 is 2%)
        if order.trailing_amount is not None:
            ib.auxPrice = order.trailing_amount
        elif order.trailing_percent is not None:
            ib.trailingPercent = order.trailing_percent
    return ib


def ib_bracket(bracket: Bracket, order_ids: Sequence[int]) -> list[IBOrder]:
    """A bracket as IB takes it, entry first: the entry untransmitted, each child attached to it
    (``parentId``) in one OCA group, and only the last child transmitting the whole bracket."""
    legs = [order for _, order in bracket.legs]
    if len(order_ids) != len(legs):
        raise ValueError(f"a bracket of {len(legs)} orders needs {len(legs)} ids")
    orders = [ib_order(order) for order in legs]
    for request, order_id in zip(orders, order_ids, strict=True):
        request.orderId = order_id
        request.transmit = request is orders[-1]
    for request in orders[1:]:
        request.parentId = order_ids[0]
        request.ocaGroup = bracket.oca_group
        request.ocaType = bracket.oca_type
    return orders
