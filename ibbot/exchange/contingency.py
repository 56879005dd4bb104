"""How orders depend on each other: untransmitted chains, parents and their children, OCA groups.

IB's rules, as the engine applies them:

* **transmit**: an order sent with ``transmit`` False is held back, unseen by any client (no
  openOrder, no status) until an order of its chain is sent with ``transmit`` True; then the whole
  chain goes live at once, parent first. A bracket so never works half-built.
* **parentId**: an attached (child) order waits, "PreSubmitted" with whyHeld "child", until its
  parent has filled completely, then works on its own; the parent's cancellation (or expiry)
  cancels its waiting children. Children of one parent form an OCA group of their own (IB links a
  bracket's take-profit and stop-loss), with reduce-on-fill and block, unless they name a group.
* **ocaGroup / ocaType**: orders naming the same group cancel or reduce one another as they fill.
  Type 1 cancels the others on any fill; types 2 and 3 reduce them proportionately: after fills
  that used a fraction ``f`` of the group (each fill counts ``shares / its order's size``), every
  order of the group may still fill ``floor(size x (1 - f))`` shares, and one that may fill none is
  cancelled. Types 1 and 2 block: a fill's effect applies before the next order of the group is
  matched. Type 3 does not: effects apply after the whole market update, so two orders of the group
  can fill on the same update (an overfill, as IB warns).

The bookkeeping here is pure; the engine asks what a fill or a cancellation implies and applies it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ibbot.exchange.orders import WorkingOrder

if TYPE_CHECKING:
    from ibbot.exchange.orders import OrderRequest

__all__ = ["Contingencies", "OcaEffect", "OcaGroup"]

Key = tuple[int, int]
"""(client id, order id)"""

# A bracket's children share an implicit group: reduce with block (IB's bracket behaviour).
_BRACKET_OCA_TYPE = 2
_SHARE_SLACK = 1e-9


@dataclass(slots=True)
class OcaGroup:
    """The orders of one OCA group and the fraction ``used`` of the group their fills consumed."""

    oca_type: int
    members: list[WorkingOrder] = field(default_factory=list)
    used: float = 0.0

    @property
    def blocks(self) -> bool:
        """True when a fill's effect applies before the next member is matched (types 1 and 2)."""
        return self.oca_type in (1, 2)

    def record_fill(self, order: WorkingOrder, quantity: float) -> None:
        """Count a member's fill against the group."""
        if self.oca_type == 1:
            self.used = 1.0
        elif order.oca_base > 0:
            self.used = min(1.0, self.used + quantity / order.oca_base)

    def allowed(self, order: WorkingOrder) -> float:
        """The most shares ``order`` may still fill, given the group's fills so far."""
        return float(math.floor(order.oca_base * (1.0 - self.used) + _SHARE_SLACK))


@dataclass(frozen=True, slots=True)
class OcaEffect:
    """What the group does to a member: cancel it (``quantity`` None) or cut it to ``quantity``."""

    order: WorkingOrder
    quantity: float | None


