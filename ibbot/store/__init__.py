"""ibbot's data store: bars, contracts, fundamentals, events, strategy state and audit trails.

:class:`DataStore` is the protocol every part codes against; :class:`ParquetStore` is the embedded
implementation (a directory of Parquet, JSON and JSONL files, see :mod:`ibbot.store.parquet_store`
for the layout); :class:`AsyncStore` wraps a store for code on the event loop. A store belongs to one
world (:class:`World`, recorded by :func:`claim_world`, see :mod:`ibbot.store.world`).
"""

from ibbot.store.async_store import AsyncStore
from ibbot.store.audit import AuditEntry, AuditKind, PendingAppend
from ibbot.store.bars import bars_from_table, bars_to_table
from ibbot.store.errors import InvalidStoreInput
from ibbot.store.parquet_store import ParquetStore
from ibbot.store.protocol import DataStore
from ibbot.store.world import (
    World,
    WorldMismatch,
    claim_connected_world,
    claim_world,
    former_account_world,
    read_world,
)

__all__ = [
    "AsyncStore",
    "AuditEntry",
    "AuditKind",
    "DataStore",
    "InvalidStoreInput",
    "ParquetStore",
    "PendingAppend",
    "World",
    "WorldMismatch",
    "bars_from_table",
    "bars_to_table",
    "claim_connected_world",
    "claim_world",
    "former_account_world",
    "read_world",
]
