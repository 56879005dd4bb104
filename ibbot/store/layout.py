"""Where each kind of record lives under the store's root, and which names may become paths.

Symbols, strategy names and audit kinds end up as file and directory names, so they are checked
before any path is built: a name like ``"../etc"`` or ``""`` must never reach the file system.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ibbot.models import BarSize
from ibbot.store.errors import InvalidStoreInput
from ibbot.store.ranges import month_start, next_month
from ibbot.store.spans import span_of

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BARS_KEY", "SYMBOL_KEY", "StoreLayout", "bar_dir_name", "month_start", "next_month"]

BARS_KEY = "bars"
"""The Hive partition key of a bar size's directory: ``prices/bars=1d/``."""
SYMBOL_KEY = "symbol"
"""The Hive partition key of a symbol's directory: ``prices/bars=1d/symbol=AAPL/``."""

# IB symbols are upper case and may hold a dot, a dash or a space (share classes: "BRK B", "BF.B").
# First and last characters must be alphanumeric, so "." / ".." and hidden names are impossible.
_SYMBOL = re.compile(r"[A-Z0-9](?:[A-Z0-9. \-]{0,30}[A-Z0-9])?")
_STRATEGY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
_AUDIT_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MONTH_FILE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])\.parquet")
_PARQUET = ".parquet"
# IB's unit words as short, shell-friendly directory names: "1 day" -> "1d", "5 mins" -> "5min".
_UNIT_NAMES = {"sec": "s", "min": "min", "hour": "h", "day": "d", "week": "w", "month": "mo"}
_DAY_STEM = re.compile(r"\d{4}-\d{2}-\d{2}")
_EVENT_PART = re.compile(r"(\d{4}-\d{2}-\d{2})-part-(\d{6})\.parquet")


