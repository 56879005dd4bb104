"""Account ids outside the connection: a mask for people, a keyed pseudonym for files.

An IB account id names the person trading, so it is a secret (see :mod:`ibbot.settings`). ibbot
needs the raw id only where it talks to IB; everywhere else a person is shown the mask
(``DU****567``: the paper/live prefix and the last digits), and whatever ibbot writes at rest holds
the pseudonym ``DU****567#<16 hex digits>``: the mask, then an HMAC-SHA256 of the id under a random
key kept beside the files (created on first use, mode 0600). The same id always gets the same
pseudonym under one key, so ibbot still tells its own fills and saved state from another account's;
without the key nobody can recover the id by hashing every account number (ids are short numbers,
so a bare hash can be reversed in seconds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import threading
import types
import typing
from collections.abc import Mapping
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from ibbot.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["ACCOUNT_FIELD", "AccountKeyError", "AccountPseudonyms", "is_pseudonym", "mask_account"]

ACCOUNT_FIELD: Final = "account"
"""The name every model and record gives an account id (``Fill.account``, ``Position.account``)."""

_KEY_BYTES: Final = 32
_DIGEST_CHARS: Final = 16
_SHOWN_TAIL: Final = 3
_PREFIX: Final = re.compile(r"[A-Za-z]{0,2}")
_PSEUDONYM: Final = re.compile(rf"[A-Za-z0-9*]*#[0-9a-f]{{{_DIGEST_CHARS}}}")
# Deeper than any record ibbot writes; the store refuses documents nested deeper anyway.
_MAX_DEPTH: Final = 64
_ATOMS: Final = (str, bytes, int, float, type(None), date, Enum)


class AccountKeyError(StoreError):
    """The key file is not a key, or cannot be read or created (the message names it)."""


def mask_account(account: str) -> str:
    """``DU1234567`` as ``DU****567``: the letters of its prefix and its last three characters."""
    head = _PREFIX.match(account)
    prefix = head.group() if head else ""
    rest = account[len(prefix) :]
    tail = rest[-_SHOWN_TAIL:] if len(rest) > _SHOWN_TAIL else ""
    return prefix + "*" * max(1, len(rest) - len(tail)) + tail


def is_pseudonym(text: str) -> bool:
    """True for a value :meth:`AccountPseudonyms.pseudonym` returns (it never looks like an id)."""
    return _PSEUDONYM.fullmatch(text) is not None


class AccountPseudonyms:
    """Pseudonyms of account ids under the key in ``key_file`` (thread-safe; key read once)."""

    __slots__ = ("_cache", "_key", "_key_file", "_lock")

    def __init__(self, key_file: Path | Callable[[], bytes]) -> None:
        """``key_file``: the key's file, or a function returning the key (a database's row)."""
        self._key_file = key_file
        self._key: bytes | None = None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def pseudonym(self, account: str) -> str:
        """``account``'s pseudonym; ``""`` and pseudonyms are returned as they are."""
        if not account or is_pseudonym(account):
            return account
        with self._lock:
            found = self._cache.get(account)
            if found is None:
                if self._key is None:
                    source = self._key_file
                    self._key = source() if callable(source) else _read_or_create_key(source)
                digest = hmac.new(self._key, account.encode(), hashlib.sha256).hexdigest()
                found = f"{mask_account(account)}#{digest[:_DIGEST_CHARS]}"
                self._cache[account] = found
            return found

    def scrub(self, value: Any) -> Any:
        """``value`` with the string in every ``account`` field replaced by its pseudonym.

        Fields of mappings and dataclasses count, at any depth (lists and tuples are walked); the
        result shares everything that did not change, and is ``value`` itself when nothing did.
        """
        return self._scrub(value, 0)

    def _scrub(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            return value
        # A dataclass of a type seen before costs one lookup (events are scrubbed by the thousand).
        walk = _FIELDS_TO_WALK.get(type(value))
        if walk is None:
            if isinstance(value, _ATOMS):
                return value
            if isinstance(value, Mapping):
                items = [(key, self._field(key, item, depth)) for key, item in value.items()]
                if all(new is value[key] for key, new in items):
                    return value
                return dict(items)
            if isinstance(value, list | tuple):
                scrubbed = [self._scrub(item, depth + 1) for item in value]
                if all(new is old for new, old in zip(scrubbed, value, strict=True)):
                    return value
                return scrubbed if isinstance(value, list) else tuple(scrubbed)
            if not dataclasses.is_dataclass(value) or isinstance(value, type):
                return value
            walk = _fields_to_walk(type(value))
        changes = {}
        for name in walk:
            old = getattr(value, name)
            new = self._field(name, old, depth)
            if new is not old:
                changes[name] = new
        return dataclasses.replace(value, **changes) if changes else value

    def _field(self, name: object, value: Any, depth: int) -> Any:
        if name == ACCOUNT_FIELD and isinstance(value, str):
            return self.pseudonym(value)
        return self._scrub(value, depth + 1)


# Per dataclass type, the fields that may hold an account: its ``account`` field and those whose
# annotation is not a plain value (a bar or a tick has none, so scrubbing one costs a lookup).
_FIELDS_TO_WALK: dict[type, tuple[str, ...]] = {}


def _fields_to_walk(cls: type) -> tuple[str, ...]:
    found = _FIELDS_TO_WALK.get(cls)
    if found is None:
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError):  # an annotation that does not resolve: walk every field
            hints = {}
        found = tuple(
            field.name
            for field in dataclasses.fields(cls)
            if field.name == ACCOUNT_FIELD or not _plain(hints.get(field.name))
        )
        _FIELDS_TO_WALK[cls] = found
    return found


def _plain(hint: Any) -> bool:
    """True when a value of annotation ``hint`` can hold no record (None: unknown, so False)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return all(_plain(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return True
    return isinstance(hint, type) and issubclass(hint, _ATOMS)


def _read_or_create_key(path: Path) -> bytes:
    """The key in ``path``, created first when there is none (published atomically, mode 0600)."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountKeyError(f"cannot read the account key {path}: {exc}") from exc
    if not text:
        try:
            _create_key(path)
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise AccountKeyError(f"cannot create the account key {path}: {exc}") from exc
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise AccountKeyError(
            f"{path} is not an account key ({_KEY_BYTES * 2} hex digits); move it aside to start a "
            "new one (saved state then belongs to no account and starts afresh)"
        )
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # Publishing by a hard link fails if another process made the key first: theirs wins.
            os.link(temporary, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new name survives a crash, or pseudonyms would change
    finally:
        os.close(directory)
