"""Append-only audit logs in ``audit/<kind>/<YYYY-MM-DD>.jsonl``, one JSON object per line.

Every line is one envelope::

    {
        "kind": "decisions",
        "logged_at": "2026-01-05T14:30:00+00:00",
        "strategy": "sma_cross",
        "symbol": "AAPL",
        "run_id": "20260601T101010Z-3fa2",
        "record": {...},
    }

Each record is written with a single ``write`` on an ``O_APPEND`` descriptor, then ``fsync``-ed
before the call returns: once ``log_*`` returns, the line survives a crash. A crash *during* the
write can leave a torn last line; readers skip any line that is not a complete envelope with a
structlog warning naming the file and line number, and the next append first ends the torn line,
so the new record starts on a line of its own. ``logged_at`` is the store's clock when the line was
written: the market's time (the wall clock against a real gateway, the simulated clock with the
embedded simulator), and the file's day is its UTC day, as an event's file is its market day.
``run_id`` names the run that wrote the line (:mod:`ibbot.runs`; null from a tool outside a run and
in lines written before run ids).

The two steps can be taken apart (:meth:`AuditLog.write`, then :meth:`PendingAppend.sync`): the
write alone takes microseconds and already survives a crash of the process (the operating system
holds the line); the ``fsync``, which waits for the disk (milliseconds), is what survives a power
cut. An order's write-ahead line is written on the event loop right before the order leaves and
fsynced in a worker thread while it travels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog

from ibbot.clock import ensure_utc
from ibbot.errors import StoreError
from ibbot.safeload import LoadError
from ibbot.store.atomic import fsync_dir, make_dirs
from ibbot.store.errors import utc_input
from ibbot.store.jsondoc import dumps, loads
from ibbot.store.layout import StoreLayout

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.store.locks import KeyedLocks

__all__ = ["AuditEntry", "AuditKind", "AuditLog", "PendingAppend"]

log = structlog.get_logger(__name__)


class AuditKind(StrEnum):
    """The audit logs ibbot writes. Other lower-case names are accepted as further kinds."""

    DECISIONS = "decisions"
    LIFECYCLE = "lifecycle"
    ORDERS = "orders"
    RECONCILIATION = "reconciliation"
    RISK = "risk"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit line as read back: when it was logged, for whom, by which run, and the record."""

    kind: str
    logged_at: datetime
    record: Mapping[str, Any]
    strategy: str | None = None
    symbol: str | None = None
    run_id: str | None = None


def _decode_line(kind: str, line: bytes) -> AuditEntry | str:
    """The entry on ``line``, or why the line is not one."""
    try:
        envelope = loads(line)
    except LoadError as exc:
        return f"not JSON ({exc})"
    if not isinstance(envelope, dict):
        return "not a JSON object"
    record = envelope.get("record")
    logged_at = envelope.get("logged_at")
    strategy = envelope.get("strategy")
    symbol = envelope.get("symbol")
    run_id = envelope.get("run_id")
    if not isinstance(record, dict) or not isinstance(logged_at, str):
        return "missing 'record' object or 'logged_at' time"
    if not all(isinstance(value, str | None) for value in (strategy, symbol, run_id)):
        return "'strategy', 'symbol' and 'run_id' must be strings or null"
    try:
        when = ensure_utc(datetime.fromisoformat(logged_at), field="logged_at")
    except ValueError as exc:
        return str(exc)
    return AuditEntry(
        kind=kind, logged_at=when, record=record, strategy=strategy, symbol=symbol, run_id=run_id
    )


class PendingAppend:
    """An audit line the operating system holds but the disk may not yet: :meth:`sync` it.

    Holds the file open until :meth:`sync`, which every caller of :meth:`AuditLog.write` must call
    (once is enough; later calls do nothing).
    """

    __slots__ = ("_dirs", "_fd", "_kind", "_log", "path")

    def __init__(
        self, log: AuditLog, kind: str, path: Path, fd: int, dirs: frozenset[Path]
    ) -> None:
        self.path = path
        self._log = log
        self._kind = kind
        self._fd = fd
        self._dirs = dirs

    @property
    def synced(self) -> bool:
        """True once :meth:`sync` has run (whether or not it succeeded)."""
        return self._fd < 0

    def sync(self) -> None:
        """Make the line durable: fsync the file, then the directory entries it still depends on."""
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        try:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            for directory in self._dirs:
                fsync_dir(directory)
        except OSError as exc:
            raise StoreError(f"cannot sync {self.path}: {exc}") from exc
        if self._dirs:
            self._log._dirs_synced(self._kind, self.path, self._dirs)


