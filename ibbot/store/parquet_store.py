"""ParquetStore: the embedded DataStore, a directory of Parquet, JSON and JSONL files.

Layout (all months and days UTC)::

    <root>/
      prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet
                                                 one bar size per file; the span (month, year,
                                                 decade, all) suits the size: see store.spans
      fundamentals/<SYMBOL>/<YYYY-MM-DD>.json    point-in-time records, raw document and source kept
      events/<YYYY-MM-DD>.parquet                one day's events (plus -part-NNNNNN files until compacted)
      contracts/<SYMBOL>.json                    latest ContractInfo
      state/<strategy>.json                      saved strategy state
      audit/<kind>/<YYYY-MM-DD>.jsonl            decisions, orders, risk, reconciliation, lifecycle...

Every whole-file write is atomic (temporary file, fsync, rename, fsync of the directory); audit
lines are appended and fsynced one by one. Writers of the same files are serialised by per-symbol /
per-strategy / per-kind locks, so the store is safe to share between threads (``AsyncStore`` does).

A store written in the legacy price layout (``prices/<SYMBOL>/<YYYY-MM>.parquet``) is migrated on
the first bar operation (see :mod:`ibbot.store.migrate`; ``ibbot store migrate`` does it ahead).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import structlog

from ibbot.accounts import AccountPseudonyms
from ibbot.clock import Clock, WallClock
from ibbot.errors import StoreError
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
    from_dict,
    to_dict,
)
from ibbot.store.audit import AuditEntry, AuditKind, AuditLog, PendingAppend
from ibbot.store.bars import BarFiles
from ibbot.store.events import EventLog
from ibbot.store.fundamentals import FundamentalFiles
from ibbot.store.jsondoc import read_json, write_json
from ibbot.store.layout import StoreLayout
from ibbot.store.locks import KeyedLocks
from ibbot.store.migrate import Migration, migrate_prices

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime
    from types import TracebackType

    import pyarrow as pa

__all__ = ["ParquetStore"]

log = structlog.get_logger(__name__)


class ParquetStore:
    """The file-based :class:`~ibbot.store.DataStore` rooted at ``path`` (created on first write).

    ``clock`` stamps audit lines and saved state: the market's clock (a simulator's, or a
    SimulatedClock in backtests and tests; the wall clock by default); ``run_id`` is written into
    every audit line, batch of events and saved state (see :mod:`ibbot.runs`; None outside a run);
    ``event_batch_size`` is how many events are buffered before they are written (see
    :mod:`ibbot.store.events`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        event_batch_size: int = 10_000,
    ) -> None:
        self.root = Path(path)
        self.run_id = run_id
        self._clock: Clock = clock if clock is not None else WallClock()
        self._layout = StoreLayout(self.root)
        self._locks = KeyedLocks()
        self._bars = BarFiles(self._layout, self._locks, before_use=self._migrate_on_first_use)
        self._fundamentals = FundamentalFiles(self._layout, self._locks)
        self._accounts = AccountPseudonyms(self._layout.account_key_file)
        self._events = EventLog(
            self._layout, batch_size=event_batch_size, at_rest=self._accounts.scrub, run_id=run_id
        )
        self._audit = AuditLog(self._layout, self._locks)
        self._closed = False

    def __repr__(self) -> str:
        return f"ParquetStore({os.fspath(self.root)!r})"

    def _writable(self) -> None:
        if self._closed:
            raise StoreError(f"store at {self.root} is closed")

    # -- price bars ---------------------------------------------------------------------------

    def migrate_prices(self) -> Migration:
        """Move bars of the legacy layout into the current one now (idempotent; logged when done).

        Every bar operation does this first anyway; ``ibbot store migrate`` calls it explicitly.
        """
        migration = migrate_prices(self._layout, self._bars, self._locks)
        if migration.done_anything:
            log.info(
                "store.prices_migrated",
                store=str(self.root),
                symbols=migration.symbols,
                legacy_files=migration.legacy_files,
                files=migration.files_written,
                seconds=round(migration.seconds, 3),
                detail="bars moved from prices/<SYMBOL>/<YYYY-MM>.parquet to one bar size per "
                "file, prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet",
            )
        for directory in migration.kept:
            log.warning(
                "store.legacy_directory_kept",
                directory=directory,
                detail="its bars were migrated; it still holds files ibbot did not write",
            )
        return migration

    def _migrate_on_first_use(self) -> None:
        self.migrate_prices()

    def write_bars(
        self,
        symbol: str,
        bars: Sequence[PriceBar],
        *,
        covering: tuple[datetime, datetime] | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """See :meth:`ibbot.store.DataStore.write_bars` and :mod:`ibbot.store.bars`."""
        self._writable()
        self._bars.write(symbol, bars, covering=covering, bar_size=bar_size)

    def read_bars(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> list[PriceBar]:
        """Bars with ``start <= timestamp < end``, sorted by time; all bar sizes when None."""
        return self._bars.read(symbol, start, end, bar_size)

    def read_bars_table(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> pa.Table:
        """:meth:`read_bars` as one Arrow table in ``arrow_schema(PriceBar)``, no objects built."""
        return self._bars.read_table(symbol, start, end, bar_size)

    def bar_coverage(self, symbol: str, bar_size: BarSize | str) -> list[tuple[datetime, datetime]]:
        """Sorted, disjoint ranges for which every ``bar_size`` bar of ``symbol`` is stored."""
        return self._bars.coverage(symbol, bar_size)

    def bar_gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The parts of ``[start, end)`` not covered yet: what a backfill still has to fetch."""
        return self._bars.gaps(symbol, bar_size, start, end)

    def symbols(self) -> list[str]:
        """Symbols with stored bars, sorted."""
        return self._bars.symbols()

    # -- contracts ----------------------------------------------------------------------------

    def write_contract(self, info: ContractInfo) -> None:
        """Store ``info`` as the symbol's current contract description (atomic JSON)."""
        self._writable()
        path = self._layout.contract_file(info.symbol)
        with self._locks("contracts", info.symbol):
            write_json(path, to_dict(info), what=f"contract of {info.symbol}")

    def read_contract(self, symbol: str) -> ContractInfo | None:
        """The stored contract description of ``symbol``, or None."""
        path = self._layout.contract_file(symbol)
        raw = read_json(path)
        if raw is None:
            return None
        try:
            if not isinstance(raw, dict):
                raise TypeError("expected a JSON object")  # noqa: TRY301 - one translation below
            info = from_dict(ContractInfo, raw)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"corrupt contract file {path}: {exc}") from exc
        if info.symbol != symbol:
            raise StoreError(f"foreign contract file {path}: describes {info.symbol!r}")
        return info

    # -- fundamentals -------------------------------------------------------------------------

    def write_fundamental(self, symbol: str, data: FundamentalData) -> None:
        """Store one point-in-time record; see :mod:`ibbot.store.fundamentals`."""
        self._writable()
        self._fundamentals.write(symbol, data)

    def read_fundamental(
        self,
        symbol: str,
        as_of: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> FundamentalData | None:
        """The latest record with ``timestamp <= as_of`` (latest of all when None), or None."""
        return self._fundamentals.as_of(symbol, as_of, source=source, report_type=report_type)

    def read_fundamentals(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> list[FundamentalData]:
        """Every record with ``start <= timestamp < end`` in time order."""
        return self._fundamentals.history(
            symbol, start, end, source=source, report_type=report_type
        )

    # -- events -------------------------------------------------------------------------------

    def write_event(self, event: Event) -> None:
        """Buffer ``event``; writes the buffer out when it is full (see :mod:`ibbot.store.events`)."""
        if self.enqueue_event(event):
            self._events.flush()

    def enqueue_event(self, event: Event) -> bool:
        """Buffer ``event`` without I/O; True when the buffer is full and :meth:`flush` is due."""
        self._writable()
        return self._events.append(event)

    def flush(self) -> None:
        """Write every buffered event (and compact the days that are over)."""
        self._events.flush()

    def compact_events(self) -> None:
        """Fold every day's part files into its day file now, today's included."""
        self._events.compact()

    def read_events(
        self,
        start: datetime,
        end: datetime,
        types: Iterable[EventType | str] | None = None,
    ) -> list[Event]:
        """Events with ``start <= timestamp < end`` (of ``types`` when given), in time order."""
        return self._events.read(start, end, types)

    # -- strategy state -----------------------------------------------------------------------

    def save_strategy_state(self, strategy_name: str, state: Mapping[str, Any]) -> None:
        """Replace ``state/<strategy>.json`` atomically; values must be JSON-compatible."""
        self._writable()
        path = self._layout.state_file(strategy_name)
        document = {
            "strategy": strategy_name,
            "saved_at": self._clock.now().isoformat(),
            "run_id": self.run_id,
            "state": self._accounts.scrub(dict(state)),
        }
        with self._locks("state", strategy_name):
            write_json(path, document, what=f"state of strategy {strategy_name!r}")

    def load_strategy_state(self, strategy_name: str) -> dict[str, Any] | None:
        """The last saved state of ``strategy_name``, or None when none was saved."""
        path = self._layout.state_file(strategy_name)
        document = read_json(path)
        if document is None:
            return None
        state = document.get("state") if isinstance(document, dict) else None
        if not isinstance(state, dict):
            raise StoreError(f"foreign state file {path}: expected an object with a 'state' object")
        return state

    # -- account ids --------------------------------------------------------------------------

    def account_pseudonym(self, account: str) -> str:
        """``account`` as the store writes it (see :mod:`ibbot.accounts`); creates the key once."""
        return self._accounts.pseudonym(account)

    # -- audit --------------------------------------------------------------------------------

    def log_decision(self, strategy_name: str, decision: Decision) -> None:
        """Append ``decision`` with its reasoning to ``audit/decisions/<day>.jsonl``, durably."""
        self.log_audit(
            AuditKind.DECISIONS, to_dict(decision), strategy=strategy_name, symbol=decision.symbol
        )

    def log_order(self, strategy_name: str, order: Order, result: OrderResult) -> None:
        """Append ``order`` and ``result`` to ``audit/orders/<day>.jsonl``, durably."""
        self.log_order_ahead(strategy_name, order, result).sync()

    def log_order_ahead(
        self, strategy_name: str, order: Order, result: OrderResult
    ) -> PendingAppend:
        """:meth:`log_order` without the disk wait: the line is written, ``sync()`` makes it durable."""
        self._writable()
        record = {"order_ref": order.order_ref, "order": to_dict(order), "result": to_dict(result)}
        return self._audit.write(
            AuditKind.ORDERS,
            record,
            logged_at=self._clock.now(),
            strategy=strategy_name,
            symbol=order.symbol,
            run_id=self.run_id,
        )

    def log_audit(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        """Append ``record`` to ``audit/<kind>/<day>.jsonl`` (written and fsynced on return)."""
        self._writable()
        self._audit.append(
            kind,
            self._accounts.scrub(record),
            logged_at=self._clock.now(),
            strategy=strategy,
            symbol=symbol,
            run_id=self.run_id,
        )

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
        return self._audit.read(kind, since=since, until=until, symbol=symbol, strategy=strategy)

    def read_decisions(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[Decision]:
        """The decisions audit log as Decisions (undecodable records skipped with a warning)."""
        decisions = []
        for entry in self.read_audit(AuditKind.DECISIONS, since, symbol, strategy):
            try:
                decisions.append(from_dict(Decision, entry.record))
            except (TypeError, ValueError, KeyError) as exc:
                log.warning(
                    "store.audit_record_skipped",
                    kind=entry.kind,
                    logged_at=entry.logged_at.isoformat(),
                    reason=str(exc),
                )
        return decisions

    def read_orders(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[tuple[Order, OrderResult]]:
        """The orders audit log as ``(Order, OrderResult)`` pairs (bad records skipped, warned)."""
        orders = []
        for entry in self.read_audit(AuditKind.ORDERS, since, symbol, strategy):
            try:
                orders.append(
                    (
                        from_dict(Order, entry.record["order"]),
                        from_dict(OrderResult, entry.record["result"]),
                    )
                )
            except (TypeError, ValueError, KeyError) as exc:
                log.warning(
                    "store.audit_record_skipped",
                    kind=entry.kind,
                    logged_at=entry.logged_at.isoformat(),
                    reason=str(exc),
                )
        return orders

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Write buffered events, compact event parts; idempotent. Later writes are refused."""
        if self._closed:
            return
        self._closed = True
        try:
            self._events.close()
        except BaseException:
            self._closed = False  # nothing was lost: a retried close() writes the events again
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
