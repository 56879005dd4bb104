"""Orders in flight: the shares working orders may still add to or take from a holding.

Sizing reads the position book *and* these orders, so a decision never counts the same shares twice.
An order counts as working from the moment it is sent until every share it filled is in the book,
not merely until its status is terminal: IB reports an order's end (``orderStatus`` "Filled") and
its executions (``execDetails``, then the commission report) as separate messages, in either order,
and ibbot books a fill only once it is audited. In between, the book still holds the shares a
filled sale sold; sized against the book alone, the next exit would sell them again.

Each order is one line: its side, the quantity it may still fill (the ordered quantity until a
terminal status fixes the final filled quantity) and the quantity booked from its fills (a repeated
execution is never booked, so never counted). It leaves when its status is terminal (filled,
cancelled, rejected) and every share it filled is booked.

The two directions are kept apart, since a working order may still end unfilled: the holding ends
somewhere from ``book - unbooked sales`` to ``book + unbooked purchases``. A sale is sized from the
low end (a long-only strategy never sells what a working sale already sells, nor what a working
purchase has not brought yet), a purchase from the high end (it never buys twice).

A bracket's protective children (a take-profit and a stop-loss for the same shares, one OCA group)
count together: IB lets one of them fill and cancels or reduces the others, so the group may sell
at most what its largest child may, not their sum. Their state is part of what a holding may become:
a stop that IB filled is a sale until its fill is booked, so an exit sized meanwhile never sells
the same shares again.

Orders of an earlier run, first seen through their status after a restart or reconnect, join with
the quantity IB still has to fill; what they filled before counts as booked (it was booked by that
run, or comes from IB's executions as a recovered fill). Their status does not say their side, so
until one of their fills shows it, their rest counts in both directions (a protective child's is a
sale: ibbot protects long positions only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ibbot.models import OrderSide, OrderStatus, parse_order_ref, split_leg
from ibbot.models.orders import ORDER_REF_SEPARATOR

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ibbot.models import Fill, Order, OrderResult

__all__ = ["NOTHING_WORKING", "Exposure", "WorkingOrders", "protective_group"]

# Fill quantities are floats: a rest below this is nothing.
_EPSILON: Final = 1e-9
# Orders that left, remembered so that a status report overtaken by its own end is not taken for
# an order of an earlier run; far more than any run sends in a day.
_FINISHED_MEMORY: Final = 10_000


@dataclass(frozen=True, slots=True)
class Exposure:
    """What a strategy's working orders in one symbol may still do to its holding.

    ``buying`` and ``selling`` are the shares (both >= 0) those orders may still add or take away;
    ``orders`` their ``orderRef``\\ s, for the sizing sentence.
    """

    buying: float = 0.0
    selling: float = 0.0
    orders: tuple[str, ...] = ()

    @classmethod
    def of(cls, lines: Iterable[tuple[str, OrderSide | None, float]]) -> Exposure:
        """Add up ``(order_ref, side, unbooked quantity)``; a side of None counts both ways.

        A bracket's protective children count as one: the largest of them (see the module).
        """
        buying = selling = 0.0
        refs: list[str] = []
        groups: dict[str, tuple[float, float]] = {}
        for ref, side, rest in lines:
            if rest <= _EPSILON:
                continue
            refs.append(ref)
            buy = rest if side is not OrderSide.SELL else 0.0
            sell = rest if side is not OrderSide.BUY else 0.0
            group = protective_group(ref)
            if group is None:
                buying += buy
                selling += sell
            else:
                seen = groups.get(group, (0.0, 0.0))
                groups[group] = (max(seen[0], buy), max(seen[1], sell))
        for buy, sell in groups.values():
            buying += buy
            selling += sell
        return cls(buying, selling, tuple(refs)) if refs else NOTHING_WORKING

    @property
    def idle(self) -> bool:
        """True when no order is working."""
        return not self.orders

    def low(self, held: float) -> float:
        """The least ``held`` may become: every working sale fills, no purchase does."""
        return held - self.selling

    def high(self, held: float) -> float:
        """The most ``held`` may become: every working purchase fills, no sale does."""
        return held + self.buying

    def describe(self) -> str:
        """``working s:d1 may still buy 10``: the orders and what they may still do."""
        moves = [
            f"{verb} {amount:g}"
            for verb, amount in (("buy", self.buying), ("sell", self.selling))
            if amount > _EPSILON
        ]
        return f"working {', '.join(self.orders)} may still {' or '.join(moves)}"


NOTHING_WORKING: Final = Exposure()
"""No order working: sizing against the book alone."""


@dataclass(slots=True)
class _Line:
    strategy: str
    symbol: str
    side: OrderSide | None
    ordered: float
    booked: float = 0.0
    final: float | None = None  # filled quantity reported by the terminal status

    @property
    def unbooked(self) -> float:
        limit = self.ordered if self.final is None else self.final
        return max(limit - self.booked, 0.0)


class WorkingOrders:
    """The orders whose shares may still move a position, by ``orderRef``; pure and synchronous.

    Fed with every order sent (:meth:`sent`), every status report (:meth:`status`, from the broker
    or from ``submit``) and every fill the book applied (:meth:`booked`), in any order.
    """

    def __init__(self) -> None:
        self._lines: dict[str, _Line] = {}
        self._finished: dict[str, None] = {}

    def sent(self, order: Order) -> None:
        """``order`` is on its way: all its quantity may fill."""
        self._lines.setdefault(
            order.order_ref,
            _Line(order.strategy_name, order.symbol, order.action, float(order.quantity)),
        )

    def status(self, result: OrderResult, *, order_ref: str | None = None) -> None:
        """A status report: a terminal one fixes how much the order filled in the end.

        A non-terminal report of an order not known here (placed by an earlier run) adds it with
        what IB has still to fill, unless the order already left (the report was overtaken by the
        order's end); reports of orders that are not ibbot's are ignored.
        """
        ref = order_ref or _ref(result.strategy_name, result.decision_id)
        if ref is None:
            return
        line = self._lines.get(ref)
        if line is None:
            if ref not in self._finished:
                self._adopt(ref, result)
            return
        if result.status.is_terminal:
            filled = result.fill_quantity
            if filled is None:
                filled = line.ordered if result.status is OrderStatus.FILLED else 0.0
            line.final = filled
            self._settle(ref, line)

    def still_open(self, result: OrderResult) -> None:
        """The broker lists the order as working *now*: it works, even if it left here.

        An order can come back from a terminal report: ib_async marks an order cancelled when IB
        refuses the cancel, and the executor then finds it working. An order not known here joins
        as :meth:`status` adds it.
        """
        ref = _ref(result.strategy_name, result.decision_id)
        if ref is not None and ref not in self._lines:
            self._finished.pop(ref, None)
            self._adopt(ref, result)

    def booked(self, fill: Fill) -> None:
        """The book applied ``fill`` (call it once per execution id: only for fills it applied)."""
        ref = _ref(fill.strategy_name, fill.decision_id)
        line = None if ref is None else self._lines.get(ref)
        if ref is None or line is None:
            return
        line.booked += fill.quantity
        if line.side is None:
            line.side = fill.side
        self._settle(ref, line)

    def abandon(self, order_ref: str) -> None:
        """The order never reached the broker (its submission failed): nothing of it can fill."""
        if self._lines.pop(order_ref, None) is not None:
            self._remember(order_ref)

    def exposure(self, strategy: str, symbol: str, *, protective: bool = True) -> Exposure:
        """What ``strategy``'s working orders in ``symbol`` may still do to its holding.

        ``protective=False`` leaves out the protective children (what the holding would do if
        they were cancelled now).
        """
        return Exposure.of(
            (ref, line.side, line.unbooked)
            for ref, line in self._lines.items()
            if line.strategy == strategy
            and line.symbol == symbol
            and (protective or protective_group(ref) is None)
        )

    def refs(self) -> set[str]:
        """Every working order's ``orderRef``."""
        return set(self._lines)

    def symbols(self) -> set[str]:
        """Every symbol with a working order."""
        return {line.symbol for line in self._lines.values()}

    def _adopt(self, ref: str, result: OrderResult) -> None:
        rest = result.remaining
        if result.status.is_terminal or rest is None or rest <= _EPSILON:
            return
        filled = result.fill_quantity or 0.0
        # a protective child only ever sells (ibbot protects long positions); others: unknown
        side = OrderSide.SELL if protective_group(ref) is not None else None
        self._lines[ref] = _Line(
            result.strategy_name, result.symbol, side, filled + rest, booked=filled
        )

    def _settle(self, ref: str, line: _Line) -> None:
        if line.final is not None and line.unbooked <= _EPSILON:
            del self._lines[ref]
            self._remember(ref)

    def _remember(self, ref: str) -> None:
        self._finished[ref] = None
        if len(self._finished) > _FINISHED_MEMORY:
            del self._finished[next(iter(self._finished))]


def protective_group(order_ref: str) -> str | None:
    """The bracket a protective child's ``orderRef`` belongs to (its entry's ``orderRef``), or None
    for any other order."""
    strategy, decision_id = parse_order_ref(order_ref)
    root, leg = split_leg(decision_id)
    return f"{strategy}{ORDER_REF_SEPARATOR}{root}" if leg.protective else None


def _ref(strategy: str, decision_id: str) -> str | None:
    """The ``orderRef`` of an ibbot order (None for an order ibbot did not place)."""
    return f"{strategy}{ORDER_REF_SEPARATOR}{decision_id}" if strategy and decision_id else None
