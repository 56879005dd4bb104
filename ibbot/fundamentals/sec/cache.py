"""An on-disk cache of the SEC's answers, with what is needed to revalidate them.

Each URL has one file: a JSON header line (URL, ETag, Last-Modified, when it was fetched and when it
was last confirmed current) and then the body exactly as received. Files are written atomically, so
a crash leaves the previous answer or the new one, never half of one. A file that cannot be read
back is dropped (with a warning) and the URL is simply fetched again: the cache only ever saves
requests, it is never the only copy of anything.

Methods do blocking file I/O: callers on the event loop run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.clock import ensure_utc
from ibbot.errors import StoreError
from ibbot.safeload import load_json
from ibbot.store.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CachedResponse", "ResponseCache"]

log = structlog.get_logger(__name__)

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX: Final = ".cache"
# The header line: a URL, two validators and two times.
_MAX_HEADER: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored answer. ``checked_at``: when the SEC last confirmed it current (200 or 304)."""

    url: str
    body: bytes
    etag: str | None
    last_modified: str | None
    fetched_at: datetime
    checked_at: datetime


class ResponseCache:
    """The cache directory (created on first save)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, url: str) -> Path:
        """The file of ``url``: its host and path, made safe for a file name (readable on purpose)."""
        name = _UNSAFE.sub("_", url.split("://", 1)[-1]).strip("_")
        return self.directory / f"{name}{_SUFFIX}"

    def load(self, url: str) -> CachedResponse | None:
        """The stored answer for ``url``, or None (never stored, or unreadable and dropped)."""
        path = self.path_for(url)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("sec.cache_unreadable", path=str(path), reason=str(exc))
            return None
        header, newline, body = data.partition(b"\n")
        try:
            if not newline:
                raise ValueError("no header line")  # noqa: TRY301 - one handler for every defect
            meta: Any = load_json(header, max_chars=_MAX_HEADER)
            entry = CachedResponse(
                url=str(meta["url"]),
                body=body,
                etag=meta.get("etag"),
                last_modified=meta.get("last_modified"),
                fetched_at=ensure_utc(datetime.fromisoformat(meta["fetched_at"])),
                checked_at=ensure_utc(datetime.fromisoformat(meta["checked_at"])),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("sec.cache_entry_dropped", path=str(path), reason=str(exc))
            self.discard(url)
            return None
        if entry.url != url:
            log.warning("sec.cache_entry_dropped", path=str(path), reason="written for another URL")
            return None
        return entry

    def save(self, entry: CachedResponse) -> None:
        """Store ``entry`` atomically (replacing the previous answer for its URL)."""
        header = json.dumps(
            {
                "url": entry.url,
                "etag": entry.etag,
                "last_modified": entry.last_modified,
                "fetched_at": entry.fetched_at.isoformat(),
                "checked_at": entry.checked_at.isoformat(),
            },
            separators=(",", ":"),
        ).encode()
        path = self.path_for(entry.url)
        try:
            atomic_write_bytes(path, header + b"\n" + entry.body)
        except StoreError as exc:
            # A cache that cannot be written costs requests later, not data now.
            log.warning("sec.cache_not_written", path=str(path), reason=str(exc))

    def discard(self, url: str) -> None:
        """Forget ``url`` (no error when it was not stored)."""
        self.path_for(url).unlink(missing_ok=True)
