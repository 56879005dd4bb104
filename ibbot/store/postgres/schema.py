"""The database schema as numbered migrations, applied at start under an advisory lock.

Every store that opens a database brings it up to date: migrations not yet recorded in
``ibbot_migrations`` run in order, each in its own transaction with its record, so a crash leaves
the database at a version boundary. ``pg_advisory_lock`` serialises processes opening the same
database at once (the second waits, then finds nothing left to do). Migrations are append-only:
a released one is never edited, a change is a new number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import structlog

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "SCHEMA_VERSION", "migrate"]

log = structlog.get_logger(__name__)

MIGRATION_LOCK: Final = 0x1BB07_0001
"""The advisory lock key held while migrating (any process, any database of the server)."""

MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (
        1,
        "the store's tables",
        """
        -- Byte order ("C") for the key's text: the order the Parquet store sorts in, and cheaper
        -- comparisons in the primary key, which also serves every time-range read (a read of
        -- every bar size probes it once per size).
        CREATE TABLE bars (
            symbol text COLLATE "C" NOT NULL,
            bar_size text COLLATE "C" NOT NULL,
            ts timestamptz NOT NULL,
            open double precision NOT NULL,
            high double precision NOT NULL,
            low double precision NOT NULL,
            close double precision NOT NULL,
            volume double precision NOT NULL,
            wap double precision,
            bar_count bigint,
            PRIMARY KEY (symbol, bar_size, ts)
        );

        CREATE TABLE bar_coverage (
            symbol text COLLATE "C" NOT NULL,
            bar_size text COLLATE "C" NOT NULL,
            range_start timestamptz NOT NULL,
            range_end timestamptz NOT NULL CHECK (range_end > range_start),
            PRIMARY KEY (symbol, bar_size, range_start)
        );

        CREATE SEQUENCE fundamentals_written;
        CREATE TABLE fundamentals (
            symbol text NOT NULL,
            known_at timestamptz NOT NULL,
            source text NOT NULL,
            report_type text NOT NULL,
            written bigint NOT NULL DEFAULT nextval('fundamentals_written'),
            record jsonb NOT NULL,
            PRIMARY KEY (symbol, known_at, source, report_type)
        );
        CREATE INDEX fundamentals_as_of ON fundamentals (symbol, known_at DESC, written DESC);

        CREATE TABLE contracts (
            symbol text PRIMARY KEY,
            record jsonb NOT NULL
        );

        CREATE TABLE events (
            id bigserial PRIMARY KEY,
            type text NOT NULL,
            symbol text,
            ts timestamptz NOT NULL,
            payload text NOT NULL,
            source text,
            ingested_at timestamptz NOT NULL,
            run_id text
        );
        CREATE INDEX events_ts ON events (ts, id);

        CREATE TABLE strategy_state (
            strategy text PRIMARY KEY,
            document jsonb NOT NULL
        );

        CREATE TABLE store_keys (
            name text PRIMARY KEY,
            value bytea NOT NULL
        );

        CREATE TABLE world (
            only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one),
            document jsonb NOT NULL
        );

        CREATE TABLE audit (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            logged_at timestamptz NOT NULL,
            strategy text,
            symbol text,
            run_id text,
            record jsonb NOT NULL
        );
        CREATE INDEX audit_kind_logged ON audit (kind, logged_at);

        -- The audit trail is append-only: the database itself refuses to change or remove a line.
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the ibbot audit trail is append-only';
        END $$;
        CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
            FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        """,
    ),
)

SCHEMA_VERSION: Final = MIGRATIONS[-1][0]
"""The version this ibbot's code reads and writes."""


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """Apply the migrations ``conn``'s database lacks (under the migration lock); their numbers.

    A database at a later version than this code knows is refused (an older ibbot must not
    write into a schema it does not understand).
    """
    from ibbot.errors import StoreError  # noqa: PLC0415 - keeps the import graph flat

    applied: list[int] = []
    conn.autocommit = True
    if _version(conn) == SCHEMA_VERSION:
        return applied  # up to date: no lock, no DDL (a read-only role may open the store)
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ibbot_migrations ("
            " version integer PRIMARY KEY, description text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM ibbot_migrations").fetchone()
        current = int(row[0]) if row is not None else 0  # type: ignore[call-overload]
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the database is at schema version {current}, newer than this ibbot "
                f"understands ({SCHEMA_VERSION}): upgrade ibbot"
            )
        for version, description, sql in MIGRATIONS:
            if version <= current:
                continue
            with conn.transaction():
                conn.execute(sql.encode())
                conn.execute(
                    "INSERT INTO ibbot_migrations (version, description) VALUES (%s, %s)",
                    (version, description),
                )
            applied.append(version)
            log.info("store.migrated", version=version, description=description)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied


def _version(conn: psycopg.Connection[tuple[object, ...]]) -> int | None:
    """The database's schema version, or None before the first migration."""
    row = conn.execute("SELECT to_regclass('ibbot_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    row = conn.execute("SELECT coalesce(max(version), 0) FROM ibbot_migrations").fetchone()
    return int(row[0]) if row is not None else None  # type: ignore[call-overload]
