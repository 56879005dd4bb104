"""The world a store belongs to, recorded in ``<root>/world.json``, and the refusal to mix two.

Bars, fundamentals, contracts, events and the audit trail only mean something in the market and
account they came from. The embedded simulator's market is made from its seed (prices are a pure
function of the seed, the symbol and the time, whatever instant a run starts at), so its world is
``simulator:seed=<seed>``; a gateway (IB Gateway, TWS, or a standalone ``ibbot sim``, which looks
the same over the wire) is known by the account it trades, so its world is
``account:<pseudonym>`` (see :mod:`ibbot.accounts`). The first command that connects to a world
and writes into a store records that world there; from then on a command connected to another
world is refused with one line before it writes anything, instead of splicing two markets into
one price history (a backfill trusts the coverage it finds) or two accounts into one audit trail.

Stores written before worlds were recorded carry no ``world.json``. Their own files say whose they
are when they can: the position book names its account (``account:...``) or a one-off embedded
simulator, and the lifecycle audit says whether a run was simulated. A store whose evidence names
this world is recorded as it; one whose evidence names another is refused, as is embedded-simulator
data of an unknown seed (move it aside: the simulator keeps its own directory now); a store with no
evidence at all (bars from ``backfill`` or ``import-bars`` only) is recorded as this world with a
warning saying so. Nothing is moved or rewritten.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.accounts import AccountPseudonyms, mask_account
from ibbot.errors import StoreError
from ibbot.store.audit import AuditKind, AuditLog
from ibbot.store.jsondoc import read_json, write_json
from ibbot.store.layout import StoreLayout
from ibbot.store.locks import KeyedLocks

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

__all__ = [
    "WORLD_FILE",
    "World",
    "WorldMismatch",
    "claim_connected_world",
    "claim_world",
    "former_account_world",
    "read_world",
]

log = structlog.get_logger(__name__)

WORLD_FILE: Final = "world.json"
"""The file at a store's root that names its world."""

_BOOK_FILE: Final = "ibbot-position-book.json"
_EMBEDDED: Final = "embedded-simulator"
# The directories that hold a world's data; anything else at the root (the SEC cache, the kill
# switch, backtest and smoke reports, another world's directory) belongs to no world.
_WORLD_DATA: Final = ("prices", "fundamentals", "events", "contracts", "state", "audit")
_SEPARATE: Final = (
    "give each world a directory of its own: leave store.path unset (the embedded simulator then "
    "keeps its data in data/sim-<seed>, a gateway in data) or set it to another directory"
)


class WorldMismatch(StoreError):
    """The store belongs to another world (the message says whose, and what to do)."""


@dataclass(frozen=True, slots=True)
class World:
    """One world: ``key`` is what ``world.json`` records, ``description`` what a person reads.

    ``aliases`` are keys older versions wrote for the same world (accepted as evidence, never
    recorded).
    """

    key: str
    description: str
    aliases: frozenset[str] = field(default=frozenset())

    @classmethod
    def simulator(cls, seed: int) -> World:
        """The embedded simulator's market with ``seed`` (every run of it, whatever its start)."""
        return cls(f"simulator:seed={seed}", f"the embedded simulator with seed {seed}")

    @classmethod
    def account(cls, pseudonym: str, *, aliases: frozenset[str] = frozenset()) -> World:
        """The gateway account with ``pseudonym`` (the store's pseudonym, never the raw id)."""
        mask = pseudonym.partition("#")[0] or pseudonym
        return cls(f"account:{pseudonym}", f"the gateway account {mask}", aliases)

    @property
    def is_simulator(self) -> bool:
        """True for an embedded simulator's world."""
        return self.key.startswith("simulator:")


