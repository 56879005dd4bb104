"""Account ids at rest: no file ibbot writes under the store holds the raw account id.

ibbot trades on a simulated gateway whose account id is a canary, stops, and starts again (the
saved book must still be recognised as this account's); then every file under the store is
searched for the id, Parquet files decoded cell by cell (their pages are compressed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from ibbot.accounts import is_pseudonym, mask_account
from ibbot.live import BOOK_STATE
from ibbot.models import EventType
from ibbot.store import AuditKind, ParquetStore
from tests.integration.app_support import (
    Watch,
    app_settings,
    fill_of,
    running,
    running_gateway,
    strategy,
    until_all,
)

if TYPE_CHECKING:
    from pathlib import Path

CANARY = "DU8CANARY8"
# What must not appear anywhere: the id, or its part the mask hides.
SECRET_PARTS = (CANARY.encode(), b"8CANA")


def stored_text(path: Path) -> bytes:
    """The content of ``path`` as searchable bytes: Parquet decoded (cells and metadata), else raw."""
    if path.suffix != ".parquet":
        return path.read_bytes()
    parquet = pq.ParquetFile(path)
    metadata = parquet.schema_arrow.metadata or {}
    cells = repr(parquet.read().to_pylist())
    return cells.encode() + b"".join(k + v for k, v in metadata.items())


async def test_no_file_under_the_store_holds_the_raw_account_id(tmp_path: Path) -> None:
    """Fills, the saved book, events and audit hold the account's pseudonym; restarts still restore."""
    async with running_gateway(account=CANARY) as gateway:
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[strategy("holder", "HoldQuantity")]
        )
        async with (
            running(settings, gateway) as orchestrator,
            Watch(orchestrator.bus, EventType.FILL) as watch,
        ):
            await until_all(watch, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
        async with running(settings, gateway):
            pass
    root = settings.store.path
    store = ParquetStore(root)
    pseudonym = store.account_pseudonym(CANARY)
    assert is_pseudonym(pseudonym)
    assert pseudonym.startswith(mask_account(CANARY) + "#")

    # The features that read account ids back still work: the second run restored the saved book
    # (same world), and the audited fills are this account's.
    lifecycle = [e.record for e in store.read_audit(AuditKind.LIFECYCLE)]
    assert [e["restoring"] for e in lifecycle if e["event"] == "app.starting"] == [False, True]
    fills = store.read_audit("fills")
    assert fills
    assert {entry.record["account"] for entry in fills} == {pseudonym}
    book = store.load_strategy_state(BOOK_STATE)
    assert book is not None
    assert book["world"] == f"account:{pseudonym}"
    assert {p["account"] for p in book["book"]["positions"]["holder"]} == {pseudonym}

    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    assert {p.parent.name for p in files} >= {"fills", "state", "events"}
    leaks = [
        str(p.relative_to(root))
        for p in files
        if any(part in stored_text(p) for part in SECRET_PARTS)
    ]
    assert leaks == []
