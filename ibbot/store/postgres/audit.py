"""The audit trail in PostgreSQL: one append-only table, every line committed before the call returns.

Every line is committed before the call returns. An order's write-ahead line is split like the
Parquet store's: its transaction commits with ``synchronous_commit = off`` (one round trip: the
server holds the line, which survives ibbot dying and is visible to every reader, before the order
leaves), and :class:`CommittedAppend`'s ``sync`` (in a worker thread, while the order travels)
waits for the server's disk. Other lines commit durably at once. The table refuses UPDATE
and DELETE (a trigger), so a line once written stays as written. Lines are read back in the order
logged, day by day like the files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from ibbot.store.audit import AuditEntry, PendingAppend
from ibbot.store.errors import utc_input
from ibbot.store.jsondoc import dumps, loads
from ibbot.store.layout import StoreLayout

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import psycopg

__all__ = ["AuditRows", "CommittedAppend"]


class CommittedAppend(PendingAppend):
    """An audit line committed without waiting for the disk: :meth:`sync` waits for it.

    ``flush`` is called once, by the first :meth:`sync`: it must make every commit before it
    durable (a synchronous commit of a transaction of its own flushes the WAL through it, which
    holds this line's commit too).
    """

    __slots__ = ("_flush",)

    def __init__(self, kind: str, flush: Callable[[], None]) -> None:
        self.path = PurePosixPath("postgresql", "audit", kind)  # type: ignore[assignment]
        self._fd = 0
        self._kind = kind
        self._dirs = frozenset()
        self._flush = flush

    def sync(self) -> None:
        """Wait until the line is on the server's disk (once; later calls do nothing)."""
        if self._fd < 0:
            return
        self._fd = -1
        self._flush()


class AuditRows:
    """Appends to and reads of the ``audit`` table."""

    __slots__ = ()

    @staticmethod
    def append(
        conn: psycopg.Connection,
        kind: str,
        record: Mapping[str, Any],
        *,
        logged_at: datetime,
        strategy: str | None,
        symbol: str | None,
        run_id: str | None,
    ) -> None:
        """Insert one line in the caller's transaction (validated and encoded first)."""
        kind = StoreLayout.audit_kind(kind)
        logged_at = utc_input(logged_at, "logged_at")
        # The same encoder as the files: values JSON cannot hold are refused the same way.
        text = dumps(dict(record), what=f"{kind} audit record")
        conn.execute(
            "INSERT INTO audit (kind, logged_at, strategy, symbol, run_id, record)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (kind, logged_at, strategy, symbol, run_id, Jsonb(loads(text))),
        )

    @staticmethod
    def read(
        conn: psycopg.Connection,
        kind: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[AuditEntry]:
        """Entries with ``since <= logged_at < until`` matching the filters, in the order logged."""
        kind = StoreLayout.audit_kind(kind)
        query = "SELECT logged_at, strategy, symbol, run_id, record FROM audit WHERE kind = %s"
        params: list[object] = [kind]
        if since is not None:
            query += " AND logged_at >= %s"
            params.append(utc_input(since, "since"))
        if until is not None:
            query += " AND logged_at < %s"
            params.append(utc_input(until, "until"))
        if symbol is not None:
            query += " AND symbol = %s"
            params.append(symbol)
        if strategy is not None:
            query += " AND strategy = %s"
            params.append(strategy)
        query += " ORDER BY (logged_at AT TIME ZONE 'UTC')::date, id"
        rows = conn.execute(query.encode(), params).fetchall()
        return [
            AuditEntry(
                kind=kind,
                logged_at=logged.astimezone(UTC),
                record=record,
                strategy=strat,
                symbol=sym,
                run_id=run,
            )
            for logged, strat, sym, run, record in rows
        ]
