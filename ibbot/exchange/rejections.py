"""What the engine refuses, with IB's error codes and texts, and the checks that decide it.

Texts are IB's own, from its message-code table (200, 161, 434) or as IB sends them and client
libraries log them (201, 10147, 103).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ibbot.exchange.orders import (
    ADAPTIVE,
    ADAPTIVE_PRIORITIES,
    ADAPTIVE_PRIORITY,
    LIMIT_TYPES,
    OCA_TYPES,
    STOP_TYPES,
    TRAIL_TYPES,
)
from ibbot.models import OrderType

if TYPE_CHECKING:
    from ibbot.exchange.orders import OrderRequest

__all__ = [
    "CANCEL_NOT_FOUND",
    "DUPLICATE_ORDER_ID",
    "NOT_CANCELLABLE",
    "NO_SECURITY",
    "REJECTED",
    "REJECT_PREFIX",
    "ZERO_SIZE",
    "Refusal",
    "request_problem",
]

NO_SECURITY = 200  # "No security definition has been found for the request"
REJECTED = 201  # "Order rejected - reason:" + IB's reason
DUPLICATE_ORDER_ID = 103  # "Duplicate order id"
NOT_CANCELLABLE = 161  # "Cancel attempted when order is not in a cancellable state. Order permId ="
ZERO_SIZE = 434  # "The order size cannot be zero."
CANCEL_NOT_FOUND = 10147  # "OrderId <id> that needs to be cancelled is not found."
REJECT_PREFIX = "Order rejected - reason:"

Refusal = tuple[int, str]
"""IB's error code and message for something refused."""


def request_problem(request: OrderRequest, symbols: frozenset[str] | None) -> Refusal | None:
    """Why IB would refuse ``request`` on its own terms (symbol, size, prices), or None."""
    if symbols is not None and request.symbol not in symbols:
        return NO_SECURITY, "No security definition has been found for the request"
    quantity = request.quantity
    if quantity == 0:
        return ZERO_SIZE, "The order size cannot be zero."
    if not math.isfinite(quantity) or quantity < 0:
        return REJECTED, f"{REJECT_PREFIX}the order quantity must be a positive number"
    if quantity != int(quantity):
        return REJECTED, f"{REJECT_PREFIX}fractional share quantities are not accepted"
    return _price_problem(request) or _trail_problem(request) or _link_problem(request)


def _price_problem(request: OrderRequest) -> Refusal | None:
    needs_limit = request.order_type in LIMIT_TYPES
    needs_stop = request.order_type in STOP_TYPES
    if not needs_limit and not needs_stop:
        return None  # a market (or trailing) order: no price of its own to check
    for needed, value, name in (
        (needs_limit, request.limit_price, "limit"),
        (needs_stop, request.stop_price, "stop"),
    ):
        if needed and (value is None or not math.isfinite(value) or value <= 0):
            return REJECTED, f"{REJECT_PREFIX}the {name} price must be a positive number"
    return None


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _trail_problem(request: OrderRequest) -> Refusal | None:
    """A trailing order needs exactly one of a trailing amount and a trailing percentage (and a
    TRAIL LIMIT its limit offset); a non-trailing order takes none of them."""
    amount, percent = request.trailing_amount, request.trailing_percent
    if request.order_type not in TRAIL_TYPES:
        if amount is not None or percent is not None or request.limit_offset is not None:
            return REJECTED, f"{REJECT_PREFIX}trailing terms apply to TRAIL orders only"
        return None
    if (amount is None) == (percent is None):
        return REJECTED, (
            f"{REJECT_PREFIX}a trailing order needs either a trailing amount (auxPrice) or a "
            "trailing percent"
        )
    if amount is not None and not _positive(amount):
        return REJECTED, f"{REJECT_PREFIX}the trailing amount must be a positive number"
    if percent is not None and not (_positive(percent) and percent < 100):
        return REJECTED, f"{REJECT_PREFIX}the trailing percent must be above 0 and below 100"
    start = request.trail_stop_price
    if start is not None and not _positive(start):
        return REJECTED, f"{REJECT_PREFIX}the trail stop price must be a positive number"
    if request.order_type is OrderType.TRAIL_LIMIT:
        offset = request.limit_offset
        if offset is None or not math.isfinite(offset) or offset < 0:
            return REJECTED, (
                f"{REJECT_PREFIX}a TRAIL LIMIT order needs a limit price offset of 0 or more"
            )
    elif request.limit_offset is not None:
        return REJECTED, f"{REJECT_PREFIX}a limit price offset applies to TRAIL LIMIT orders only"
    return None


def _link_problem(request: OrderRequest) -> Refusal | None:
    """OCA types IB knows, and the one algo the exchange works: Adaptive, on MKT and LMT."""
    if request.oca_type and request.oca_type not in OCA_TYPES:
        return REJECTED, f"{REJECT_PREFIX}invalid OCA type {request.oca_type} (1, 2 or 3)"
    if request.parent_id < 0 or request.parent_id == request.order_id:
        return REJECTED, f"{REJECT_PREFIX}invalid parent order id {request.parent_id}"
    algo = request.algo_strategy
    if not algo:
        return None
    if algo != ADAPTIVE:
        return REJECTED, f"{REJECT_PREFIX}the simulated exchange does not support algo {algo}"
    if request.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        return REJECTED, f"{REJECT_PREFIX}the Adaptive algo takes MKT and LMT orders only"
    for tag, value in request.algo_params:
        if tag == ADAPTIVE_PRIORITY and value not in ADAPTIVE_PRIORITIES:
            return REJECTED, f"{REJECT_PREFIX}invalid adaptivePriority {value!r}"
        if tag != ADAPTIVE_PRIORITY:
            return REJECTED, f"{REJECT_PREFIX}the Adaptive algo takes no parameter {tag!r}"
    return None