def _checked(kind: str, value: object, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidStoreInput(f"invalid {kind} {value!r} for the data store: {rule}")
    return str(value)


def bar_dir_name(size: BarSize) -> str:
    """The directory name of ``size`` (``"1d"``, ``"5min"``, ``"1h"``...): safe on every file system."""
    count, unit = size.value.split()
    return f"{count}{_UNIT_NAMES[unit.rstrip('s')]}"


_BAR_DIRS = {f"{BARS_KEY}={bar_dir_name(size)}": size for size in BarSize}


class StoreLayout:
    """The path of every file the store writes, relative to one root directory.

    ``prices/bars=<size>/symbol=<SYMBOL>/<span>.parquet`` (see :mod:`ibbot.store.spans`),
    ``fundamentals/<SYMBOL>/<YYYY-MM-DD>.json``,
    ``events/<YYYY-MM-DD>.parquet`` (plus ``<YYYY-MM-DD>-part-<NNNNNN>.parquet`` until compacted),
    ``contracts/<SYMBOL>.json``, ``state/<strategy>.json`` (and ``state/account.key``) and
    ``audit/<kind>/<YYYY-MM-DD>.jsonl``.
    Months and days are UTC.
    """

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def symbol(value: str) -> str:
        """``value`` if it is a valid IB-style symbol, else :class:`InvalidStoreInput`."""
        return _checked(
            "symbol",
            value,
            _SYMBOL,
            "use upper-case letters, digits, '.', '-' or ' ' (1-32 characters, "
            "starting and ending with a letter or digit)",
        )

    @staticmethod
    def strategy(value: str) -> str:
        """``value`` if it is a valid strategy name, else :class:`InvalidStoreInput`."""
        return _checked(
            "strategy name",
            value,
            _STRATEGY,
            "use letters, digits, '_' or '-' (1-64 characters, starting with a letter or digit)",
        )

    @staticmethod
    def audit_kind(value: str) -> str:
        """``value`` if it is a valid audit kind, else :class:`InvalidStoreInput`."""
        return _checked(
            "audit kind",
            value,
            _AUDIT_KIND,
            "use lower-case letters, digits or '_' (starting with a letter)",
        )

    @property
    def prices(self) -> Path:
        """Directory of all bar files: one ``bars=<size>`` sub-directory per bar size."""
        return self.root / "prices"

    def bars_dir(self, size: BarSize) -> Path:
        """Directory of one bar size of every symbol: reads as one Hive-partitioned dataset."""
        return self.prices / f"{BARS_KEY}={bar_dir_name(size)}"

    def price_dir(self, symbol: str, size: BarSize) -> Path:
        """Directory of one symbol's files of one bar size."""
        return self.bars_dir(size) / f"{SYMBOL_KEY}={self.symbol(symbol)}"

    def price_file(self, symbol: str, size: BarSize, span_start: datetime) -> Path:
        """The file holding every ``size`` bar of ``symbol`` in the span starting at ``span_start``."""
        return self.price_dir(symbol, size) / f"{span_of(size).stem(span_start)}{_PARQUET}"

    @staticmethod
    def parse_price_file(name: str, size: BarSize) -> datetime | None:
        """The span start a ``size`` file name stands for, or None for any other name (temp files...)."""
        if not name.endswith(_PARQUET):
            return None
        return span_of(size).parse_stem(name[: -len(_PARQUET)])

    @staticmethod
    def parse_bars_dir(name: str) -> BarSize | None:
        """The bar size a ``bars=<size>`` directory name stands for, or None."""
        return _BAR_DIRS.get(name)

    @classmethod
    def parse_symbol_dir(cls, name: str) -> str | None:
        """The symbol a ``symbol=<SYMBOL>`` directory name stands for, or None."""
        key, sep, value = name.partition("=")
        if not sep or key != SYMBOL_KEY:
            return None
        try:
            return cls.symbol(value)
        except InvalidStoreInput:
            return None

    def legacy_price_dir(self, symbol: str) -> Path:
        """Where layouts before bar-size directories kept a symbol's month files (all sizes)."""
        return self.prices / self.symbol(symbol)

    @staticmethod
    def parse_legacy_price_file(name: str) -> datetime | None:
        """The month a legacy ``<YYYY-MM>.parquet`` name stands for, or None for any other name."""
        match = _MONTH_FILE.fullmatch(name)
        if match is None:
            return None
        return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)

    def fundamentals_dir(self, symbol: str) -> Path:
        """Directory of one symbol's fundamentals, one JSON file per UTC day."""
        return self.root / "fundamentals" / self.symbol(symbol)

    def fundamentals_file(self, symbol: str, day: date) -> Path:
        """The file holding every fundamentals record of ``symbol`` known on ``day``."""
        return self.fundamentals_dir(symbol) / f"{day.isoformat()}.json"

    @staticmethod
    def parse_day_file(name: str, suffix: str) -> date | None:
        """The day a ``<YYYY-MM-DD><suffix>`` name stands for, or None for any other name."""
        if not name.endswith(suffix):
            return None
        stem = name[: -len(suffix)]
        if _DAY_STEM.fullmatch(stem) is None:
            return None
        try:
            return date.fromisoformat(stem)
        except ValueError:
            return None

    @property
    def events(self) -> Path:
        """Directory of event files."""
        return self.root / "events"

    def events_file(self, day: date) -> Path:
        """The compacted file of one UTC day's events."""
        return self.events / f"{day.isoformat()}.parquet"

    def events_part(self, day: date, seq: int) -> Path:
        """One flushed batch of a day's events, waiting to be compacted into the day file."""
        return self.events / f"{day.isoformat()}-part-{seq:06d}.parquet"

    @staticmethod
    def parse_events_part(name: str) -> tuple[date, int] | None:
        """``(day, seq)`` of a part file name, or None for any other name."""
        match = _EVENT_PART.fullmatch(name)
        if match is None:
            return None
        try:
            return date.fromisoformat(match[1]), int(match[2])
        except ValueError:
            return None

    @property
    def contracts(self) -> Path:
        """Directory of contract descriptions, one JSON file per symbol."""
        return self.root / "contracts"

    def contract_file(self, symbol: str) -> Path:
        """The latest :class:`~ibbot.models.ContractInfo` of ``symbol``."""
        return self.contracts / f"{self.symbol(symbol)}.json"

    def state_file(self, strategy: str) -> Path:
        """One strategy's saved state."""
        return self.root / "state" / f"{self.strategy(strategy)}.json"

    @property
    def account_key_file(self) -> Path:
        """The key of the account pseudonyms the store writes (see :mod:`ibbot.accounts`)."""
        return self.root / "state" / "account.key"

    def audit_dir(self, kind: str) -> Path:
        """Directory of one audit kind's daily JSONL files."""
        return self.root / "audit" / self.audit_kind(kind)

    def audit_file(self, kind: str, day: date) -> Path:
        """One UTC day of one audit kind."""
        return self.audit_dir(kind) / f"{day.isoformat()}.jsonl"