class Contingencies:
    """Held-back orders, parent/child links and OCA groups of one exchange."""

    def __init__(self) -> None:
        self._held: dict[Key, OrderRequest] = {}
        self._children: dict[Key, list[WorkingOrder]] = {}
        self._groups: dict[str, OcaGroup] = {}

    # ------------------------------------------------------------------ transmit

    def hold(self, request: OrderRequest) -> None:
        """Keep an untransmitted order (or an untransmitted change of one) until its chain goes."""
        key = (request.client_id, request.order_id)
        self._held.pop(key, None)  # a re-send moves it to the end, as the latest version
        self._held[key] = request

    def held(self, key: Key) -> OrderRequest | None:
        """The held-back version of an order, if any."""
        return self._held.get(key)

    def release(self, request: OrderRequest) -> list[OrderRequest]:
        """``request`` transmits: it and every held order of its chain, parents first.

        The chain is everything held under the transmitting order's top parent (held or working).
        """
        if not self._held:
            return [request]  # nothing held back: the order is its whole chain
        client = request.client_id
        self._held.pop((client, request.order_id), None)
        root, parent = request.order_id, request.parent_id
        while parent:
            root = parent
            above = self._held.get((client, parent))
            parent = above.parent_id if above is not None else 0
        chain: list[OrderRequest] = []
        top = self._held.pop((client, root), None)
        if top is not None:
            chain.append(top)
        family = {root}
        found = True
        while found:
            found = False
            for key, held in list(self._held.items()):
                if key[0] == client and held.parent_id in family:
                    family.add(held.order_id)
                    chain.append(self._held.pop(key))
                    found = True
        if request.order_id == root:
            chain.insert(0, request)
        else:
            chain.append(request)
        return chain

    def drop_held(self, key: Key) -> bool:
        """Forget a held-back order (cancelled before it transmitted); True if there was one."""
        return self._held.pop(key, None) is not None

    def held_count(self) -> int:
        """How many orders are held back."""
        return len(self._held)

    # ------------------------------------------------------------------ parents

    def attach(self, parent: WorkingOrder, child: WorkingOrder) -> None:
        """Link ``child`` to ``parent``; it waits for the parent's complete fill."""
        key = (parent.request.client_id, parent.request.order_id)
        self._children.setdefault(key, []).append(child)
        child.parent_perm_id = parent.perm_id

    @property
    def has_children(self) -> bool:
        """True once any order has been attached to a parent."""
        return bool(self._children)

    def children(self, parent: WorkingOrder) -> list[WorkingOrder]:
        """The open children of ``parent``."""
        key = (parent.request.client_id, parent.request.order_id)
        return [c for c in self._children.get(key, []) if c.is_open]

    # ------------------------------------------------------------------ OCA groups

    @property
    def has_groups(self) -> bool:
        """True once any order has joined an OCA group (a bracket's children included)."""
        return bool(self._groups)

    def join(self, order: WorkingOrder) -> OcaEffect | None:
        """Add ``order`` to its OCA group, if it has one; a group already used cuts it at once."""
        order.oca_base = order.request.quantity
        name = self.group_name(order)
        if name is None:
            return None
        group = self._groups.get(name)
        if group is None:
            oca_type = (
                order.request.effective_oca_type if order.request.oca_group else _BRACKET_OCA_TYPE
            )
            group = self._groups[name] = OcaGroup(oca_type)
        if order not in group.members:
            group.members.append(order)
        return self._effect(group, order)

    def rebase(self, order: WorkingOrder) -> None:
        """A modified quantity: later reductions are proportional to the new size."""
        order.oca_base = order.request.quantity

    def group_name(self, order: WorkingOrder) -> str | None:
        """The OCA group ``order`` belongs to: the one it names, or its parent's implicit group."""
        request = order.request
        if request.oca_group:
            return f"oca:{request.oca_group}"
        if request.parent_id:
            return f"bracket:{request.client_id}:{request.parent_id}"
        return None

    def group(self, order: WorkingOrder) -> OcaGroup | None:
        """The group ``order`` belongs to, if any."""
        name = self.group_name(order)
        return None if name is None else self._groups.get(name)

    def on_fill(self, order: WorkingOrder, quantity: float) -> OcaGroup | None:
        """Count a fill against the order's group; the group, when it has one."""
        group = self.group(order)
        if group is not None:
            group.record_fill(order, quantity)
        return group

    def effects(self, group: OcaGroup) -> list[OcaEffect]:
        """The cuts and cancellations the group's fills so far call for, in member order."""
        out: list[OcaEffect] = []
        for member in group.members:
            effect = self._effect(group, member)
            if effect is not None:
                out.append(effect)
        group.members = [m for m in group.members if m.is_open]
        return out

    def _effect(self, group: OcaGroup, order: WorkingOrder) -> OcaEffect | None:
        if not order.is_open or group.used <= 0:
            return None
        if group.oca_type == 1:
            # the order that filled goes on; every other one is cancelled
            return None if order.filled > 0 else OcaEffect(order, None)
        allowed = group.allowed(order)
        if allowed <= _SHARE_SLACK:
            return OcaEffect(order, None)
        if allowed < order.remaining - _SHARE_SLACK:
            return OcaEffect(order, order.filled + allowed)
        return None
