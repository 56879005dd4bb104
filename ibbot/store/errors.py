"""The store's refusal of bad input, beside the file-level :class:`~ibbot.errors.StoreError`."""

from __future__ import annotations

from ibbot.errors import StoreError

__all__ = ["InvalidStoreInput"]


class InvalidStoreInput(StoreError, ValueError):
    """The store refused its input before touching any file.

    Raised for names that cannot safely become paths (``"../x"``, ``""``, lower-case symbols),
    records that belong to another symbol, naive datetimes, empty ranges and values JSON cannot
    hold. It is also a :class:`ValueError`, so input validation can catch it as one.
    """
