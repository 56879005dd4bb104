"""Connecting to the store's database: a pool, UTC sessions, and a description without secrets.

The DSN may hold a password, so it is never logged or put in an error: :func:`describe_dsn`
names the database by host, port and name only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from ibbot.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["connect", "describe_dsn", "is_dsn", "open_pool"]

_SCHEMES = ("postgresql://", "postgres://")


def is_dsn(text: str) -> bool:
    """True when ``text`` names a PostgreSQL database (a URL, or libpq ``key=value`` pairs)."""
    stripped = text.strip()
    return stripped.startswith(_SCHEMES) or ("=" in stripped and "dbname" in stripped)


def describe_dsn(dsn: str) -> str:
    """``PostgreSQL database NAME on HOST:PORT`` (never the password or other parameters)."""
    try:
        params: Mapping[str, object] = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "a PostgreSQL database (unparseable DSN)"
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    name = params.get("dbname") or params.get("user") or "postgres"
    return f"PostgreSQL database {name} on {host}:{port}"


def _configure(conn: psycopg.Connection) -> None:
    # Timestamps come back in UTC whatever the server's or role's default time zone is.
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


def connect(dsn: str) -> psycopg.Connection:
    """One connection outside the pool (migrations, the writer lock), in UTC."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {describe_dsn(dsn)}: {_first_line(exc)}") from None
    _configure(conn)
    return conn


def open_pool(dsn: str, *, max_size: int = 8, timeout: float = 15.0) -> ConnectionPool:
    """A pool of UTC connections to ``dsn``, opened and checked (a clear error if unreachable)."""
    pool = ConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        configure=_configure,
        open=False,
        name="ibbot-store",
        timeout=timeout,
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except PoolTimeout:
        pool.close()
        raise StoreError(f"cannot connect to {describe_dsn(dsn)} within {timeout:g} s") from None
    return pool


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
