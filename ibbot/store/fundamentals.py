"""Point-in-time fundamentals in ``fundamentals/<SYMBOL>/<YYYY-MM-DD>.json``.

A day file is a JSON array of :class:`~ibbot.models.FundamentalData` records (``to_dict`` form,
with the raw document and the source), sorted by ``timestamp``: the moment the view became known.
A day may hold several records (several sources, report types, or refreshes). The key is
``(timestamp, source, report_type)``: writing the same key again replaces the record, so a retried
write is harmless. JSON rather than Parquet because each record carries a whole raw document
(IB's XML, SEC JSON) that a person debugging a parser wants to open and read.

Reads never look ahead: :meth:`FundamentalFiles.as_of` returns the latest record known at or
before the given instant, which is what a backtest needs to avoid using tomorrow's numbers today.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ibbot.errors import StoreError
from ibbot.models import FundamentalData, from_dict, to_dict
from ibbot.store.errors import InvalidStoreInput, utc_input
from ibbot.store.jsondoc import read_json, write_json
from ibbot.store.layout import StoreLayout

if TYPE_CHECKING:
    from datetime import date, datetime
    from pathlib import Path

    from ibbot.store.locks import KeyedLocks

__all__ = ["FundamentalFiles"]


def _key(record: FundamentalData) -> tuple[datetime, str, str]:
    return record.timestamp, record.source, record.report_type


class FundamentalFiles:
    """All fundamentals day files (see the module docstring for the rules)."""

    __slots__ = ("_layout", "_locks")

    def __init__(self, layout: StoreLayout, locks: KeyedLocks) -> None:
        self._layout = layout
        self._locks = locks

    def _days(self, symbol: str) -> list[date]:
        directory = self._layout.fundamentals_dir(symbol)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {directory}: {exc}") from exc
        days = (StoreLayout.parse_day_file(name, ".json") for name in names)
        return sorted(day for day in days if day is not None)

    def _load_day(self, symbol: str, day: date) -> list[FundamentalData]:
        path = self._layout.fundamentals_file(symbol, day)
        raw = read_json(path)
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise StoreError(f"foreign fundamentals file {path}: expected a JSON array of records")
        records = [self._decode(path, item) for item in raw]
        stray = next((r for r in records if r.symbol != symbol), None)
        if stray is not None:
            raise StoreError(
                f"foreign fundamentals file {path}: holds a record of {stray.symbol!r}"
            )
        return records

    @staticmethod
    def _decode(path: Path, item: Any) -> FundamentalData:
        if not isinstance(item, dict):
            raise StoreError(f"corrupt fundamentals file {path}: a record is not a JSON object")
        try:
            return from_dict(FundamentalData, item)
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"corrupt fundamentals file {path}: {exc}") from exc

    def write(self, symbol: str, data: FundamentalData) -> None:
        """Add ``data`` to the file of its UTC day, replacing a record with the same key."""
        symbol = StoreLayout.symbol(symbol)
        if data.symbol != symbol:
            raise InvalidStoreInput(
                f"fundamentals of {data.symbol!r} given to write_fundamental({symbol!r})"
            )
        day = data.timestamp.date()
        path = self._layout.fundamentals_file(symbol, day)
        with self._locks("fundamentals", symbol):
            records = [r for r in self._load_day(symbol, day) if _key(r) != _key(data)]
            records.append(data)
            records.sort(key=lambda r: r.timestamp)
            write_json(path, [to_dict(r) for r in records], what=f"fundamentals of {symbol}")

    @staticmethod
    def _matches(record: FundamentalData, source: str | None, report_type: str | None) -> bool:
        return (source is None or record.source == source) and (
            report_type is None or record.report_type == report_type
        )

    def as_of(
        self,
        symbol: str,
        as_of: datetime | None = None,
        *,
        source: str | None = None,
        report_type: str | None = None,
    ) -> FundamentalData | None:
        """The latest record with ``timestamp <= as_of`` (the latest of all when ``as_of`` is None).

        On equal timestamps the record written last wins. Day files are visited newest first and
        the search stops at the first day with a match, so a lookup reads one file or a few.
        """
        symbol = StoreLayout.symbol(symbol)
        limit = None if as_of is None else utc_input(as_of, "as_of")
        for day in reversed(self._days(symbol)):
            if limit is not None and day > limit.date():
                continue
            known = [
                r
                for r in self._load_day(symbol, day)
                if (limit is None or r.timestamp <= limit) and self._matches(r, source, report_type)
            ]
            if known:
                return known[-1]
        return None

    def history(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        source: str | None = None,
        report_type: str | None = None,
    ) -> list[FundamentalData]:
        """Every record with ``start <= timestamp < end`` (open bounds when None), in time order."""
        symbol = StoreLayout.symbol(symbol)
        lo = None if start is None else utc_input(start, "start")
        hi = None if end is None else utc_input(end, "end")
        found: list[FundamentalData] = []
        for day in self._days(symbol):
            if (lo is not None and day < lo.date()) or (hi is not None and day > hi.date()):
                continue
            found.extend(
                r
                for r in self._load_day(symbol, day)
                if (lo is None or r.timestamp >= lo)
                and (hi is None or r.timestamp < hi)
                and self._matches(r, source, report_type)
            )
        return found
