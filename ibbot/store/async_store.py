"""AsyncStore: the store for code on the event loop, which must never wait on a disk.

Every call that may touch a file runs in a worker thread (``asyncio.to_thread``); the wrapped store
serialises writers of the same files with its own locks, so concurrent coroutines writing the same
symbol, strategy or audit kind take turns instead of interleaving. Two exceptions. Buffering an
event is a list append, done on the loop; only the flush it may trigger goes to a thread, and the
coroutine that filled the buffer awaits that flush (back-pressure). And an order's write-ahead line
(:meth:`AsyncStore.log_order_ahead`) is written on the loop, a few microseconds of encoding and one
small append, so that it is in the operating system's hands before the order leaves, with no
thread switch on the way; its fsync, the part that waits for the disk, runs in a worker thread.

Cancelling a coroutine that awaits a write does not stop the thread: the write still completes,
atomically, or fails as a whole.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable, Mapping, Sequence
    from datetime import datetime
    from types import TracebackType

    import pyarrow as pa

    from ibbot.clock import Clock
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
    from ibbot.store.audit import AuditEntry
    from ibbot.store.protocol import DataStore

__all__ = ["AsyncStore"]


class AsyncStore:
    """Awaitable twins of every :class:`~ibbot.store.DataStore` method, run off the loop.

    An async context manager: leaving it (or :meth:`close`) flushes and closes the wrapped store
    once; later calls of :meth:`close` do nothing.
    """

    __slots__ = ("_close_lock", "_closed", "_store")

    def __init__(self, store: DataStore) -> None:
        self._store = store
        self._closed = False
        self._close_lock = asyncio.Lock()

    @property
    def store(self) -> DataStore:
        """The wrapped synchronous store (for code already running in a worker thread)."""
        return self._store

    # -- price bars ---------------------------------------------------------------------------

    async def write_bars(
        self,
        symbol: str,
        bars: Sequence[PriceBar],
        *,
        covering: tuple[datetime, datetime] | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """:meth:`DataStore.write_bars` in a worker thread."""
        await asyncio.to_thread(
            self._store.write_bars, symbol, bars, covering=covering, bar_size=bar_size
        )

    async def read_bars(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> list[PriceBar]:
        """:meth:`DataStore.read_bars` in a worker thread."""
        return await asyncio.to_thread(self._store.read_bars, symbol, start, end, bar_size)

    async def read_bars_table(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> pa.Table:
        """:meth:`DataStore.read_bars_table` in a worker thread."""
        return await asyncio.to_thread(self._store.read_bars_table, symbol, start, end, bar_size)

    async def bar_coverage(
        self, symbol: str, bar_size: BarSize | str
    ) -> list[tuple[datetime, datetime]]:
        """:meth:`DataStore.bar_coverage` in a worker thread."""
        return await asyncio.to_thread(self._store.bar_coverage, symbol, bar_size)

    async def bar_gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """:meth:`DataStore.bar_gaps` in a worker thread."""
        return await asyncio.to_thread(self._store.bar_gaps, symbol, bar_size, start, end)

    async def symbols(self) -> list[str]:
        """:meth:`DataStore.symbols` in a worker thread."""
        return await asyncio.to_thread(self._store.symbols)

    # -- contracts ----------------------------------------------------------------------------

    async def write_contract(self, info: ContractInfo) -> None:
        """:meth:`DataStore.write_contract` in a worker thread."""
        await asyncio.to_thread(self._store.write_contract, info)

    async def read_contract(self, symbol: str) -> ContractInfo | None:
        """:meth:`DataStore.read_contract` in a worker thread."""
        return await asyncio.to_thread(self._store.read_contract, symbol)

    # -- fundamentals -------------------------------------------------------------------------

    async def write_fundamental(self, symbol: str, data: FundamentalData) -> None:
        """:meth:`DataStore.write_fundamental` in a worker thread."""
        await asyncio.to_thread(self._store.write_fundamental, symbol, data)

    async def read_fundamental(
        self,
        symbol: str,
        as_of: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> FundamentalData | None:
        """:meth:`DataStore.read_fundamental` in a worker thread."""
        return await asyncio.to_thread(
            self._store.read_fundamental, symbol, as_of, source, report_type=report_type
        )

    async def read_fundamentals(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> list[FundamentalData]:
        """:meth:`DataStore.read_fundamentals` in a worker thread."""
        return await asyncio.to_thread(
            self._store.read_fundamentals, symbol, start, end, source, report_type=report_type
        )

    # -- events -------------------------------------------------------------------------------

    async def write_event(self, event: Event) -> None:
        """Buffer ``event`` on the loop; when that fills the buffer, await its flush in a thread."""
        if self._store.enqueue_event(event):
            await self.flush()

    async def flush(self) -> None:
        """:meth:`DataStore.flush` in a worker thread."""
        await asyncio.to_thread(self._store.flush)

    async def flush_periodically(self, clock: Clock, interval: float) -> None:
        """Flush buffered events every ``interval`` seconds of ``clock``, until cancelled.

        Meant to be a task of the application's TaskGroup, so events reach the disk within
        ``interval`` even when they trickle in too slowly to fill a batch.
        """
        if interval <= 0:
            raise ValueError(f"flush interval must be positive, got {interval}")
        while True:
            await clock.sleep(interval)
            await self.flush()

    async def read_events(
        self,
        start: datetime,
        end: datetime,
        types: Iterable[EventType | str] | None = None,
    ) -> list[Event]:
        """:meth:`DataStore.read_events` in a worker thread."""
        return await asyncio.to_thread(self._store.read_events, start, end, types)

    # -- strategy state -----------------------------------------------------------------------

    async def save_strategy_state(self, strategy_name: str, state: Mapping[str, Any]) -> None:
        """:meth:`DataStore.save_strategy_state` in a worker thread."""
        await asyncio.to_thread(self._store.save_strategy_state, strategy_name, state)

    async def load_strategy_state(self, strategy_name: str) -> dict[str, Any] | None:
        """:meth:`DataStore.load_strategy_state` in a worker thread."""
        return await asyncio.to_thread(self._store.load_strategy_state, strategy_name)

    # -- account ids --------------------------------------------------------------------------

    async def account_pseudonym(self, account: str) -> str:
        """:meth:`DataStore.account_pseudonym` in a worker thread (the first call reads the key)."""
        return await asyncio.to_thread(self._store.account_pseudonym, account)

    # -- audit --------------------------------------------------------------------------------

    async def log_decision(self, strategy_name: str, decision: Decision) -> None:
        """:meth:`DataStore.log_decision` in a worker thread."""
        await asyncio.to_thread(self._store.log_decision, strategy_name, decision)

    async def log_order(self, strategy_name: str, order: Order, result: OrderResult) -> None:
        """:meth:`DataStore.log_order` in a worker thread."""
        await asyncio.to_thread(self._store.log_order, strategy_name, order, result)

    def log_order_ahead(
        self, strategy_name: str, order: Order, result: OrderResult
    ) -> Coroutine[Any, Any, None]:
        """Write the order's audit line now, on the loop; await the result to make it durable.

        The write (no disk wait) happens before this returns and raises
        :class:`~ibbot.errors.StoreError` if it fails; the returned coroutine runs the fsync in a
        worker thread and must be awaited (it also releases the file).
        """
        pending = self._store.log_order_ahead(strategy_name, order, result)
        return asyncio.to_thread(pending.sync)

    async def log_audit(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        """:meth:`DataStore.log_audit` in a worker thread."""
        await asyncio.to_thread(
            self._store.log_audit, kind, record, strategy=strategy, symbol=symbol
        )

    async def read_audit(
        self,
        kind: str,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
        *,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """:meth:`DataStore.read_audit` in a worker thread."""
        return await asyncio.to_thread(
            self._store.read_audit, kind, since, symbol, strategy, until=until
        )

    async def read_decisions(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[Decision]:
        """:meth:`DataStore.read_decisions` in a worker thread."""
        return await asyncio.to_thread(self._store.read_decisions, since, symbol, strategy)

    async def read_orders(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[tuple[Order, OrderResult]]:
        """:meth:`DataStore.read_orders` in a worker thread."""
        return await asyncio.to_thread(self._store.read_orders, since, symbol, strategy)

    # -- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the wrapped store in a worker thread, once."""
        async with self._close_lock:
            if self._closed:
                return
            await asyncio.to_thread(self._store.close)
            self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
