"""Events in PostgreSQL: buffered in memory like the Parquet store's, flushed with one COPY.

The buffer is the same back-pressure contract as :mod:`ibbot.store.events` (``append`` reports a
full buffer; the caller flushes). A flush sends every buffered event in one transaction, so a
killed writer leaves the whole batch or none of it; ties in time keep the order written (the
``id`` column).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ibbot.clock import ensure_utc
from ibbot.models import Event, EventType, from_arrow, to_arrow
from ibbot.store.errors import InvalidStoreInput

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    import psycopg

__all__ = ["EventBuffer", "read_events"]

_COLUMNS = ("type", "symbol", "ts", "payload", "source", "ingested_at", "run_id")


def _utc(value: datetime, name: str) -> datetime:
    try:
        return ensure_utc(value, field=name)
    except ValueError as exc:
        raise InvalidStoreInput(str(exc)) from exc


def _event_types(types: Iterable[EventType | str] | None) -> list[str] | None:
    if types is None:
        return None
    given = list(types)
    try:
        return sorted({EventType(t).value for t in given})
    except ValueError as exc:
        raise InvalidStoreInput(f"unknown event type in {given!r}: {exc}") from exc


class EventBuffer:
    """Events waiting to be written (thread-safe; appending never does I/O)."""

    __slots__ = ("_at_rest", "_batch_size", "_flush_lock", "_lock", "_pending", "_run_id")

    def __init__(
        self,
        *,
        batch_size: int,
        at_rest: Callable[[Event], Event] | None,
        run_id: str | None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"event batch size must be positive, got {batch_size}")
        self._batch_size = batch_size
        self._at_rest = at_rest
        self._run_id = run_id
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: list[Event] = []

    def append(self, event: Event) -> bool:
        """Buffer ``event``; True when the buffer is full."""
        with self._lock:
            self._pending.append(event)
            return len(self._pending) >= self._batch_size

    def buffered(self) -> list[Event]:
        """A copy of the events not written yet."""
        with self._lock:
            return list(self._pending)

    def flush(self, connect: Callable[[], psycopg.Connection]) -> None:
        """Write the buffer in one transaction; on failure the events stay buffered."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                stored = [e if self._at_rest is None else self._at_rest(e) for e in batch]
                table = to_arrow(Event, stored)
                rows = zip(
                    table.column("type").to_pylist(),
                    table.column("symbol").to_pylist(),
                    [e.timestamp for e in stored],
                    table.column("payload").to_pylist(),
                    table.column("source").to_pylist(),
                    [e.ingested_at for e in stored],
                    [self._run_id] * len(stored),
                    strict=True,
                )
                with connect() as conn, conn.cursor() as cur:
                    columns = ", ".join(_COLUMNS)
                    with cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise


def read_events(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    types: Iterable[EventType | str] | None,
    buffered: list[Event],
) -> list[Event]:
    """Stored events with ``start <= ts < end`` (of ``types``), then the buffered ones, by time."""
    start, end = _utc(start, "start"), _utc(end, "end")
    wanted = _event_types(types)
    if end <= start:
        return []
    query = (
        "SELECT type, symbol, ts, payload, source, ingested_at FROM events"
        " WHERE ts >= %s AND ts < %s"
    )
    params: list[object] = [start, end]
    if wanted is not None:
        query += " AND type = ANY(%s)"
        params.append(wanted)
    query += " ORDER BY ts, id"
    rows = conn.execute(query.encode(), params).fetchall()
    schema = pa.schema(
        [
            ("type", pa.string()),
            ("symbol", pa.string()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("payload", pa.string()),
            ("source", pa.string()),
            ("ingested_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    table = pa.Table.from_arrays(
        [pa.array(list(col), type=field.type) for col, field in zip(columns, schema, strict=True)],
        schema=schema,
    )
    stored = from_arrow(Event, table)
    wanted_set = None if wanted is None else set(wanted)
    stored.extend(
        e
        for e in buffered
        if start <= e.timestamp < end and (wanted_set is None or e.type.value in wanted_set)
    )
    stored.sort(key=lambda e: e.timestamp)
    return stored
