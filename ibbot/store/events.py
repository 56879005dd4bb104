"""Events by UTC day in ``events/``: buffered in memory, flushed as part files, compacted per day.

Live runs publish many events, and rewriting a day file for every event would cost O(n^2) over a
day. So events are buffered in memory and flushed in batches (every ``batch_size`` events, or on
:meth:`EventLog.flush`). Each flush writes one new part file per day,
``<YYYY-MM-DD>-part-<NNNNNN>.parquet``: its cost is proportional to the batch, not to the day.
Once a day is over (an event of a later day has been flushed), and on close, its parts are
compacted into the plan's ``<YYYY-MM-DD>.parquet``, streaming one file at a time, so an event is
written twice (its part, then the day file) unless late events reopen a day already compacted.
The day file records the last part it absorbed (``ibbot.absorbed_through``): a crash between
writing the day file and deleting the absorbed parts leaves parts that readers know to skip, and
the next compaction deletes them. Dataset readers outside ibbot see the day file plus the parts
not yet compacted, all in one schema.

Every file also has a ``run_id`` column beside the event's own fields: the run that wrote the event
(:mod:`ibbot.runs`; null in files written before run ids, which read as before).

Overflow policy: the buffer holds at most ``batch_size`` events before the writer that fills it
flushes (synchronously, or awaited in a worker thread by ``AsyncStore``): back-pressure, no loss.
Events still in the buffer when the process dies are lost; bars, fundamentals, state and audit
records are written through on every call and are not.
"""

from __future__ import annotations

import os
import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import structlog

from ibbot.errors import StoreError
from ibbot.models import Event, EventType, arrow_schema, from_arrow, to_arrow
from ibbot.store.atomic import fsync_dir
from ibbot.store.errors import InvalidStoreInput, utc_input
from ibbot.store.layout import StoreLayout
from ibbot.store.parquet_io import read_parquet, write_parquet, write_parquet_stream

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

__all__ = ["EventLog"]

log = structlog.get_logger(__name__)

EVENT_SCHEMA = arrow_schema(Event)
_RUN_ID = "run_id"
# On disk: the event's fields, then the run that wrote it.
EVENT_FILE_SCHEMA = EVENT_SCHEMA.append(pa.field(_RUN_ID, pa.string()))
_REQUIRED = frozenset(("type", "timestamp", "payload", "ingested_at"))
_ABSORBED = "absorbed_through"
_TIMESTAMP_TYPE = EVENT_SCHEMA.field("timestamp").type
_ONE_MICROSECOND = timedelta(microseconds=1)


def _event_types(types: Iterable[EventType | str] | None) -> frozenset[EventType] | None:
    if types is None:
        return None
    given = list(types)
    try:
        return frozenset(EventType(t) for t in given)
    except ValueError as exc:
        raise InvalidStoreInput(f"unknown event type in {given!r}: {exc}") from exc


