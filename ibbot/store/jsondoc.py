"""Whole-file JSON documents (state, contracts, fundamentals days), written atomically.

JSON is the format where a person opening the file should be able to read it, and where records
carry free-form content (IB's raw XML, strategy state). Anything that cannot be read back is a
:class:`StoreError` naming the file, never an empty result.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ibbot.errors import StoreError
from ibbot.models import to_dict
from ibbot.store.atomic import atomic_write_bytes
from ibbot.store.errors import InvalidStoreInput

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["dumps", "read_json", "write_json"]


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, what: str) -> str:
    """Compact JSON of ``value`` (models, enums and datetimes included); ``what`` names it in errors."""
    try:
        return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidStoreInput(f"{what} cannot be stored as JSON: {exc}") from exc


def read_json(path: Path) -> Any | None:
    """The parsed content of ``path``, or None when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"corrupt JSON file {path}: {exc}") from exc


def write_json(path: Path, value: Any, *, what: str) -> None:
    """Replace ``path`` with the JSON of ``value``, atomically."""
    atomic_write_bytes(path, dumps(value, what=what).encode())
