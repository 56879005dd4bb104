"""What only the PostgreSQL store has: migrations, the one-writer lock, secrets kept out of messages.

Against a real server (the session's ``postgres_server``); the behaviour both backends share is in
test_store_conformance.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import psycopg
import pytest

from ibbot.clock import SimulatedClock
from ibbot.errors import StoreError
from ibbot.settings import StoreSettings
from ibbot.store import ParquetStore, World
from ibbot.store.factory import dsn_with_password, open_store, open_store_at
from ibbot.store.postgres import PostgresStore, WriterLockHeld, describe_dsn, is_dsn
from ibbot.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from tests.unit.test_store import JAN, MAR, T0, hourly

if TYPE_CHECKING:
    from pathlib import Path

    from tests.pg_server import PostgresServer


def _versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM ibbot_migrations ORDER BY version").fetchall()
    return [row[0] for row in rows]


def test_migrations_apply_once_even_when_stores_open_at_once(postgres_dsn: str) -> None:
    """Four stores opening a fresh database together: every migration applied exactly once."""
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(postgres_dsn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []
    assert _versions(postgres_dsn) == [m[0] for m in MIGRATIONS]
    PostgresStore(postgres_dsn).close()  # idempotent: nothing left to apply
    assert _versions(postgres_dsn) == [m[0] for m in MIGRATIONS]


def test_a_database_from_a_newer_ibbot_is_refused(postgres_dsn: str) -> None:
    """A schema version this code does not know is refused with what to do, not written into."""
    PostgresStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(
            "INSERT INTO ibbot_migrations (version, description) VALUES (%s, 'future')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(StoreError, match="newer than this ibbot understands"):
        PostgresStore(postgres_dsn)


def test_one_writer_per_database_and_any_number_of_readers(postgres_dsn: str) -> None:
    """The first writing store holds the lock; a second writer is refused, readers are not."""
    writer = PostgresStore(postgres_dsn)
    second = PostgresStore(postgres_dsn)
    reader = PostgresStore(postgres_dsn)
    try:
        writer.write_bars("AAPL", hourly(T0, 3))
        assert writer.writing
        with pytest.raises(WriterLockHeld, match="another ibbot process is writing"):
            second.log_audit("lifecycle", {"event": "start"})
        assert not second.writing
        assert len(reader.read_bars("AAPL", JAN, MAR)) == 3
        assert second.read_audit("lifecycle") == []
        writer.close()  # releases the lock: the next writer may start
        second.log_audit("lifecycle", {"event": "start"})
        assert len(reader.read_audit("lifecycle")) == 1
    finally:
        for store in (writer, second, reader):
            store.close()


def test_a_writer_that_died_releases_the_lock(postgres_dsn: str) -> None:
    """The lock is the writer's session: when that session ends, another writer may start."""
    first = PostgresStore(postgres_dsn)
    first.write_bars("AAPL", hourly(T0, 1))
    pid = first._writer._conn.info.backend_pid  # type: ignore[union-attr]
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,))  # waits for its exit
    with PostgresStore(postgres_dsn) as second:
        second.write_bars("AAPL", hourly(T0 + timedelta(hours=1), 1))
        assert len(second.read_bars("AAPL", JAN, MAR)) == 2
    first.close()  # its lock session is gone; closing it releases nothing of the second's


def test_the_audit_table_refuses_changes(postgres_dsn: str) -> None:
    """Append-only in the database itself: UPDATE and DELETE on the audit are refused."""
    with PostgresStore(postgres_dsn, clock=SimulatedClock(T0)) as store:
        store.log_audit("lifecycle", {"event": "start"})
    with psycopg.connect(postgres_dsn) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM audit")
        conn.rollback()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE audit SET kind = 'x'")


def test_the_password_never_appears_in_descriptions_or_errors(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Messages name host, port and database only; a bad password's error does not echo it."""
    dsn = f"postgresql://ibbot:s3cret-pw@127.0.0.1:{postgres_server.port}/nosuchdb"
    assert describe_dsn(dsn) == f"PostgreSQL database nosuchdb on 127.0.0.1:{postgres_server.port}"
    with pytest.raises(StoreError) as caught:
        PostgresStore(dsn)
    assert "s3cret-pw" not in str(caught.value)
    assert "nosuchdb" in str(caught.value)
    assert is_dsn(dsn)
    assert not is_dsn(str(tmp_path))


def test_the_password_file_fills_the_dsn(tmp_path: Path) -> None:
    """store.password_file (a Docker secret) supplies the password; empty or missing is an error."""
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    dsn = dsn_with_password("postgresql://ibbot@db:5432/ibbot", secret)
    assert psycopg.conninfo.conninfo_to_dict(dsn)["password"] == "hunter2"
    secret.write_text("")
    with pytest.raises(StoreError, match="is empty"):
        dsn_with_password("postgresql://ibbot@db/ibbot", secret)
    with pytest.raises(StoreError, match="cannot read"):
        dsn_with_password("postgresql://ibbot@db/ibbot", tmp_path / "missing")


def test_open_store_follows_the_settings(postgres_dsn: str, tmp_path: Path) -> None:
    """open_store opens the configured backend; open_store_at tells a DSN from a directory."""
    with open_store(StoreSettings(backend="postgres", dsn=postgres_dsn)) as store:
        assert isinstance(store, PostgresStore)
    with open_store(StoreSettings(path=tmp_path / "data")) as store:
        assert isinstance(store, ParquetStore)
    with open_store_at(postgres_dsn) as store:
        assert isinstance(store, PostgresStore)
    with open_store_at(str(tmp_path / "data")) as store:
        assert isinstance(store, ParquetStore)


def test_a_database_belongs_to_one_world(postgres_dsn: str) -> None:
    """The first connected command records its world; another world is refused, the same passes."""
    from ibbot.store import WorldMismatch  # noqa: PLC0415
    from ibbot.store.postgres.world import claim_database_world, read_database_world  # noqa: PLC0415

    with PostgresStore(postgres_dsn) as store:
        assert read_database_world(store) is None
        world = claim_database_world(
            store, simulated=False, seed=1, account="DU1234567", run_id="r1", now=T0
        )
        assert world.key == f"account:{store.account_pseudonym('DU1234567')}"
        again = claim_database_world(
            store, simulated=False, seed=1, account="DU1234567", run_id="r2", now=T0
        )
        assert again == world
        with pytest.raises(WorldMismatch, match="give each world a database of its own"):
            claim_database_world(store, simulated=True, seed=42, account="", run_id="r3", now=T0)
        assert read_database_world(store) == World(world.key, world.description)
