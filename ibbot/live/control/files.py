"""How a client finds the running service: ``control.json`` (where it listens) and
``control.token`` (the run's token), both under the store's root and readable by their owner only.

Each is written to a temporary file that is created with mode 0600 (``mkstemp``), filled, then
renamed over the old one: no reader ever sees a half-written file or a moment where the content
is readable by others. The token is written before ``control.json`` names the endpoint, and removed
after it, so a client that finds the endpoint finds its token too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ibbot.errors import IbbotError
from ibbot.safeload import load_json_file, read_limited

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CONTROL_FILE",
    "TOKEN_FILE",
    "ControlEndpoint",
    "publish_endpoint",
    "read_control_file",
    "withdraw_endpoint",
]

CONTROL_FILE: Final = "control.json"
"""Where the endpoint's address is written, under the store's root."""

TOKEN_FILE: Final = "control.token"  # noqa: S105 - the file's name, not a token
"""Where the run's token is written, beside :data:`CONTROL_FILE`."""

_LONGEST_FILE: Final = 4_096  # either file is a line; anything longer is not ours
_URL: Final = re.compile(r"http://127\.0\.0\.1:[0-9]{1,5}")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_\-]{16,256}")


@dataclass(frozen=True, slots=True)
class ControlEndpoint:
    """A running service's control endpoint: its URL and the token its changes need."""

    url: str
    token: str


def publish_endpoint(directory: Path, *, url: str, token: str) -> None:
    """Write the token, then ``control.json`` naming ``url`` (both 0600, atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(directory / TOKEN_FILE, token + "\n")
    document = {"url": url, "pid": os.getpid(), "token_file": TOKEN_FILE}
    _write_private(directory / CONTROL_FILE, json.dumps(document) + "\n")


def withdraw_endpoint(directory: Path) -> None:
    """Remove ``control.json``, then the token (missing files are fine)."""
    for name in (CONTROL_FILE, TOKEN_FILE):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()


def read_control_file(directory: Path) -> ControlEndpoint:
    """The endpoint of the service running on ``directory``; :class:`IbbotError` when none runs."""
    path = directory / CONTROL_FILE
    try:
        data = load_json_file(path, max_bytes=_LONGEST_FILE, max_depth=2)
    except FileNotFoundError:
        raise IbbotError(
            f"no running ibbot found: {path} does not exist (is `ibbot run` running with this "
            "store.path, and app.control_port not off?)"
        ) from None
    except (OSError, ValueError) as exc:
        raise IbbotError(f"cannot read {path}: {exc}") from exc
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not _URL.fullmatch(url):
        raise IbbotError(f"{path} names no loopback url (http://127.0.0.1:PORT)")
    token_path = directory / TOKEN_FILE
    try:
        token = read_limited(token_path, max_bytes=_LONGEST_FILE).decode("ascii").strip()
    except (OSError, ValueError) as exc:
        raise IbbotError(
            f"cannot read the control token {token_path}: {exc} (run as the user running ibbot)"
        ) from exc
    if not _TOKEN.fullmatch(token):
        raise IbbotError(f"{token_path} holds no control token")
    return ControlEndpoint(url, token)


def _write_private(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
