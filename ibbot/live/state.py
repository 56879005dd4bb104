"""Saved state across runs: each strategy's own, and the position book, tied to the account they describe.

Positions only mean something at the broker that holds them, so the book's saved state carries a
*world*: the account's pseudonym for a real gateway (the store's keyed hash, see
:mod:`ibbot.accounts`: the id is a secret), and the run's id for the embedded simulator, which opens
a fresh paper account on every run. State is
restored only into the same world: restarting against the same account resumes every strategy's
positions and indicators; a fresh simulated account (or another account) starts every strategy
afresh, since positions carried over from elsewhere would contradict the broker at once.

A fill is audited (fsynced) by the executor before anyone hears of it, so a crash between the
audit and the next save cannot lose it: :meth:`StateKeeper.fills_since_save` returns the audited
fills of this account since shortly before the last save, to be replayed into the restored book and
strategies (both ignore an execution id they already applied).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.errors import IbbotError
from ibbot.models import Fill, from_dict
from ibbot.store import AsyncStore, former_account_world
from ibbot.trading import PositionBook

if TYPE_CHECKING:
    from ibbot.clock import Clock
    from ibbot.store import AuditEntry, DataStore
    from ibbot.strategies import Strategy

__all__ = ["BOOK_STATE", "FreshAccountStore", "StateKeeper", "world_of"]

log = structlog.get_logger(__name__)

BOOK_STATE: Final = "ibbot-position-book"
"""The name the book's state is saved under (strategies may not use it)."""

STATE_VERSION: Final = 1
# How far before the last save audited fills are replayed: a fill audited just before the save may
# not have reached the strategies by then (the executor waits up to seconds for its commission).
_REPLAY_MARGIN: Final = timedelta(minutes=5)
# The executor's own audit kind for executions.
_FILLS: Final = "fills"
# What a fresh account's executor must not take from earlier runs (see FreshAccountStore).
_THIS_RUN_ONLY: Final = frozenset({_FILLS, "orders"})


def world_of(pseudonym: str, *, embedded: bool, run_id: str = "") -> str:
    """The world of the account with ``pseudonym``; the embedded simulator's is its run's own."""
    if embedded:
        return f"embedded-simulator:{run_id}"
    return f"account:{pseudonym}"


class StateKeeper:
    """Loads and saves the book's and the strategies' state for one world.

    ``clock`` stamps the saves (the market's clock, like the audit log's times it is compared
    with); ``run_id`` is the run's (:mod:`ibbot.runs`), saved with the book.
    """

    def __init__(
        self, store: AsyncStore, *, account: str, embedded: bool, clock: Clock, run_id: str = ""
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._world = world_of("", embedded=True, run_id=run_id) if embedded else None
        self._embedded = embedded
        self._account = account
        self._clock = clock
        self._restoring = False
        self._saved_at: datetime | None = None

    async def world(self) -> str:
        """This run's world (the store's pseudonym of the account, read once)."""
        if self._world is None:
            pseudonym = await self._store.account_pseudonym(self._account)
            self._world = world_of(pseudonym, embedded=False)
        return self._world

    @property
    def restoring(self) -> bool:
        """True when the saved state belongs to this world (set by :meth:`load_book`)."""
        return self._restoring

    async def load_book(self) -> PositionBook | None:
        """The saved book when it belongs to this world; None (and no restoring) otherwise."""
        saved: dict[str, Any] | None = None
        failure = ""
        try:
            world = await self.world()
            saved = await self._store.load_strategy_state(BOOK_STATE)
        except IbbotError as exc:
            failure = str(exc)
        if failure:
            log.error("state.book_unreadable", error=failure)
            return None
        if saved is None:
            log.info("state.none_saved", detail="strategies start afresh")
            return None
        accepted = {world} if self._embedded else {world, former_account_world(self._account)}
        if saved.get("world") not in accepted:
            if self._embedded:
                log.info(
                    "state.fresh_account",
                    detail="the embedded simulator opens a new paper account every run: "
                    "strategies start afresh (their state is saved as they run)",
                )
            else:
                log.warning(
                    "state.other_world",
                    detail="the saved state describes another account: strategies start afresh",
                )
            return None
        try:
            book = PositionBook.load(saved["book"])
            self._saved_at = datetime.fromisoformat(saved["saved_at"])
        except (KeyError, TypeError, ValueError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure:
            log.error("state.book_unreadable", error=failure)
            return None
        self._restoring = True
        return book

    async def restore(self, strategy: Strategy) -> bool:
        """Load ``strategy``'s saved state when restoring; True if it had one.

        Raises :class:`~ibbot.errors.IbbotError` when the saved state cannot be read back: the
        strategy must not run on guessed positions (its file is left untouched).
        """
        if not self._restoring:
            return False
        saved = await self._store.load_strategy_state(strategy.name)
        if saved is None:
            return False
        strategy.load_state(saved)
        return True

    async def save(self, strategies: list[Strategy], book: PositionBook) -> None:
        """Save every strategy's state and the book's (each file replaced atomically)."""
        for strategy in strategies:
            await self.save_strategy(strategy)
        now = self._clock.now()
        await self._store.save_strategy_state(
            BOOK_STATE,
            {
                "version": STATE_VERSION,
                "world": await self.world(),
                "run_id": self._run_id,
                "saved_at": now.isoformat(),
                "book": book.dump(),
            },
        )
        self._saved_at = now

    async def save_strategy(self, strategy: Strategy) -> None:
        """Save one strategy's state."""
        await self._store.save_strategy_state(strategy.name, strategy.get_state())

    async def fills_since_save(self) -> list[Fill]:
        """This account's audited fills since shortly before the last save (empty when not restoring)."""
        if not self._restoring or self._saved_at is None:
            return []
        entries = await self._store.read_audit(_FILLS, since=self._saved_at - _REPLAY_MARGIN)
        # Audited under the account's pseudonym; lines written before pseudonyms hold the id.
        mine = {"", self._account, await self._store.account_pseudonym(self._account)}
        fills: list[Fill] = []
        for entry in entries:
            record: dict[str, Any] = dict(entry.record)
            if record.get("account") not in mine:
                continue
            try:
                fills.append(from_dict(Fill, record))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning(
                    "state.fill_unreadable", logged_at=entry.logged_at.isoformat(), error=str(exc)
                )
        return fills


class FreshAccountStore(AsyncStore):
    """The store as seen by the executor of a fresh account: only this run's fills and orders.

    The executor remembers audited execution ids so that an execution IB re-sends is booked once,
    and settles the orders earlier runs left unfinished. An embedded simulator is a new account on
    every run, at the same simulated instants: earlier runs' fills and orders belong to accounts
    that no longer exist, so only the lines of run ``run_id`` are shown for those kinds.
    """

    __slots__ = ("_run_id",)

    def __init__(self, store: DataStore, *, run_id: str) -> None:
        super().__init__(store)
        self._run_id = run_id

    async def read_audit(
        self,
        kind: str,
        since: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
        *,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """:meth:`AsyncStore.read_audit`; of fills and orders, only this run's lines."""
        entries = await super().read_audit(kind, since, symbol, strategy, until=until)
        if kind in _THIS_RUN_ONLY:
            entries = [entry for entry in entries if entry.run_id == self._run_id]
        return entries
