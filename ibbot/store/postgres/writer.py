"""One writing service per database: a session-level advisory lock held while the store writes.

Two ibbot services writing one database would interleave two runs' audit trails and fight over
the same bars, as two processes writing one Parquet directory would. The first write a store makes
takes ``pg_try_advisory_lock`` on a connection of its own and keeps it until the store closes (or
the process dies: the server drops a dead session's locks). A second writer gets
:class:`WriterLockHeld` naming the holder's process on the server; readers never take the lock.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Final

import psycopg

from ibbot.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["WRITER_LOCK", "WriterLock", "WriterLockHeld"]

WRITER_LOCK: Final = 0x1BB07_0002
"""The advisory lock key a writing store holds (per database)."""


class WriterLockHeld(StoreError):
    """Another process is already writing to this database."""


class WriterLock:
    """The writer lock of one store: taken on the first :meth:`ensure`, released by :meth:`release`."""

    __slots__ = ("_conn", "_connect", "_describe", "_guard", "_using")

    def __init__(self, connect: Callable[[], psycopg.Connection], describe: str) -> None:
        self._connect = connect
        self._describe = describe
        self._conn: psycopg.Connection | None = None
        self._guard = threading.Lock()
        self._using = threading.Lock()

    @contextlib.contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        """The lock's own connection (autocommit), for one caller at a time.

        An order's write-ahead line goes through it: the event loop writes that line, and this
        connection is never busy with a bulk write, where a pooled one might have to be waited for.
        """
        self.ensure()
        with self._using:
            conn = self._conn
            if conn is None:
                raise StoreError(f"the writer lock of {self._describe} was released")
            yield conn

    def ensure(self) -> None:
        """Hold the lock (taking it now if not yet), or raise :class:`WriterLockHeld`/StoreError."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return
        with self._guard:
            if self._conn is not None and not self._conn.closed and not self._conn.broken:
                return
            if self._conn is not None:
                # The session holding the lock is gone (server restart, network): the lock went
                # with it, so it must be taken again before anything more is written.
                self._conn.close()
                self._conn = None
            try:
                conn = self._connect()
                conn.autocommit = True
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone()
                if row is None or not row[0]:
                    holder = conn.execute(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND objid = %s AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())",
                        (WRITER_LOCK & 0xFFFFFFFF,),
                    ).fetchone()
                    conn.close()
                    who = f" (server process {holder[0]})" if holder else ""
                    raise WriterLockHeld(
                        f"another ibbot process is writing to {self._describe}{who}: one writing "
                        "service per database (readers such as ibbot audit are not limited); "
                        "stop the other one, or give this one a database of its own"
                    )
            except psycopg.Error as exc:
                raise StoreError(f"cannot take the writer lock of {self._describe}: {exc}") from exc
            self._conn = conn

    @property
    def held(self) -> bool:
        """True while this store holds the lock."""
        conn = self._conn
        return conn is not None and not conn.closed and not conn.broken

    def release(self) -> None:
        """Give the lock up (closing its session); idempotent."""
        with self._guard, self._using:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
