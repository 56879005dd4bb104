"""What the engine refuses, with IB's error codes and texts, and the checks that decide it.

Texts are IB's own, from its message-code table (200, 161, 434) or as IB sends them and client
libraries log them (201, 10147, 103).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ibbot.exchange.orders import LIMIT_TYPES, STOP_TYPES

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
    return _price_problem(request)


def _price_problem(request: OrderRequest) -> Refusal | None:
    needs_limit = request.order_type in LIMIT_TYPES
    needs_stop = request.order_type in STOP_TYPES
    for needed, value, name in (
        (needs_limit, request.limit_price, "limit"),
        (needs_stop, request.stop_price, "stop"),
    ):
        if needed and (value is None or not math.isfinite(value) or value <= 0):
            return REJECTED, f"{REJECT_PREFIX}the {name} price must be a positive number"
    return None
