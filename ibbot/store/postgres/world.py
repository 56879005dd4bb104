"""The world a database belongs to (:mod:`ibbot.store.world`), recorded in its ``world`` table.

The rule is the Parquet store's: the first command connected to a world that writes records it,
and a command connected to another world is refused with one line before it writes anything. A
database has no data from before worlds were recorded, so there is no evidence to weigh. The
account's pseudonym uses the database's own key, like everything else the database holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from ibbot.store.world import World, WorldMismatch, former_account_world

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.store.postgres.store import PostgresStore

__all__ = ["claim_database_world", "read_database_world"]

log = structlog.get_logger(__name__)

_SEPARATE = "give each world a database of its own (store.dsn)"


def read_database_world(store: PostgresStore) -> World | None:
    """The world recorded in ``store``'s database, or None."""
    document = store.world_document()
    if document is None:
        return None
    key = str(document.get("world", ""))
    description = document.get("description")
    return World(key, description if isinstance(description, str) else key)


def claim_database_world(
    store: PostgresStore, *, simulated: bool, seed: int, account: str, run_id: str, now: datetime
) -> World:
    """The connected command's world, recorded in ``store`` or checked against the one there.

    Raises :class:`~ibbot.store.WorldMismatch` when the database belongs to another world.
    """
    if simulated:
        world = World.simulator(seed)
    else:
        pseudonym = store.account_pseudonym(account)
        world = World.account(pseudonym, aliases=frozenset({former_account_world(account)}))
    recorded = read_database_world(store)
    if recorded is None:
        document = {
            "world": world.key,
            "description": world.description,
            "recorded_at": now.isoformat(),
            "run_id": run_id,
        }
        if store.record_world(document):
            log.info("store.world_recorded", store=store.description, world=world.key)
            return world
        recorded = read_database_world(store)  # another process recorded one first
    if recorded is not None and recorded.key != world.key:
        raise WorldMismatch(
            f"{store.description} holds the data of {recorded.description}, not of "
            f"{world.description}: {_SEPARATE}"
        )
    return world
