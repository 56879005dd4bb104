"""The store's refusal of bad input, beside the file-level :class:`~ibbot.errors.StoreError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibbot.clock import ensure_utc
from ibbot.errors import StoreError

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["InvalidStoreInput", "utc_input"]


class InvalidStoreInput(StoreError, ValueError):
    """The store refused its input before touching any file.

    Raised for names that cannot safely become paths (``"../x"``, ``""``, lower-case symbols),
    records that belong to another symbol, naive datetimes, empty ranges and values JSON cannot
    hold. It is also a :class:`ValueError`, so input validation can catch it as one.
    """


def utc_input(value: datetime, name: str) -> datetime:
    """``value`` in UTC, or :class:`InvalidStoreInput` naming ``name`` (a naive datetime)."""
    try:
        return ensure_utc(value, field=name)
    except ValueError as exc:
        raise InvalidStoreInput(str(exc)) from exc
