"""Copying a whole store between backends (``ibbot store copy``): resumable, then verified.

What is copied: bars with their coverage, contracts, point-in-time fundamentals, events, saved
strategy states, the audit trail (each line with its own time, strategy, symbol and run), the
account key (so pseudonyms stay the same) and the recorded world. Each unit is written in one
atomic write of the destination, and a unit the destination already holds is skipped, so a copy
that was interrupted is finished by running it again:

- bars: one write per symbol, bar size and covered range within one file span of the Parquet
  layout (:mod:`ibbot.store.spans`: a month of minute bars, a decade of daily bars), declared with
  ``covering=`` (a piece the destination covers already is done);
- audit: append-only on both sides, so the destination's lines must be the start of the source's
  (checked) and only the rest is appended;
- events: one flush per UTC day; a day the destination holds with the same count is done, a day
  it holds partly is an error (events have no key to de-duplicate on);
- contracts, fundamentals and states are keyed: writing them again replaces them with the same.

:func:`verify` then compares both sides: counts and a SHA-256 of the bars of every symbol and bar
size, coverage, and every other record.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from ibbot.errors import StoreError
from ibbot.models import BarSize, Event
from ibbot.store.audit import AuditEntry, AuditLog
from ibbot.store.bars import bars_from_table
from ibbot.store.errors import InvalidStoreInput
from ibbot.store.jsondoc import read_json, write_json
from ibbot.store.layout import StoreLayout
from ibbot.store.locks import KeyedLocks
from ibbot.store.parquet_store import ParquetStore
from ibbot.store.spans import span_of
from ibbot.store.world import WORLD_FILE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from ibbot.store.postgres import PostgresStore

    Store = ParquetStore | PostgresStore

__all__ = ["CopyPlan", "Mismatch", "copy_store", "plan_copy", "verify"]

ALL_TIME: Final = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
_KEY_BYTES: Final = 32


# -- what each backend holds ----------------------------------------------------------------


def _listed(directory: Path, suffix: str = "") -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot list {directory}: {exc}") from exc
    return sorted(name.removesuffix(suffix) for name in names if name.endswith(suffix))


def _valid(names: Iterable[str], check: Callable[[str], str]) -> list[str]:
    found = []
    for name in names:
        try:
            found.append(check(name))
        except InvalidStoreInput:
            continue
    return found


def contract_symbols(store: Store) -> list[str]:
    """Symbols with a stored contract."""
    if isinstance(store, ParquetStore):
        return _valid(_listed(StoreLayout(store.root).contracts, ".json"), StoreLayout.symbol)
    return store.contract_symbols()


def fundamental_symbols(store: Store) -> list[str]:
    """Symbols with stored fundamentals."""
    if isinstance(store, ParquetStore):
        return _valid(_listed(store.root / "fundamentals"), StoreLayout.symbol)
    return store.fundamental_symbols()


def strategy_names(store: Store) -> list[str]:
    """Strategies with saved state."""
    if isinstance(store, ParquetStore):
        return _valid(_listed(store.root / "state", ".json"), StoreLayout.strategy)
    return store.strategy_names()


def audit_kinds(store: Store) -> list[str]:
    """Audit kinds with lines."""
    if isinstance(store, ParquetStore):
        return _valid(_listed(store.root / "audit"), StoreLayout.audit_kind)
    return store.audit_kinds()


def account_key(store: Store) -> bytes | None:
    """The store's account key (None when it has none yet)."""
    if not isinstance(store, ParquetStore):
        return store.account_key()
    path = StoreLayout(store.root).account_key_file
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the account key {path}: {exc}") from exc
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise StoreError(f"{path} is not an account key") from exc


def adopt_account_key(store: Store, key: bytes) -> bytes:
    """Give ``store`` the account ``key`` unless it has one; the key it has afterwards."""
    if not isinstance(store, ParquetStore):
        return store.adopt_account_key(key)
    found = account_key(store)
    if found is not None:
        return found
    path = StoreLayout(store.root).account_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return account_key(store) or key
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def world_document(store: Store) -> dict[str, Any] | None:
    """The recorded world (as ``world.json`` holds it), or None."""
    if isinstance(store, ParquetStore):
        document = read_json(store.root / WORLD_FILE)
        return document if isinstance(document, dict) else None
    return store.world_document()


