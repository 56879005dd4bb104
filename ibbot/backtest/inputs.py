"""Parsing what a user types for a backtest or an import: symbols, bar sizes, zones, dates, params.

Each parser returns the typed value or raises :class:`BacktestInputError` with one line that says
what was wrong and what is expected, which the CLI prints before exiting 2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ibbot.backtest.errors import BacktestInputError
from ibbot.models import BarSize
from ibbot.safeload import load_json
from ibbot.settings.model import MAX_DEPTH, MAX_TEXT
from ibbot.store.errors import InvalidStoreInput
from ibbot.store.layout import StoreLayout

__all__ = [
    "parse_bar_size",
    "parse_date",
    "parse_param",
    "parse_symbol",
    "parse_timezone",
]


def parse_symbol(text: str) -> str:
    """An IB-style symbol, upper-cased (``aapl`` is ``AAPL``), that the store accepts."""
    try:
        return StoreLayout.symbol(text.strip().upper())
    except InvalidStoreInput as exc:
        raise BacktestInputError(str(exc)) from exc


def parse_bar_size(text: str) -> BarSize:
    """IB's bar size spelling (``"1 day"``, ``"5 mins"``) or a common variant (``"1d"``)."""
    try:
        return BarSize.parse(text)
    except ValueError as exc:
        raise BacktestInputError(str(exc)) from exc


def parse_timezone(text: str) -> ZoneInfo:
    """An IANA time zone name, e.g. ``America/New_York``."""
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BacktestInputError(
            f"unknown time zone {text!r}: expected an IANA name such as America/New_York"
        ) from exc


def parse_date(text: str, *, option: str) -> datetime:
    """``YYYY-MM-DD`` as midnight UTC of that day."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise BacktestInputError(f"{option}: expected a date YYYY-MM-DD, got {text!r}") from exc
    return datetime.combine(day, time(0), UTC)


def parse_param(text: str) -> tuple[str, str, Any]:
    """``NAME.KEY=VALUE`` as ``(name, key, value)``; VALUE is JSON when it parses, else text.

    So ``fast=10`` gives the integer 10, ``symbols=["AAPL"]`` a list, ``symbols=AAPL,MSFT`` the
    text the strategy's own validation splits, and ``bar_size=1 day`` the text ``"1 day"``.
    """
    target, sep, raw = text.partition("=")
    name, dot, key = target.strip().rpartition(".")
    if not sep or not dot or not name or not key.isidentifier():
        raise BacktestInputError(
            f"--param: expected NAME.KEY=VALUE (e.g. sma_cross.fast=10), got {text!r}"
        )
    try:
        value: Any = load_json(raw, max_chars=MAX_TEXT, max_depth=MAX_DEPTH)
    except ValueError:
        value = raw
    return name, key, value
