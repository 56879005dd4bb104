"""One lock per file group, so concurrent writers of the same files take turns.

Writes are read-modify-write (merge new bars into a month file, add a record to a day file). Two
threads doing that to the same file at once would lose one of the updates, so each group of files
(a symbol's bars, a strategy's state, an audit kind...) has its own lock; writers of different
groups never wait for each other. Readers take no lock: ``os.replace`` guarantees they see either
the old or the new complete file.
"""

from __future__ import annotations

import threading

__all__ = ["KeyedLocks"]


class KeyedLocks:
    """A lazily grown map from a key to its :class:`threading.Lock`.

    The map only grows (one entry per symbol or strategy ever written), which stays small.
    """

    __slots__ = ("_guard", "_locks")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def __call__(self, group: str, key: str) -> threading.Lock:
        """The lock serialising writes to ``key`` within ``group``."""
        with self._guard:
            lock = self._locks.get((group, key))
            if lock is None:
                lock = self._locks[(group, key)] = threading.Lock()
            return lock
