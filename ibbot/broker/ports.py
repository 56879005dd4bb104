"""What the broker needs from the rest of ibbot: somewhere to publish events, somewhere to keep data.

Structural protocols: :class:`ibbot.bus.EventBus` and :class:`ibbot.store.AsyncStore` satisfy them
as they are, and nothing in the broker imports those packages, so each side can change its insides
without the other noticing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping, Sequence
    from datetime import datetime

    from ibbot.models import (
        BarSize,
        ContractInfo,
        Event,
        FundamentalData,
        Order,
        OrderResult,
        PriceBar,
    )

__all__ = ["AuditRecord", "BrokerStore", "EventPublisher", "TickPublisher"]


class EventPublisher(Protocol):
    """Where events go (the bus). ``publish`` may wait for a full subscriber (backpressure)."""

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to its subscribers."""
        ...


class TickPublisher(EventPublisher, Protocol):
    """A publisher a synchronous callback can hand an event to directly when it has room."""

    def try_publish(self, event: Event) -> bool:
        """Deliver ``event`` now if that needs no waiting; else deliver nothing, return False."""
        ...


class AuditRecord(Protocol):
    """One audit line as read back."""

    @property
    def record(self) -> Mapping[str, Any]:
        """The logged record."""
        ...


class BrokerStore(Protocol):
    """The store operations the broker uses (awaitable, run off the loop by the store, except the
    write half of :meth:`log_order_ahead`)."""

    async def write_bars(
        self,
        symbol: str,
        bars: Sequence[PriceBar],
        *,
        covering: tuple[datetime, datetime] | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """Write bars; ``covering`` records the window they completely describe."""
        ...

    async def bar_gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The parts of ``[start, end)`` not yet covered for ``symbol`` and ``bar_size``."""
        ...

    async def write_contract(self, info: ContractInfo) -> None:
        """Keep what IB says a symbol is."""
        ...

    async def read_contract(self, symbol: str) -> ContractInfo | None:
        """The stored description of ``symbol``, if any."""
        ...

    async def write_fundamental(self, symbol: str, data: FundamentalData) -> None:
        """Keep one point-in-time fundamentals record."""
        ...

    async def read_fundamental(
        self,
        symbol: str,
        as_of: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> FundamentalData | None:
        """The latest fundamentals record known at ``as_of``."""
        ...

    async def log_order(self, strategy_name: str, order: Order, result: OrderResult) -> None:
        """Audit an order and its (latest) result."""
        ...

    def log_order_ahead(
        self, strategy_name: str, order: Order, result: OrderResult
    ) -> Coroutine[Any, Any, None]:
        """Write an order's audit line now (no disk wait); awaiting the result makes it durable."""
        ...

    async def log_audit(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        """Append a free-form audit record of ``kind``."""
        ...

    async def read_audit(
        self,
        kind: str,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
        *,
        until: datetime | None = None,
    ) -> Sequence[AuditRecord]:
        """Audit records of ``kind`` logged since ``since``."""
        ...


if TYPE_CHECKING:
    # The real bus and store satisfy these ports; mypy checks it here.
    from ibbot.bus import EventBus
    from ibbot.store import AsyncStore

    def _satisfied(bus: EventBus, store: AsyncStore) -> tuple[TickPublisher, BrokerStore]:
        return bus, store
