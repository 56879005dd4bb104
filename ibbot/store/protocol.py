"""The DataStore protocol: what every part may ask of the store.

It is the user's plan's interface (section 1.4) plus what the later parts need: bars by bar size and
their coverage (resumable backfills), a columnar fast path (backtests), contract descriptions,
point-in-time fundamentals history with a source filter, a generic audit log with readers (the
``ibbot audit`` command), and explicit flush/close. Methods are synchronous and may do file I/O:
code on the event loop goes through :class:`~ibbot.store.AsyncStore`, which runs them in worker
threads, so implementations must be safe to call from several threads at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    import pyarrow as pa

    from ibbot.models import (
        BarSize,
        ContractInfo,
        Decision,
        Event,
        EventType,
        FundamentalData,
        Order,
        OrderResult,
        PriceBar,
    )
    from ibbot.store.audit import AuditEntry, PendingAppend

__all__ = ["DataStore"]


@runtime_checkable
class DataStore(Protocol):
    """Persistence for bars, contracts, fundamentals, events, strategy state and audit trails.

    Times are timezone-aware UTC (naive ones are refused); ranges are ``[start, end)``.
    """

    # -- price bars ---------------------------------------------------------------------------

    def write_bars(
        self,
        symbol: str,
        bars: Sequence[PriceBar],
        *,
        covering: tuple[datetime, datetime] | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """Store ``bars``; an existing bar with the same ``(symbol, timestamp, bar_size)`` is replaced.

        ``covering`` declares the batch complete for that range (a backfill window); without it
        the batch covers its own span. ``bar_size`` names the size ``covering`` is about when
        ``bars`` is empty.
        """
        ...

    def read_bars(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> list[PriceBar]:
        """Bars with ``start <= timestamp < end``, sorted by time; all bar sizes when None."""
        ...

    def read_bars_table(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> pa.Table:
        """:meth:`read_bars` as one Arrow table in ``arrow_schema(PriceBar)``, no objects built."""
        ...

    def bar_coverage(self, symbol: str, bar_size: BarSize | str) -> list[tuple[datetime, datetime]]:
        """Sorted, disjoint ranges for which every ``bar_size`` bar of ``symbol`` is stored."""
        ...

    def bar_gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The parts of ``[start, end)`` not covered yet: what a backfill still has to fetch."""
        ...

    def symbols(self) -> list[str]:
        """Symbols with stored bars, sorted."""
        ...

    # -- contracts ----------------------------------------------------------------------------

    def write_contract(self, info: ContractInfo) -> None:
        """Store ``info`` as the symbol's current contract description (replacing the previous)."""
        ...

    def read_contract(self, symbol: str) -> ContractInfo | None:
        """The stored contract description of ``symbol``, or None."""
        ...

    # -- fundamentals -------------------------------------------------------------------------

    def write_fundamental(self, symbol: str, data: FundamentalData) -> None:
        """Store one point-in-time record (same timestamp, source and report type: replaced)."""
        ...

    def read_fundamental(
        self,
        symbol: str,
        as_of: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> FundamentalData | None:
        """The latest record with ``timestamp <= as_of`` (latest of all when None), or None."""
        ...

    def read_fundamentals(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> list[FundamentalData]:
        """Every record with ``start <= timestamp < end`` in time order (for point-in-time replay)."""
        ...

    # -- events -------------------------------------------------------------------------------

    def write_event(self, event: Event) -> None:
        """Record ``event`` (buffered; may flush the buffer to disk before returning)."""
        ...

    def enqueue_event(self, event: Event) -> bool:
        """Buffer ``event`` without I/O; True when the buffer is full and :meth:`flush` is due."""
        ...

    def flush(self) -> None:
        """Write every buffered event to disk."""
        ...

    def read_events(
        self,
        start: datetime,
        end: datetime,
        types: Iterable[EventType | str] | None = None,
    ) -> list[Event]:
        """Events with ``start <= timestamp < end`` (of ``types`` when given), in time order."""
        ...

    # -- strategy state -----------------------------------------------------------------------

    def save_strategy_state(self, strategy_name: str, state: Mapping[str, Any]) -> None:
        """Replace the saved state of ``strategy_name`` (JSON-compatible values) atomically."""
        ...

    def load_strategy_state(self, strategy_name: str) -> dict[str, Any] | None:
        """The last saved state of ``strategy_name``, or None when it never saved one."""
        ...

    # -- account ids --------------------------------------------------------------------------

    def account_pseudonym(self, account: str) -> str:
        """What the store writes in place of ``account`` (every ``account`` field it stores)."""
        ...

    # -- audit --------------------------------------------------------------------------------

    def log_decision(self, strategy_name: str, decision: Decision) -> None:
        """Append ``decision`` (with its reasoning) to the decisions audit log, durably."""
        ...

    def log_order(self, strategy_name: str, order: Order, result: OrderResult) -> None:
        """Append ``order`` and its latest ``result`` to the orders audit log, durably."""
        ...

    def log_order_ahead(
        self, strategy_name: str, order: Order, result: OrderResult
    ) -> PendingAppend:
        """:meth:`log_order` up to the disk wait: written now (cheap), durable once ``sync()``-ed."""
        ...

    def log_audit(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        """Append ``record`` to the ``kind`` audit log (risk blocks, reconciliation, lifecycle...)."""
        ...

    def read_audit(
        self,
        kind: str,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
        *,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """Entries of ``kind`` logged in ``[since, until)`` matching the filters, oldest first."""
        ...

    def read_decisions(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[Decision]:
        """The decisions audit log decoded back into Decisions, oldest first."""
        ...

    def read_orders(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[tuple[Order, OrderResult]]:
        """The orders audit log decoded back into ``(Order, OrderResult)`` pairs, oldest first."""
        ...

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Flush and finish pending work; idempotent. Writes afterwards are refused."""
        ...
