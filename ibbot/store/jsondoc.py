"""Whole-file JSON documents (state, contracts, fundamentals days), written atomically.

JSON is the format where a person opening the file should be able to read it, and where records
carry free-form content (IB's raw XML, strategy state). Anything that cannot be read back is a
:class:`StoreError` naming the file, never an empty result. Documents are bounded in size and
nesting both ways: a write the store could not read back is refused, and a file over the limits
(crafted, or not ours) is refused unparsed rather than read into memory or recursed into.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ibbot.errors import StoreError
from ibbot.models import to_dict
from ibbot.safeload import DEFAULT_MAX_DEPTH, LoadError, check_json_depth, load_json, read_limited
from ibbot.store.atomic import atomic_write_bytes
from ibbot.store.errors import InvalidStoreInput

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MAX_DEPTH", "MAX_DOCUMENT", "dumps", "loads", "read_json", "write_json"]

MAX_DOCUMENT = 64 << 20
"""The largest JSON document (file or audit line) the store writes or reads, in bytes."""
MAX_DEPTH = DEFAULT_MAX_DEPTH
"""How deep arrays and objects may nest in a document the store writes or reads."""


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
        text = json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
        if len(text) > MAX_DOCUMENT:
            raise LoadError(f"larger than {MAX_DOCUMENT} bytes")
        check_json_depth(text, MAX_DEPTH)
    except RecursionError:
        raise InvalidStoreInput(
            f"{what} cannot be stored as JSON: nested deeper than {MAX_DEPTH} levels"
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidStoreInput(f"{what} cannot be stored as JSON: {exc}") from exc
    return text


def loads(data: str | bytes) -> Any:
    """The value of one JSON document the store wrote; :class:`LoadError` if it is not one."""
    return load_json(data, max_chars=MAX_DOCUMENT, max_depth=MAX_DEPTH)


def read_json(path: Path) -> Any | None:
    """The parsed content of ``path``, or None when the file does not exist."""
    try:
        data = read_limited(path, max_bytes=MAX_DOCUMENT)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    except LoadError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None
    try:
        return loads(data)
    except LoadError as exc:
        raise StoreError(f"corrupt JSON file {path}: {exc}") from None


def write_json(path: Path, value: Any, *, what: str) -> None:
    """Replace ``path`` with the JSON of ``value``, atomically."""
    atomic_write_bytes(path, dumps(value, what=what).encode())
