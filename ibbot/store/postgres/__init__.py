"""The PostgreSQL store: the DataStore in a database many readers can query while one service writes.

:class:`PostgresStore` is the store (:mod:`.store`); :mod:`.schema` holds its versioned
migrations, :mod:`.writer` the one-writer lock, :mod:`.bars` the COPY paths, :mod:`.audit` the
append-only trail, :mod:`.events` the event buffer, :mod:`.connection` the pool and DSN handling.
"""

from ibbot.store.postgres.connection import describe_dsn, is_dsn
from ibbot.store.postgres.store import PostgresStore
from ibbot.store.postgres.writer import WriterLockHeld

__all__ = ["PostgresStore", "WriterLockHeld", "describe_dsn", "is_dsn"]
