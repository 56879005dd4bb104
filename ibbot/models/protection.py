"""Protection: the orders IB holds for a position while ibbot is not watching (brackets).

A BUY decision may carry a :class:`Protection`: a stop-loss (a price, or a fraction below the entry),
a take-profit (a price, or a fraction above it), a trailing stop (an amount, or a fraction of the
best price since entry) and how long they work (GTC by default). The trading layer then places the
entry as one IB bracket (:class:`Bracket`): the entry is the parent, each protective order a child
in one OCA group, so IB activates them when the entry fills, cancels the others when one fills, and
keeps them working whether or not ibbot is running.

Every leg carries its own ``orderRef``: ``<strategy>:<decision id>/<leg>`` for a child, so a fill of
a stop is attributed to the strategy and the decision that opened the position
(:func:`split_leg`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ibbot.models.orders import Order, TimeInForce

__all__ = ["LEG_SEPARATOR", "Bracket", "OrderLeg", "Protection", "split_leg"]

LEG_SEPARATOR = "/"
"""Between a decision id and a protective leg's name in a child's decision id."""


class OrderLeg(StrEnum):
    """Which part of a bracket an order is."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"

    @property
    def protective(self) -> bool:
        """True for the children that protect a position."""
        return self is not OrderLeg.ENTRY

    def decision_id(self, decision_id: str) -> str:
        """The decision id this leg's order carries (the entry carries the decision's own)."""
        if self is OrderLeg.ENTRY:
            return decision_id
        return f"{decision_id}{LEG_SEPARATOR}{self.value}"


def split_leg(decision_id: str) -> tuple[str, OrderLeg]:
    """``"d1/stop_loss"`` -> ``("d1", STOP_LOSS)``; an id without a known leg is an entry's."""
    base, sep, leg = decision_id.rpartition(LEG_SEPARATOR)
    if sep:
        try:
            found = OrderLeg(leg)
        except ValueError:
            return decision_id, OrderLeg.ENTRY
        if found.protective:
            return base, found
    return decision_id, OrderLeg.ENTRY


def _fraction(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0 < value < 1):
        raise ValueError(f"{name} must be a fraction above 0 and below 1 (0.05 is 5%), got {value}")


def _price(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive price, got {value}")


@dataclass(frozen=True, slots=True)
class Protection:
    """What protects the long position a BUY decision opens or adds to.

    Each protective order is given as a price or as a fraction of the entry price (0.05 is 5%),
    never both: ``stop_loss_price`` / ``stop_loss_pct`` below the entry, ``take_profit_price`` /
    ``take_profit_pct`` above it, ``trailing_amount`` / ``trailing_pct`` behind the best price
    since the entry. ``time_in_force`` is the children's: GTC (the default) keeps them working
    across days, DAY lets them end at the close.
    """

    stop_loss_price: float | None = None
    stop_loss_pct: float | None = None
    take_profit_price: float | None = None
    take_profit_pct: float | None = None
    trailing_amount: float | None = None
    trailing_pct: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC

    def __post_init__(self) -> None:
        if type(self.time_in_force) is not TimeInForce:
            object.__setattr__(self, "time_in_force", TimeInForce(self.time_in_force))
        for name, price, pct in (
            ("stop_loss", self.stop_loss_price, self.stop_loss_pct),
            ("take_profit", self.take_profit_price, self.take_profit_pct),
            ("trailing", self.trailing_amount, self.trailing_pct),
        ):
            if price is not None and pct is not None:
                raise ValueError(f"give {name} as a price or as a fraction, not both")
            _price(f"{name} price" if name != "trailing" else "trailing amount", price)
            _fraction(f"{name}_pct", pct)

    @property
    def empty(self) -> bool:
        """True when it asks for no protective order at all."""
        return (
            self.stop_loss_price is None
            and self.stop_loss_pct is None
            and self.take_profit_price is None
            and self.take_profit_pct is None
            and self.trailing_amount is None
            and self.trailing_pct is None
        )

    def stop_loss(self, entry: float) -> float | None:
        """The stop-loss price for an entry at ``entry`` (None: no stop-loss)."""
        if self.stop_loss_pct is not None:
            return round(entry * (1.0 - self.stop_loss_pct), 2)
        return self.stop_loss_price

    def take_profit(self, entry: float) -> float | None:
        """The take-profit price for an entry at ``entry`` (None: no take-profit)."""
        if self.take_profit_pct is not None:
            return round(entry * (1.0 + self.take_profit_pct), 2)
        return self.take_profit_price

    def trailing_start(self, entry: float) -> float | None:
        """Where a trailing stop starts for an entry at ``entry`` (None: no trailing stop)."""
        if self.trailing_pct is not None:
            return round(entry * (1.0 - self.trailing_pct), 2)
        if self.trailing_amount is not None:
            return round(entry - self.trailing_amount, 2)
        return None

    def worst_exit(self, entry: float) -> float | None:
        """The lowest price a stop of this protection sells at for an entry at ``entry`` (before
        slippage): the tighter of the stop-loss and the trailing stop's start; None without one."""
        stops = [p for p in (self.stop_loss(entry), self.trailing_start(entry)) if p is not None]
        return max(stops) if stops else None

    def describe(self) -> str:
        """``stop-loss 5% below entry, take-profit at 120.00, trailing stop 2.50, GTC``."""
        parts: list[str] = []
        if self.stop_loss_pct is not None:
            parts.append(f"stop-loss {self.stop_loss_pct:.2%} below entry")
        elif self.stop_loss_price is not None:
            parts.append(f"stop-loss at {self.stop_loss_price:,.2f}")
        if self.take_profit_pct is not None:
            parts.append(f"take-profit {self.take_profit_pct:.2%} above entry")
        elif self.take_profit_price is not None:
            parts.append(f"take-profit at {self.take_profit_price:,.2f}")
        if self.trailing_pct is not None:
            parts.append(f"trailing stop {self.trailing_pct:.2%}")
        elif self.trailing_amount is not None:
            parts.append(f"trailing stop {self.trailing_amount:,.2f}")
        if not parts:
            return "no protection"
        return f"{', '.join(parts)}, {self.time_in_force}"


@dataclass(frozen=True, slots=True)
class Bracket:
    """An entry and the protective orders IB attaches to it, placed as one unit.

    ``children`` are closing orders for the entry's quantity, in the order they are sent (the last
    one transmits the whole bracket). ``oca_group`` links them: one filling cancels or reduces the
    others.
    """

    entry: Order
    children: tuple[tuple[OrderLeg, Order], ...]

    @property
    def oca_group(self) -> str:
        """The children's OCA group name: unique per decision."""
        return f"ibbot:{self.entry.order_ref}"

    @property
    def oca_type(self) -> int:
        """IB's ocaType for the children: 2, a fill cancels or proportionately reduces the others,
        with block (no overfill), so a partly filled take-profit leaves a stop for the rest."""
        return 2

    @property
    def legs(self) -> tuple[tuple[OrderLeg, Order], ...]:
        """Every order with its leg, entry first."""
        return ((OrderLeg.ENTRY, self.entry), *self.children)

    def child(self, leg: OrderLeg) -> Order | None:
        """The child of ``leg``, if the bracket has one."""
        return next((order for found, order in self.children if found is leg), None)
