"""PostgresStore: the DataStore in a PostgreSQL database, for many readers beside one writer.

The same protocol and behaviour as :class:`~ibbot.store.ParquetStore` (a conformance suite runs
against both): every write is one transaction (a killed writer leaves no partial record), bars are
de-duplicated on ``(symbol, bar_size, ts)``, fundamentals are read point in time, audit lines are
committed before the call returns. Methods are synchronous and thread-safe (a connection pool),
so :class:`~ibbot.store.AsyncStore` runs them in worker threads as it does the file store's.

Opening a store migrates the database (:mod:`.schema`); the first write takes the writer lock
(:mod:`.writer`), so any number of readers (``ibbot audit``, a dashboard, notebooks) may use the
database while one service writes.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC
from typing import TYPE_CHECKING, Any, Self

import psycopg
import structlog
from psycopg.types.json import Jsonb

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
from ibbot.store.audit import AuditEntry, AuditKind, PendingAppend
from ibbot.store.errors import InvalidStoreInput, utc_input
from ibbot.store.jsondoc import dumps, loads
from ibbot.store.layout import StoreLayout
from ibbot.store.locks import KeyedLocks
from ibbot.store.postgres.audit import AuditRows, CommittedAppend
from ibbot.store.postgres.bars import BarRows
from ibbot.store.postgres.connection import connect, describe_dsn, open_pool
from ibbot.store.postgres.events import EventBuffer, read_events
from ibbot.store.postgres.schema import migrate
from ibbot.store.postgres.writer import WriterLock

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from datetime import datetime
    from types import TracebackType

    import pyarrow as pa

__all__ = ["PostgresStore"]

log = structlog.get_logger(__name__)

_ACCOUNT_KEY = "account"


def _jsonb(value: Any, what: str) -> Jsonb:
    """``value`` as the files would encode it (same refusals), ready for a jsonb column."""
    return Jsonb(loads(dumps(value, what=what)))


class PostgresStore:
    """The :class:`~ibbot.store.DataStore` in the PostgreSQL database at ``dsn``.

    ``clock``, ``run_id`` and ``event_batch_size`` mean what they mean for ParquetStore.
    ``pool_size`` bounds the connections this store opens (plus one for the writer lock).
    """

    def __init__(
        self,
        dsn: str,
        *,
        clock: Clock | None = None,
        run_id: str | None = None,
        event_batch_size: int = 10_000,
        pool_size: int = 8,
    ) -> None:
        self.description = describe_dsn(dsn)
        self.run_id = run_id
        self._dsn = dsn
        self._clock: Clock = clock if clock is not None else WallClock()
        self._locks = KeyedLocks()
        with contextlib.closing(connect(dsn)) as conn:
            try:
                migrate(conn)
            except psycopg.Error as exc:
                raise StoreError(f"cannot migrate {self.description}: {exc}") from exc
        self._pool = open_pool(dsn, max_size=pool_size)
        self._writer = WriterLock(lambda: connect(dsn, hot_path=True), self.description)
        self._accounts = AccountPseudonyms(self._account_key)
        self._events = EventBuffer(
            batch_size=event_batch_size, at_rest=self._accounts.scrub, run_id=run_id
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self.description!r})"

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self, what: str) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction (committed on success); errors as StoreError."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StoreError(f"cannot {what} in {self.description}: {exc}") from exc

    def _write(self, what: str) -> contextlib.AbstractContextManager[psycopg.Connection]:
        """:meth:`_db` for a write: refused once closed, and only with the writer lock held."""
        if self._closed:
            raise StoreError(f"store {self.description} is closed")
        self._writer.ensure()
        return self._db(what)

    @property
    def writing(self) -> bool:
        """True once this store holds the database's writer lock."""
        return self._writer.held

    # -- price bars ---------------------------------------------------------------------------

    def write_bars(
        self,
        symbol: str,
        bars: Sequence[PriceBar] | pa.Table,
        *,
        covering: tuple[datetime, datetime] | None = None,
        bar_size: BarSize | str | None = None,
    ) -> None:
        """See :meth:`ibbot.store.DataStore.write_bars` (also takes a table in the bar schema)."""
        symbol = StoreLayout.symbol(symbol)
        with self._locks("prices", symbol), self._write(f"write bars of {symbol}") as conn:
            BarRows.write(conn, symbol, bars, covering=covering, bar_size=bar_size)

    def read_bars(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> list[PriceBar]:
        """Bars with ``start <= timestamp < end``, sorted by time; all bar sizes when None."""
        from ibbot.store.bars import bars_from_table  # noqa: PLC0415 - one decoder for both

        return bars_from_table(self.read_bars_table(symbol, start, end, bar_size))

    def read_bars_table(
        self,
        symbol: str,
        start: datetime,
        end: datetime,
        bar_size: BarSize | str | None = None,
    ) -> pa.Table:
        """:meth:`read_bars` as one Arrow table in ``arrow_schema(PriceBar)``, no objects built."""
        with self._db(f"read bars of {symbol}") as conn:
            return BarRows.read_table(conn, symbol, start, end, bar_size)

    def bar_coverage(self, symbol: str, bar_size: BarSize | str) -> list[tuple[datetime, datetime]]:
        """Sorted, disjoint ranges for which every ``bar_size`` bar of ``symbol`` is stored."""
        with self._db(f"read the coverage of {symbol}") as conn:
            return BarRows.coverage(conn, symbol, bar_size)

    def bar_gaps(
        self, symbol: str, bar_size: BarSize | str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The parts of ``[start, end)`` not covered yet: what a backfill still has to fetch."""
        with self._db(f"read the coverage of {symbol}") as conn:
            return BarRows.gaps(conn, symbol, bar_size, start, end)

    def symbols(self) -> list[str]:
        """Symbols with stored bars, sorted."""
        with self._db("list symbols") as conn:
            return BarRows.symbols(conn)

    # -- contracts ----------------------------------------------------------------------------

    def write_contract(self, info: ContractInfo) -> None:
        """Store ``info`` as the symbol's current contract description."""
        symbol = StoreLayout.symbol(info.symbol)
        record = _jsonb(to_dict(info), f"contract of {symbol}")
        with self._write(f"write the contract of {symbol}") as conn:
            conn.execute(
                "INSERT INTO contracts (symbol, record) VALUES (%s, %s)"
                " ON CONFLICT (symbol) DO UPDATE SET record = EXCLUDED.record",
                (symbol, record),
            )

    def read_contract(self, symbol: str) -> ContractInfo | None:
        """The stored contract description of ``symbol``, or None."""
        symbol = StoreLayout.symbol(symbol)
        with self._db(f"read the contract of {symbol}") as conn:
            row = conn.execute(
                "SELECT record FROM contracts WHERE symbol = %s", (symbol,)
            ).fetchone()
        if row is None:
            return None
        try:
            return from_dict(ContractInfo, row[0])
        except (TypeError, ValueError, KeyError) as exc:
            raise StoreError(f"corrupt contract of {symbol} in {self.description}: {exc}") from exc

    # -- fundamentals -------------------------------------------------------------------------

    def write_fundamental(self, symbol: str, data: FundamentalData) -> None:
        """Store one point-in-time record (same timestamp, source and report type: replaced)."""
        symbol = StoreLayout.symbol(symbol)
        if data.symbol != symbol:
            raise InvalidStoreInput(
                f"fundamentals of {data.symbol!r} given to write_fundamental({symbol!r})"
            )
        known_at = utc_input(data.timestamp, "timestamp")
        record = _jsonb(to_dict(data), f"fundamentals of {symbol}")
        with self._write(f"write fundamentals of {symbol}") as conn:
            conn.execute(
                "INSERT INTO fundamentals (symbol, known_at, source, report_type, record)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (symbol, known_at, source, report_type) DO UPDATE"
                " SET record = EXCLUDED.record, written = nextval('fundamentals_written')",
                (symbol, known_at, data.source, data.report_type, record),
            )

    def _fundamentals(
        self,
        symbol: str,
        where: str,
        params: list[object],
        *,
        source: str | None,
        report_type: str | None,
        order: str,
    ) -> list[FundamentalData]:
        symbol = StoreLayout.symbol(symbol)
        # Only constant SQL fragments are composed; every value is a parameter.
        query = "SELECT record FROM fundamentals WHERE symbol = %s" + where  # noqa: S608
        params = [symbol, *params]
        if source is not None:
            query += " AND source = %s"
            params.append(source)
        if report_type is not None:
            query += " AND report_type = %s"
            params.append(report_type)
        query += order
        with self._db(f"read fundamentals of {symbol}") as conn:
            rows = conn.execute(query.encode(), params).fetchall()
        try:
            return [from_dict(FundamentalData, row[0]) for row in rows]
        except (TypeError, ValueError, KeyError) as exc:
            raise StoreError(
                f"corrupt fundamentals of {symbol} in {self.description}: {exc}"
            ) from exc

    def read_fundamental(
        self,
        symbol: str,
        as_of: datetime | None = None,
        source: str | None = None,
        *,
        report_type: str | None = None,
    ) -> FundamentalData | None:
        """The latest record with ``timestamp <= as_of`` (latest of all when None), or None."""
        where, params = "", list[object]()
        if as_of is not None:
            where, params = " AND known_at <= %s", [utc_input(as_of, "as_of")]
        found = self._fundamentals(
            symbol,
            where,
            params,
            source=source,
            report_type=report_type,
            order=" ORDER BY known_at DESC, written DESC LIMIT 1",
        )
        return found[0] if found else None

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
        where, params = "", list[object]()
        if start is not None:
            where += " AND known_at >= %s"
            params.append(utc_input(start, "start"))
        if end is not None:
            where += " AND known_at < %s"
            params.append(utc_input(end, "end"))
        return self._fundamentals(
            symbol,
            where,
            params,
            source=source,
            report_type=report_type,
            order=" ORDER BY known_at, written",
        )

    # -- events -------------------------------------------------------------------------------

    def write_event(self, event: Event) -> None:
        """Buffer ``event``; writes the buffer out when it is full."""
        if self.enqueue_event(event):
            self.flush()

    def enqueue_event(self, event: Event) -> bool:
        """Buffer ``event`` without I/O; True when the buffer is full and :meth:`flush` is due."""
        if self._closed:
            raise StoreError(f"store {self.description} is closed")
        return self._events.append(event)

    def flush(self) -> None:
        """Write every buffered event in one transaction."""
        if not self._events.buffered():
            return
        self._writer.ensure()

        @contextlib.contextmanager
        def pooled() -> Iterator[psycopg.Connection]:
            with self._db("write events") as conn:
                yield conn

        self._events.flush(pooled)  # type: ignore[arg-type]

    def read_events(
        self,
        start: datetime,
        end: datetime,
        types: Iterable[EventType | str] | None = None,
    ) -> list[Event]:
        """Events with ``start <= timestamp < end`` (of ``types`` when given), in time order."""
        buffered = self._events.buffered()
        with self._db("read events") as conn:
            return read_events(conn, start, end, types, buffered)

    # -- strategy state -----------------------------------------------------------------------

    def save_strategy_state(self, strategy_name: str, state: Mapping[str, Any]) -> None:
        """Replace the saved state of ``strategy_name`` atomically (JSON-compatible values)."""
        name = StoreLayout.strategy(strategy_name)
        document = {
            "strategy": name,
            "saved_at": self._clock.now().isoformat(),
            "run_id": self.run_id,
            "state": self._accounts.scrub(dict(state)),
        }
        value = _jsonb(document, f"state of strategy {name!r}")
        with self._write(f"save the state of {name!r}") as conn:
            conn.execute(
                "INSERT INTO strategy_state (strategy, document) VALUES (%s, %s)"
                " ON CONFLICT (strategy) DO UPDATE SET document = EXCLUDED.document",
                (name, value),
            )

    def load_strategy_state(self, strategy_name: str) -> dict[str, Any] | None:
        """The last saved state of ``strategy_name``, or None when it never saved one."""
        name = StoreLayout.strategy(strategy_name)
        with self._db(f"load the state of {name!r}") as conn:
            row = conn.execute(
                "SELECT document FROM strategy_state WHERE strategy = %s", (name,)
            ).fetchone()
        if row is None:
            return None
        state = row[0].get("state") if isinstance(row[0], dict) else None
        if not isinstance(state, dict):
            raise StoreError(f"foreign state of {name!r} in {self.description}: no 'state' object")
        return state

    # -- account ids --------------------------------------------------------------------------

    def _account_key(self) -> bytes:
        """The database's account key, created once (the first process to ask wins the race)."""
        with self._db("read the account key") as conn:
            conn.execute(
                "INSERT INTO store_keys (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (_ACCOUNT_KEY, secrets.token_bytes(32)),
            )
            row = conn.execute(
                "SELECT value FROM store_keys WHERE name = %s", (_ACCOUNT_KEY,)
            ).fetchone()
        if row is None or len(row[0]) != 32:
            raise StoreError(f"the account key in {self.description} is not a 32-byte key")
        return bytes(row[0])

    def account_pseudonym(self, account: str) -> str:
        """``account`` as the store writes it (see :mod:`ibbot.accounts`); creates the key once."""
        return self._accounts.pseudonym(account)

    # -- what `ibbot store copy` needs beyond the protocol ------------------------------------

    def _names(self, query: str, what: str) -> list[str]:
        with self._db(what) as conn:
            return sorted(str(row[0]) for row in conn.execute(query.encode()).fetchall())

    def contract_symbols(self) -> list[str]:
        """Symbols with a stored contract, sorted."""
        return self._names("SELECT symbol FROM contracts", "list contracts")

    def fundamental_symbols(self) -> list[str]:
        """Symbols with stored fundamentals, sorted."""
        return self._names("SELECT DISTINCT symbol FROM fundamentals", "list fundamentals")

    def strategy_names(self) -> list[str]:
        """Strategies with saved state, sorted."""
        return self._names("SELECT strategy FROM strategy_state", "list saved states")

    def audit_kinds(self) -> list[str]:
        """Audit kinds with at least one line, sorted."""
        return self._names("SELECT DISTINCT kind FROM audit", "list audit kinds")

    def account_key(self) -> bytes | None:
        """The account key, or None when none was created yet."""
        with self._db("read the account key") as conn:
            row = conn.execute(
                "SELECT value FROM store_keys WHERE name = %s", (_ACCOUNT_KEY,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def adopt_account_key(self, key: bytes) -> bytes:
        """Make ``key`` the account key unless one exists; the key in force afterwards."""
        with self._write("store the account key") as conn:
            conn.execute(
                "INSERT INTO store_keys (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (_ACCOUNT_KEY, key),
            )
        found = self.account_key()
        if found is None:
            raise StoreError(f"the account key of {self.description} vanished")
        return found

    def append_audit_entry(self, entry: AuditEntry) -> None:
        """Append ``entry`` as it was logged elsewhere (its time, strategy, symbol and run kept)."""
        kind = StoreLayout.audit_kind(entry.kind)
        with self._write(f"append to the {kind} audit") as conn:
            AuditRows.append(
                conn,
                kind,
                entry.record,
                logged_at=entry.logged_at,
                strategy=entry.strategy,
                symbol=entry.symbol,
                run_id=entry.run_id,
            )

    # -- world --------------------------------------------------------------------------------

    def world_document(self) -> dict[str, Any] | None:
        """The database's recorded world (see :mod:`.world`), or None."""
        with self._db("read the world") as conn:
            row = conn.execute("SELECT document FROM world").fetchone()
        return None if row is None else dict(row[0])

    def record_world(self, document: Mapping[str, Any]) -> bool:
        """Record ``document`` as the database's world unless one is; True when recorded now."""
        value = _jsonb(dict(document), "the store's world")
        with self._write("record the world") as conn:
            cursor = conn.execute(
                "INSERT INTO world (document) VALUES (%s) ON CONFLICT DO NOTHING", (value,)
            )
            return cursor.rowcount == 1

    # -- audit --------------------------------------------------------------------------------

    def log_decision(self, strategy_name: str, decision: Decision) -> None:
        """Append ``decision`` with its reasoning to the decisions audit, committed on return."""
        self.log_audit(
            AuditKind.DECISIONS, to_dict(decision), strategy=strategy_name, symbol=decision.symbol
        )

    def log_order(self, strategy_name: str, order: Order, result: OrderResult) -> None:
        """Append ``order`` and ``result`` to the orders audit, committed on return."""
        self.log_order_ahead(strategy_name, order, result).sync()

    def log_order_ahead(
        self, strategy_name: str, order: Order, result: OrderResult
    ) -> PendingAppend:
        """The order's line, committed before this returns; ``sync()`` waits for the disk."""
        record = {"order_ref": order.order_ref, "order": to_dict(order), "result": to_dict(result)}
        self._append(
            AuditKind.ORDERS, record, strategy=strategy_name, symbol=order.symbol, ahead=True
        )
        return CommittedAppend(AuditKind.ORDERS.value, self._flush_wal)

    def _flush_wal(self) -> None:
        """Make every commit so far durable: a synchronous commit flushes the WAL through it."""
        with self._db("make the audit durable") as conn:
            conn.execute("SELECT pg_current_xact_id()")  # an id, so the commit writes a record

    def log_audit(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        """Append ``record`` to the ``kind`` audit (committed on return)."""
        self._append(kind, self._accounts.scrub(record), strategy=strategy, symbol=symbol)

    def _append(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None,
        symbol: str | None,
        ahead: bool = False,
    ) -> None:
        kind = StoreLayout.audit_kind(kind)
        if ahead:
            # On the event loop: the writer lock's own connection (never waited for behind a bulk
            # write), committed (visible, safe from ibbot dying) without the disk wait; see .audit.
            if self._closed:
                raise StoreError(f"store {self.description} is closed")
            try:
                with self._writer.session() as conn, conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit = off")
                    AuditRows.append(
                        conn,
                        kind,
                        record,
                        logged_at=self._clock.now(),
                        strategy=strategy,
                        symbol=symbol,
                        run_id=self.run_id,
                    )
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot append to the {kind} audit in {self.description}: {exc}"
                ) from exc
            return
        with self._write(f"append to the {kind} audit") as conn:
            AuditRows.append(
                conn,
                kind,
                record,
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
        with self._db(f"read the {kind} audit") as conn:
            return AuditRows.read(
                conn, kind, since=since, until=until, symbol=symbol, strategy=strategy
            )

    def read_decisions(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[Decision]:
        """The decisions audit as Decisions (undecodable records skipped with a warning)."""
        decisions = []
        for entry in self.read_audit(AuditKind.DECISIONS, since, symbol, strategy):
            try:
                decisions.append(from_dict(Decision, entry.record))
            except (TypeError, ValueError, KeyError) as exc:
                _skipped(entry, exc)
        return decisions

    def read_orders(
        self,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[tuple[Order, OrderResult]]:
        """The orders audit as ``(Order, OrderResult)`` pairs (bad records skipped, warned)."""
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
                _skipped(entry, exc)
        return orders

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Write buffered events, release the writer lock and the pool; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        except BaseException:
            self._closed = False  # nothing was lost: a retried close() writes the events again
            raise
        self._writer.release()
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _skipped(entry: AuditEntry, exc: BaseException) -> None:
    log.warning(
        "store.audit_record_skipped",
        kind=entry.kind,
        logged_at=entry.logged_at.astimezone(UTC).isoformat(),
        reason=str(exc),
    )
