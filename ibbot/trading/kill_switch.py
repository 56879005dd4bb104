"""The global kill switch: a file whose existence stops every new order, or an explicit engage().

The file lets an operator stop trading from a shell (``touch data/KILL``) without reaching the
process. Its existence is checked at most once per ``check_interval`` seconds of the injected
monotonic clock, so asking before every order costs a comparison, not a system call.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["KillSwitch"]


class KillSwitch:
    """Engaged while the file exists or after :meth:`engage`, until :meth:`release`.

    A file whose existence cannot be determined (permissions, I/O error) counts as present:
    when in doubt, stop trading.
    """

    __slots__ = ("_checked_at", "_file_present", "_interval", "_manual", "_monotonic", "path")

    def __init__(
        self,
        path: Path | None,
        *,
        monotonic: Callable[[], float],
        check_interval: float = 1.0,
    ) -> None:
        if check_interval < 0:
            raise ValueError(f"check_interval must not be negative, got {check_interval}")
        self.path = path
        self._monotonic = monotonic
        self._interval = check_interval
        self._checked_at: float | None = None
        self._file_present = False
        self._manual: str | None = None

    def engaged(self) -> bool:
        """True when new orders must be refused."""
        if self._manual is not None:
            return True
        if self.path is None:
            return False
        now = self._monotonic()
        if self._checked_at is None or now - self._checked_at >= self._interval:
            self._checked_at = now
            self._file_present = _exists(self.path)
        return self._file_present

    @property
    def reason(self) -> str:
        """Why the switch is engaged (as of the last check), or ``""``."""
        if self._manual is not None:
            return self._manual
        if self._file_present and self.path is not None:
            return f"kill switch file {self.path} exists"
        return ""

    def engage(self, reason: str) -> None:
        """Stop new orders until :meth:`release`, whatever the file says."""
        self._manual = reason or "kill switch engaged"

    def release(self) -> None:
        """Undo :meth:`engage`; the file, if configured, still counts."""
        self._manual = None

    def recheck(self) -> None:
        """Look at the file again on the next :meth:`engaged` (after changing it)."""
        self._checked_at = None


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True