class EventLog:
    """The event files plus the in-memory buffer in front of them (see the module docstring)."""

    def __init__(
        self,
        layout: StoreLayout,
        *,
        batch_size: int = 10_000,
        at_rest: Callable[[Event], Event] | None = None,
        run_id: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"event batch size must be positive, got {batch_size}")
        self._layout = layout
        self._batch_size = batch_size
        # What an event becomes on disk (account ids replaced by pseudonyms), applied when written.
        self._at_rest = at_rest
        self._run_id = pa.scalar(run_id, type=pa.string())
        # _buffer_lock guards the buffer and is only ever held for list operations, so appending
        # from the event loop never waits on I/O. _files_lock serialises every file operation.
        self._buffer_lock = threading.Lock()
        self._files_lock = threading.Lock()
        self._pending: list[Event] = []
        self._next_seq: dict[date, int] = {}
        self._unabsorbed: set[date] = set()
        self._newest_day: date | None = None

    def append(self, event: Event) -> bool:
        """Buffer ``event`` without any I/O; True when the buffer is full and should be flushed."""
        with self._buffer_lock:
            self._pending.append(event)
            return len(self._pending) >= self._batch_size

    # -- files --------------------------------------------------------------------------------

    def _listing(self) -> tuple[dict[date, list[tuple[int, Path]]], set[date]]:
        """Parts per day (sorted by sequence) and days that have a compacted file."""
        try:
            names = os.listdir(self._layout.events)
        except FileNotFoundError:
            return {}, set()
        except OSError as exc:
            raise StoreError(f"cannot list {self._layout.events}: {exc}") from exc
        parts: dict[date, list[tuple[int, Path]]] = {}
        days: set[date] = set()
        for name in names:
            part = StoreLayout.parse_events_part(name)
            if part is not None:
                parts.setdefault(part[0], []).append((part[1], self._layout.events / name))
                continue
            day = StoreLayout.parse_day_file(name, ".parquet")
            if day is not None:
                days.add(day)
        for found in parts.values():
            found.sort()
        return parts, days

    def _absorbed_through(self, day: date) -> int:
        path = self._layout.events_file(day)
        if not path.exists():
            return 0
        try:
            raw = (pq.read_schema(path).metadata or {}).get(f"ibbot.{_ABSORBED}".encode(), b"0")
            return int(raw)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise StoreError(f"corrupt or unreadable Parquet file {path}: {exc}") from exc

    def _live_parts(
        self, day: date, parts: dict[date, list[tuple[int, Path]]]
    ) -> list[tuple[int, Path]]:
        absorbed = self._absorbed_through(day)
        return [(seq, path) for seq, path in parts.get(day, ()) if seq > absorbed]

    def _seq_for(self, day: date, parts: dict[date, list[tuple[int, Path]]]) -> int:
        seq = self._next_seq.get(day)
        if seq is None:
            highest = max((s for s, _ in parts.get(day, ())), default=0)
            seq = max(highest, self._absorbed_through(day)) + 1
        self._next_seq[day] = seq + 1
        return seq

    def flush(self) -> None:
        """Write the buffer as one part file per day, then compact the days that are over."""
        with self._files_lock:
            with self._buffer_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            by_day: dict[date, list[Event]] = {}
            for event in batch:
                stored = event if self._at_rest is None else self._at_rest(event)
                by_day.setdefault(event.timestamp.date(), []).append(stored)
            parts, _ = self._listing()
            for day in sorted(by_day):
                try:
                    path = self._layout.events_part(day, self._seq_for(day, parts))
                    write_parquet(path, self._table(by_day[day]))
                except BaseException:
                    # Not written: put this day's and the following days' events back, in order.
                    with self._buffer_lock:
                        unwritten = [e for d in sorted(by_day) if d >= day for e in by_day[d]]
                        self._pending[:0] = unwritten
                    raise
                self._unabsorbed.add(day)
            newest = max(by_day)
            if self._newest_day is None or newest > self._newest_day:
                self._newest_day = newest
            for day in sorted(d for d in self._unabsorbed if d < self._newest_day):
                self._compact_locked(day)

    def compact(self) -> None:
        """Fold every day's part files into its day file, the current day's included."""
        with self._files_lock:
            parts, _ = self._listing()
            for found in sorted(parts):
                self._compact_locked(found)

    def _compact_locked(self, day: date) -> None:
        parts, _ = self._listing()
        target = self._layout.events_file(day)
        absorbed = self._absorbed_through(day)
        live = [(seq, path) for seq, path in parts.get(day, ()) if seq > absorbed]
        if live:
            sources: list[Path] = [target] if target.exists() else []
            sources.extend(path for _, path in live)
            pending = iter(sources)

            def next_table() -> pa.Table | None:
                path = next(pending, None)
                return None if path is None else self._read_file(path)

            write_parquet_stream(
                target,
                EVENT_FILE_SCHEMA,
                next_table,
                {_ABSORBED: str(max(seq for seq, _ in live))},
            )
        leftovers = parts.get(day, [])
        for _, path in leftovers:
            path.unlink(missing_ok=True)
        if leftovers:
            fsync_dir(self._layout.events)
            log.debug(
                "store.events_compacted",
                file=str(target),
                parts=len(live),
                stale_parts=len(leftovers) - len(live),
            )
        self._unabsorbed.discard(day)

    def _table(self, events: list[Event]) -> pa.Table:
        table = to_arrow(Event, events)
        return table.append_column(
            EVENT_FILE_SCHEMA.field(_RUN_ID), pa.repeat(self._run_id, table.num_rows)
        )

    def _read_file(self, path: Path) -> pa.Table:
        return read_parquet(path, EVENT_FILE_SCHEMA, _REQUIRED).table

    # -- reads --------------------------------------------------------------------------------

    def read(
        self, start: datetime, end: datetime, types: Iterable[EventType | str] | None = None
    ) -> list[Event]:
        """Events with ``start <= timestamp < end`` (of ``types`` when given), in time order.

        Includes events still in the buffer. Ties keep the order the events were written in.
        """
        start, end = utc_input(start, "start"), utc_input(end, "end")
        wanted = _event_types(types)
        if end <= start:
            return []
        first_day, last_day = start.date(), (end - _ONE_MICROSECOND).date()
        lo = pa.scalar(start, type=_TIMESTAMP_TYPE)
        hi = pa.scalar(end, type=_TIMESTAMP_TYPE)
        type_values = None if wanted is None else pa.array(sorted(t.value for t in wanted))
        with self._files_lock:
            with self._buffer_lock:
                buffered = list(self._pending)
            parts, days = self._listing()
            paths: list[Path] = []
            for day in sorted(days | set(parts)):
                if first_day <= day <= last_day:
                    if day in days:
                        paths.append(self._layout.events_file(day))
                    paths.extend(path for _, path in self._live_parts(day, parts))
            tables = []
            for path in paths:
                table = self._read_file(path)
                timestamps = table.column("timestamp")
                mask = pc.and_(pc.greater_equal(timestamps, lo), pc.less(timestamps, hi))
                if type_values is not None:
                    mask = pc.and_(mask, pc.is_in(table.column("type"), value_set=type_values))
                tables.append(table.filter(mask))
        stored = from_arrow(Event, pa.concat_tables(tables)) if tables else []
        stored.extend(
            e
            for e in buffered
            if start <= e.timestamp < end and (wanted is None or e.type in wanted)
        )
        stored.sort(key=lambda e: e.timestamp)
        return stored

    def close(self) -> None:
        """Flush the buffer and compact every day with part files (earlier runs' included)."""
        self.flush()
        self.compact()
