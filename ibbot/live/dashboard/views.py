"""JSON views of the book, the orders and the decisions: what ``GET /status``, the dashboard and
the metrics show, computed once so that they always agree.

Money is rounded to cents here, once: the page formats what it is given and shows the same figures
as ``/status``. Unrealized P&L and market values are marked at the last price ibbot saw (the
activity monitor's, from ticks and bars); a symbol without one is shown without a price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ibbot.models import Decision, Fill, OrderResult, split_leg, to_dict
from ibbot.trading.working import protective_group

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from ibbot.trading import PositionBook

__all__ = ["book_view", "decision_view", "fill_view", "orders_view"]


def _cents(value: float) -> float:
    return round(value, 2) + 0.0  # + 0.0: never "-0.00"


def book_view(
    book: PositionBook, prices: Mapping[str, float], strategies: Iterable[str], now: datetime
) -> dict[str, Any]:
    """``{"positions": [...], "pnl": {"strategies": {...}, "total": {...}}}`` at ``prices``.

    Each position: strategy, symbol, quantity, average cost, last price, market value, unrealized
    and realized P&L. Each strategy (those running and those the book holds): realized P&L since
    the book started, realized today (US/Eastern trading day of ``now``), unrealized, and today's
    P&L (realized today plus unrealized now).
    """
    positions: list[dict[str, Any]] = []
    per_strategy: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys([*strategies, *book.strategies()]):
        unrealized = 0.0
        for symbol, position in sorted(book.positions(name).items()):
            price = prices.get(symbol)
            open_pnl = None if price is None else position.unrealized_pnl(price)
            unrealized += open_pnl or 0.0
            positions.append(
                {
                    "strategy": name,
                    "symbol": symbol,
                    "quantity": position.quantity,
                    "avg_cost": round(position.avg_cost, 4),
                    "price": price,
                    "market_value": None if price is None else _cents(position.quantity * price),
                    "unrealized_pnl": None if open_pnl is None else _cents(open_pnl),
                    "realized_pnl": _cents(position.realized_pnl),
                }
            )
        realized_today = book.daily_realized_pnl(name, now)
        per_strategy[name] = {
            "realized": _cents(book.realized_pnl(name)),
            "realized_today": _cents(realized_today),
            "unrealized": _cents(unrealized),
            "today": _cents(realized_today + unrealized),
        }
    total = {
        key: _cents(sum(values[key] for values in per_strategy.values()))
        for key in ("realized", "realized_today", "unrealized", "today")
    }
    return {"positions": positions, "pnl": {"strategies": per_strategy, "total": total}}


def orders_view(open_orders: Iterable[OrderResult]) -> list[dict[str, Any]]:
    """The open orders, each bracket's protective children right after their entry."""
    rows: list[dict[str, Any]] = []
    for result in open_orders:
        ref = f"{result.strategy_name}:{result.decision_id}" if result.decision_id else ""
        leg = split_leg(result.decision_id)[1]
        rows.append(
            {
                "order_id": result.order_id,
                "perm_id": result.perm_id,
                "order_ref": ref,
                "group": (protective_group(ref) or ref) if ref else f"#{result.order_id}",
                "leg": leg.value,
                "strategy": result.strategy_name,
                "symbol": result.symbol,
                "status": result.status.value,
                "filled": result.fill_quantity,
                "remaining": result.remaining,
                "message": result.message,
            }
        )
    rows.sort(key=lambda row: (row["group"], row["leg"] != "entry", row["order_id"]))
    return rows


def decision_view(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``decision`` event's payload (see :class:`~ibbot.live.LiveTrader`) as one flat record."""
    decision = payload.get("decision")
    if not isinstance(decision, Decision):
        return None
    record = to_dict(decision)
    record.update(
        outcome=payload.get("outcome"),
        detail=payload.get("detail"),
        rule=payload.get("rule"),
        order_ref=payload.get("order_ref"),
    )
    return record


def fill_view(fill: Fill) -> dict[str, Any]:
    """A fill as JSON (the account id left out: it is a secret)."""
    record = to_dict(fill)
    record.pop("account", None)
    return record
