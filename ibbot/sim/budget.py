"""One memory budget for request bytes buffered by every connection of the gateway.

Each connection may hold one incomplete frame of up to :data:`~ibbot.sim.wire.MAX_FRAME_LENGTH`
bytes while the rest arrives; many connections doing so at once would add up to hundreds of
megabytes. The budget caps the sum: when a connection's buffer would take it over the limit, the
connections holding the most are dropped (largest first) until the rest fits, so one greedy peer
goes, not the well-behaved clients whose requests are a few hundred bytes.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["InboundBudget"]

Owner = TypeVar("Owner")


class InboundBudget(Generic[Owner]):
    """Bytes buffered per owner (a connection), against one limit for all of them."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the budget must be positive, got {limit}")
        self._limit = limit
        self._held: dict[Owner, int] = {}
        self._total = 0

    @property
    def limit(self) -> int:
        """The most bytes all owners may hold together."""
        return self._limit

    @property
    def total(self) -> int:
        """The bytes held now."""
        return self._total

    def held(self, owner: Owner) -> int:
        """The bytes ``owner`` holds now."""
        return self._held.get(owner, 0)

    def hold(self, owner: Owner, size: int) -> list[Owner]:
        """Record that ``owner`` now buffers ``size`` bytes; return the owners to drop.

        Nothing is returned while the total fits. Past the limit, the largest holders (``owner``
        itself included) are released and returned, largest first, until the total fits again.
        """
        self.release(owner)
        if size > 0:
            self._held[owner] = size
            self._total += size
        victims: list[Owner] = []
        if self._total > self._limit:
            for victim, _ in sorted(self._held.items(), key=lambda item: item[1], reverse=True):
                victims.append(victim)
                self.release(victim)
                if self._total <= self._limit:
                    break
        return victims

    def release(self, owner: Owner) -> None:
        """Forget ``owner``'s bytes (its buffer emptied or its connection closed)."""
        self._total -= self._held.pop(owner, 0)