class AuditLog:
    """Every audit kind's daily JSONL files (see the module docstring for the guarantees)."""

    __slots__ = ("_files", "_layout", "_locks", "_unsynced")

    def __init__(self, layout: StoreLayout, locks: KeyedLocks) -> None:
        self._layout = layout
        self._locks = locks
        # The day files written so far (one per kind and day, a small map): the common write
        # builds no path and makes four system calls (open, fstat, pread, write).
        self._files: dict[tuple[str, date], Path] = {}
        # Directories whose entries a file's line depends on (the file's own, new parents) and that
        # no sync has made durable yet. Every line written to the file meanwhile syncs them too,
        # so none is reported durable on the strength of another writer's unfinished sync.
        self._unsynced: dict[Path, frozenset[Path]] = {}

    def append(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        logged_at: datetime,
        strategy: str | None = None,
        symbol: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Append one record durably (written and fsynced before returning)."""
        self.write(
            kind, record, logged_at=logged_at, strategy=strategy, symbol=symbol, run_id=run_id
        ).sync()

    def write(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        logged_at: datetime,
        strategy: str | None = None,
        symbol: str | None = None,
        run_id: str | None = None,
    ) -> PendingAppend:
        """Append one record to the file without waiting for the disk; ``sync()`` the result.

        No fsync here: the line is in the operating system's hands when this returns (it survives
        the process dying, not a power cut) and the disk wait is left to the returned handle.
        """
        logged_at = utc_input(logged_at, "logged_at")
        day = logged_at.date()
        path = self._files.get((kind, day))
        if path is None:
            kind = StoreLayout.audit_kind(kind)
            path = self._files[(kind, day)] = self._layout.audit_file(kind, day)
        envelope = {
            "kind": kind,
            "logged_at": logged_at.isoformat(),
            "strategy": strategy,
            "symbol": symbol,
            "run_id": run_id,
            "record": dict(record),
        }
        line = (dumps(envelope, what=f"{kind} audit record") + "\n").encode()
        # The lock covers the torn-line check and the write, not the fsync: appends of complete
        # lines to an O_APPEND file need no turn-taking to become durable.
        with self._locks("audit", kind):
            try:
                fd = self._open(path)
                self._append_line(fd, path, line)
            except OSError as exc:
                raise StoreError(f"cannot append to {path}: {exc}") from exc
            dirs = self._unsynced.get(path, frozenset())
        return PendingAppend(self, kind, path, fd, dirs)

    def _open(self, path: Path) -> int:
        """Open ``path`` for appending, creating it (and its directories) when missing."""
        try:
            return os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            pass
        created = make_dirs(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._unsynced[path] = self._unsynced.get(path, frozenset()).union((*created, path.parent))
        return fd

    @staticmethod
    def _append_line(fd: int, path: Path, line: bytes) -> None:
        """Write ``line`` whole (ending a torn last line first); closes ``fd`` if it fails."""
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A crash tore the last line; end it so this record starts a line of its own.
                log.warning("store.audit_torn_line_closed", file=str(path))
                line = b"\n" + line
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            raise

    def _dirs_synced(self, kind: str, path: Path, dirs: frozenset[Path]) -> None:
        with self._locks("audit", kind):
            left = self._unsynced.get(path, frozenset()) - dirs
            if left:
                self._unsynced[path] = left
            else:
                self._unsynced.pop(path, None)

    def _days(self, kind: str) -> list[tuple[date, Path]]:
        directory = self._layout.audit_dir(kind)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {directory}: {exc}") from exc
        days = []
        for name in names:
            day = StoreLayout.parse_day_file(name, ".jsonl")
            if day is not None:
                days.append((day, directory / name))
        return sorted(days)

    def read(
        self,
        kind: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        symbol: str | None = None,
        strategy: str | None = None,
    ) -> list[AuditEntry]:
        """Entries with ``since <= logged_at < until`` matching the filters, in the order logged."""
        kind = StoreLayout.audit_kind(kind)
        lo = None if since is None else utc_input(since, "since")
        hi = None if until is None else utc_input(until, "until")
        found: list[AuditEntry] = []
        for day, path in self._days(kind):
            if (lo is not None and day < lo.date()) or (hi is not None and day > hi.date()):
                continue
            found.extend(
                entry
                for entry in self._read_file(kind, path)
                if (lo is None or entry.logged_at >= lo)
                and (hi is None or entry.logged_at < hi)
                and (symbol is None or entry.symbol == symbol)
                and (strategy is None or entry.strategy == strategy)
            )
        return found

    @staticmethod
    def _read_file(kind: str, path: Path) -> list[AuditEntry]:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
        entries = []
        for number, line in enumerate(content.split(b"\n"), start=1):
            if not line.strip():
                continue
            entry = _decode_line(kind, line)
            if isinstance(entry, str):
                log.warning("store.audit_line_skipped", file=str(path), line=number, reason=entry)
            else:
                entries.append(entry)
        return entries