def record_world(store: Store, document: dict[str, Any]) -> None:
    """Record ``document`` as the store's world (callers check there is none yet)."""
    if isinstance(store, ParquetStore):
        store.root.mkdir(parents=True, exist_ok=True)
        write_json(store.root / WORLD_FILE, document, what="the store's world")
    else:
        store.record_world(document)


def append_audit_entry(store: Store, entry: AuditEntry) -> None:
    """Append ``entry`` keeping its own time, strategy, symbol and run."""
    if isinstance(store, ParquetStore):
        AuditLog(StoreLayout(store.root), KeyedLocks()).append(
            entry.kind,
            entry.record,
            logged_at=entry.logged_at,
            strategy=entry.strategy,
            symbol=entry.symbol,
            run_id=entry.run_id,
        )
    else:
        store.append_audit_entry(entry)


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarPiece:
    """A covered range of one symbol's bars of one size within one file span: a unit of the copy."""

    symbol: str
    bar_size: BarSize
    start: datetime
    end: datetime


@dataclass(slots=True)
class CopyPlan:
    """Everything the source holds, as units of work (``total`` of them, for a progress bar)."""

    pieces: list[BarPiece] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)
    fundamentals: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)
    event_days: dict[date, list[Event]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Units of work: bar pieces, contracts, fundamentals' symbols, states, kinds, days."""
        return (
            len(self.pieces)
            + len(self.contracts)
            + len(self.fundamentals)
            + len(self.states)
            + len(self.audit)
            + len(self.event_days)
            + 1  # the account key and the world
        )


def _sizes_of(store: Store, symbol: str) -> list[BarSize]:
    return [size for size in BarSize if store.bar_coverage(symbol, size)]


def plan_copy(source: Store) -> CopyPlan:
    """What copying ``source`` involves."""
    plan = CopyPlan()
    for symbol in source.symbols():
        for size in _sizes_of(source, symbol):
            coverage = source.bar_coverage(symbol, size)
            for pieces in span_of(size).split_ranges(coverage).values():
                plan.pieces.extend(BarPiece(symbol, size, s, e) for s, e in pieces)
    plan.contracts = contract_symbols(source)
    plan.fundamentals = fundamental_symbols(source)
    plan.states = strategy_names(source)
    plan.audit = audit_kinds(source)
    days: dict[date, list[Event]] = defaultdict(list)
    for event in source.read_events(*ALL_TIME):
        days[event.timestamp.date()].append(event)
    plan.event_days = dict(sorted(days.items()))
    return plan


# -- the copy -------------------------------------------------------------------------------


def _write_piece(target: Store, piece: BarPiece, table: pa.Table) -> None:
    covering = (piece.start, piece.end)
    if isinstance(target, ParquetStore):
        bars = bars_from_table(table)
        target.write_bars(piece.symbol, bars, covering=covering, bar_size=piece.bar_size)
    else:
        target.write_bars(piece.symbol, table, covering=covering, bar_size=piece.bar_size)


def _copy_audit(source: Store, target: Store, kind: str) -> None:
    lines = source.read_audit(kind)
    held = target.read_audit(kind)
    if held != lines[: len(held)]:
        raise StoreError(
            f"the destination's {kind} audit is not a start of the source's ({len(held)} lines "
            "held): it holds other data; copy into an empty store"
        )
    for entry in lines[len(held) :]:
        append_audit_entry(target, entry)


def _copy_events(target: Store, day: date, events: list[Event]) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    held = len(target.read_events(start, start + timedelta(days=1)))
    if held == len(events):
        return
    if held:
        raise StoreError(
            f"the destination holds {held} events of {day.isoformat()}, the source {len(events)}: "
            "events cannot be merged; copy into an empty store"
        )
    for event in events:
        target.enqueue_event(event)
    target.flush()


def _copy_identity(source: Store, target: Store) -> None:
    """The account key (pseudonyms stay valid) and the world, before any data."""
    key = account_key(source)
    if key is not None:
        if len(key) != _KEY_BYTES:
            raise StoreError("the source's account key is not a 32-byte key")
        if adopt_account_key(target, key) != key:
            raise StoreError(
                "the destination has an account key of its own: its pseudonyms would not match "
                "the source's; copy into an empty store"
            )
    world = world_document(source)
    if world is not None:
        held = world_document(target)
        if held is None:
            record_world(target, world)
        elif held.get("world") != world.get("world"):
            raise StoreError(
                f"the destination belongs to {held.get('description')}, the source to "
                f"{world.get('description')}: copy into an empty store"
            )


def copy_store(
    source: Store, target: Store, plan: CopyPlan, *, advance: Callable[[str], None]
) -> int:
    """Copy what ``plan`` lists from ``source`` to ``target``; bar pieces copied (not skipped).

    ``advance(description)`` is called after each unit (the progress bar).
    """
    _copy_identity(source, target)
    advance("account key and world")
    copied = 0
    for piece in plan.pieces:
        window = (piece.start, piece.end)
        if target.bar_gaps(piece.symbol, piece.bar_size, *window):
            table = source.read_bars_table(piece.symbol, *window, piece.bar_size)
            _write_piece(target, piece, table)
            copied += 1
        advance(f"bars {piece.symbol} {piece.bar_size.value} {piece.start:%Y-%m}")
    for symbol in plan.contracts:
        info = source.read_contract(symbol)
        if info is not None:
            target.write_contract(info)
        advance(f"contract {symbol}")
    for symbol in plan.fundamentals:
        for record in source.read_fundamentals(symbol):
            target.write_fundamental(symbol, record)
        advance(f"fundamentals {symbol}")
    for name in plan.states:
        state = source.load_strategy_state(name)
        if state is not None:
            target.save_strategy_state(name, state)
        advance(f"state {name}")
    for kind in plan.audit:
        _copy_audit(source, target, kind)
        advance(f"audit {kind}")
    for day, events in plan.event_days.items():
        _copy_events(target, day, events)
        advance(f"events {day.isoformat()}")
    return copied


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One thing that differs between the two stores."""

    what: str
    source: str
    target: str


def table_digest(table: pa.Table) -> str:
    """A SHA-256 of a bar table's values (not of its chunking or buffers)."""
    digest = hashlib.sha256()
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        digest.update(name.encode())
        digest.update(column.is_null().to_numpy(zero_copy_only=False).tobytes())
        if pa.types.is_string(column.type):
            digest.update("\x00".join(v or "" for v in column.to_pylist()).encode())
        else:
            if pa.types.is_timestamp(column.type):
                column = column.cast(pa.int64())
            filled = pc.fill_null(column, 0)
            digest.update(filled.to_numpy(zero_copy_only=False).tobytes())
    return digest.hexdigest()


def verify(source: Store, target: Store) -> list[Mismatch]:
    """What differs: bar counts, checksums and coverage, and every other record."""
    found: list[Mismatch] = []

    def differ(what: str, a: object, b: object) -> None:
        if a != b:
            found.append(Mismatch(what, str(a)[:80], str(b)[:80]))

    differ("symbols", source.symbols(), target.symbols())
    for symbol in source.symbols():
        for size in _sizes_of(source, symbol):
            a = source.read_bars_table(symbol, *ALL_TIME, size)
            b = target.read_bars_table(symbol, *ALL_TIME, size)
            differ(f"bars {symbol} {size.value}: count", a.num_rows, b.num_rows)
            differ(f"bars {symbol} {size.value}: sha256", table_digest(a), table_digest(b))
            differ(
                f"coverage {symbol} {size.value}",
                source.bar_coverage(symbol, size),
                target.bar_coverage(symbol, size),
            )
    for symbol in contract_symbols(source):
        differ(f"contract {symbol}", source.read_contract(symbol), target.read_contract(symbol))
    for symbol in fundamental_symbols(source):
        a_records, b_records = source.read_fundamentals(symbol), target.read_fundamentals(symbol)
        differ(f"fundamentals {symbol}: count", len(a_records), len(b_records))
        differ(f"fundamentals {symbol}", a_records, b_records)
    for name in strategy_names(source):
        differ(f"state {name}", source.load_strategy_state(name), target.load_strategy_state(name))
    for kind in audit_kinds(source):
        a_lines, b_lines = source.read_audit(kind), target.read_audit(kind)
        differ(f"audit {kind}: count", len(a_lines), len(b_lines))
        differ(f"audit {kind}", a_lines, b_lines)
    a_events, b_events = source.read_events(*ALL_TIME), target.read_events(*ALL_TIME)
    differ("events: count", len(a_events), len(b_events))
    differ("events", a_events, b_events)
    differ("account key", account_key(source), account_key(target))
    differ(
        "world",
        (world_document(source) or {}).get("world"),
        (world_document(target) or {}).get("world"),
    )
    return found