def former_account_world(account: str) -> str:
    """The world of ``account`` as ibbot wrote it before pseudonyms: a bare hash, still accepted."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:16]
    return f"account:{digest}"


def claim_connected_world(
    root: Path, *, simulated: bool, seed: int, account: str, run_id: str, now: datetime
) -> World:
    """The world of a command connected to a gateway, claimed for the store at ``root``.

    ``simulated``: the embedded simulator with ``seed``; otherwise the gateway's ``account`` (its
    pseudonym under the store's key). See :func:`claim_world`.
    """
    if simulated:
        world = World.simulator(seed)
    else:
        recorded = read_world(root)
        if recorded is not None and recorded.is_simulator:
            # Refused before a pseudonym's key file is created in the simulator's store.
            unkeyed = World("account:", f"the gateway account {mask_account(account)}")
            claim_world(root, unkeyed, run_id=run_id, now=now)
        pseudonym = AccountPseudonyms(StoreLayout(root).account_key_file).pseudonym(account)
        world = World.account(pseudonym, aliases=frozenset({former_account_world(account)}))
    claim_world(root, world, run_id=run_id, now=now)
    return world


def read_world(root: Path) -> World | None:
    """The world recorded in ``root`` (None when none is); a foreign file is a StoreError."""
    document = read_json(root / WORLD_FILE)
    if document is None:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("world"), str):
        raise StoreError(f"foreign world file {root / WORLD_FILE}: expected an object with 'world'")
    description = document.get("description")
    key: str = document["world"]
    return World(key, description if isinstance(description, str) else key)


def claim_world(root: Path, world: World, *, run_id: str, now: datetime) -> bool:
    """Record ``world`` as ``root``'s, or check that it is already; True when recorded now.

    Raises :class:`WorldMismatch` (one line: whose the store is, and what to do) when the store
    belongs to another world, before anything is written to it.
    """
    recorded = read_world(root)
    if recorded is not None:
        if recorded.key != world.key:
            raise WorldMismatch(
                f"{root} holds the data of {recorded.description} ({WORLD_FILE}), not of "
                f"{world.description}: {_SEPARATE}"
            )
        return False
    if _holds_world_data(root):
        evidence = _evidence(root)
        if evidence == _EMBEDDED:
            raise WorldMismatch(
                f"{root} holds data the embedded simulator wrote before ibbot recorded worlds "
                f"(its seed is unknown): move it aside (e.g. mv {root} {root}-before-worlds); "
                f"{_SEPARATE}"
            )
        if evidence is not None and evidence != world.key and evidence not in world.aliases:
            raise WorldMismatch(
                f"{root} holds data of another account (its position book names {evidence}), not "
                f"of {world.description}: {_SEPARATE}"
            )
        if evidence is None:
            log.warning(
                "store.world_assumed",
                store=str(root),
                world=world.key,
                detail="the store held data from before ibbot recorded worlds and nothing in it "
                "says whose: recorded as this run's world; if it came from elsewhere, move it aside",
            )
    document = {
        "world": world.key,
        "description": world.description,
        "recorded_at": now.isoformat(),
        "run_id": run_id,
    }
    write_json(root / WORLD_FILE, document, what="the store's world")
    log.info("store.world_recorded", store=str(root), world=world.key)
    return True


def _holds_world_data(root: Path) -> bool:
    for name in _WORLD_DATA:
        try:
            with os.scandir(root / name) as entries:
                if any(True for _ in entries):
                    return True
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise StoreError(f"cannot list {root / name}: {exc}") from exc
    return False


def _evidence(root: Path) -> str | None:
    """The world an unmarked store's own files name: an account's key, the embedded simulator, or None."""
    book = read_json(root / "state" / _BOOK_FILE)
    state: Any = book.get("state") if isinstance(book, dict) else None
    named = state.get("world") if isinstance(state, dict) else None
    if isinstance(named, str) and named:
        return _EMBEDDED if named.startswith(_EMBEDDED) else named
    lifecycle = AuditLog(StoreLayout(root), KeyedLocks()).read(AuditKind.LIFECYCLE)
    if any(entry.record.get("simulated") is True for entry in lifecycle):
        return _EMBEDDED
    return None
