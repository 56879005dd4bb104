"""One place that opens the configured store: the Parquet directory or the PostgreSQL database.

Every command that reads or writes the store (run, backtest, sweep, audit, positions, import-bars,
backfill-fundamentals, the dashboard's run) goes through :func:`open_store`, so each works on
either backend. :func:`open_store_at` opens a store named by a location instead (a directory, or
a ``postgresql://`` DSN), for ``ibbot store copy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ibbot.errors import StoreError
from ibbot.store.parquet_store import ParquetStore

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.clock import Clock
    from ibbot.settings import Settings, StoreSettings
    from ibbot.store.postgres import PostgresStore
    from ibbot.store.protocol import DataStore
    from ibbot.store.world import World

__all__ = [
    "claim_store_world",
    "dsn_with_password",
    "open_store",
    "open_store_at",
    "store_location",
]


def dsn_with_password(dsn: str, password_file: Path | None) -> str:
    """``dsn`` with the password read from ``password_file`` (a Docker secret) when given."""
    if password_file is None:
        return dsn
    from psycopg import conninfo  # noqa: PLC0415 - only the postgres backend needs psycopg

    try:
        password = password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise StoreError(f"cannot read the store's password file {password_file}: {exc}") from exc
    if not password:
        raise StoreError(f"the store's password file {password_file} is empty")
    return conninfo.make_conninfo(dsn, password=password)


def open_store(
    settings: StoreSettings, *, clock: Clock | None = None, run_id: str | None = None
) -> ParquetStore | PostgresStore:
    """The store ``settings`` configure (``backend``, ``path`` / ``dsn``)."""
    if settings.backend == "postgres":
        from ibbot.store.postgres import PostgresStore  # noqa: PLC0415 - keeps --help fast

        password_file = Path(settings.password_file) if settings.password_file else None
        dsn = dsn_with_password(settings.dsn, password_file)
        return PostgresStore(dsn, clock=clock, run_id=run_id)
    return ParquetStore(settings.path, clock=clock, run_id=run_id)


def open_store_at(
    location: str | Path,
    *,
    password_file: Path | None = None,
    clock: Clock | None = None,
    run_id: str | None = None,
) -> ParquetStore | PostgresStore:
    """The store at ``location``: a ``postgresql://`` DSN, else a directory."""
    from ibbot.store.postgres.connection import is_dsn  # noqa: PLC0415

    if isinstance(location, str) and is_dsn(location):
        from ibbot.store.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(dsn_with_password(location, password_file), clock=clock, run_id=run_id)
    return ParquetStore(Path(location), clock=clock, run_id=run_id)


def store_location(store: object) -> str:
    """Where ``store`` keeps its data, for messages (a directory, or the database without secrets)."""
    root = getattr(store, "root", None)
    if root is not None:
        return str(root)
    description = getattr(store, "description", None)
    return str(description) if description is not None else repr(store)


def claim_store_world(
    settings: Settings,
    store: DataStore | None = None,
    *,
    simulated: bool,
    seed: int,
    account: str,
    run_id: str,
    now: datetime,
) -> World:
    """The connected command's world, claimed for the configured store (see ibbot.store.world).

    A database records it in its ``world`` table (through ``store`` when open, else a store
    opened for the claim); a directory in its ``world.json``.
    """
    from ibbot.store.world import claim_connected_world  # noqa: PLC0415

    if settings.store.backend != "postgres":
        return claim_connected_world(
            settings.store.path,
            simulated=simulated,
            seed=seed,
            account=account,
            run_id=run_id,
            now=now,
        )
    from ibbot.store.postgres import PostgresStore  # noqa: PLC0415
    from ibbot.store.postgres.world import claim_database_world  # noqa: PLC0415

    if isinstance(store, PostgresStore):
        return claim_database_world(
            store, simulated=simulated, seed=seed, account=account, run_id=run_id, now=now
        )
    opened = open_store(settings.store)
    assert isinstance(opened, PostgresStore)  # the backend says so
    with opened:
        return claim_database_world(
            opened, simulated=simulated, seed=seed, account=account, run_id=run_id, now=now
        )
