"""The contract every fundamentals source fulfils, so the service can try them in order.

A source turns a symbol into point-in-time :class:`~ibbot.models.FundamentalData` records (each
``timestamp`` is when that view became known) or says it cannot:

- returns records: the source answered (IB: one snapshot received now; SEC: one record per filing
  date, the company's history). ``since`` asks only for records known after that instant (the
  service passes the latest one it has stored); a source may ignore it and return more.
- raises :class:`~ibbot.fundamentals.errors.SourceUnavailable`: nothing for this symbol here (IB's
  error 430 or an empty answer, a ticker the SEC does not know). Quiet: the next source is tried.
- raises another :class:`~ibbot.fundamentals.errors.FundamentalsError`: a failure, logged as one.

The IB adapter plugs in by implementing this protocol (``name = "ib"``), translating its own
"unavailable" error with ``raise SourceUnavailable(...) from exc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.models import FundamentalData

__all__ = ["FundamentalsSource"]


@runtime_checkable
class FundamentalsSource(Protocol):
    """Something that can answer "what is known about this company?" (see the module docstring)."""

    @property
    def name(self) -> str:
        """The source's name as settings and records spell it (``"ib"``, ``"sec"``)."""
        ...

    async def fetch(self, symbol: str, *, since: datetime | None = None) -> list[FundamentalData]:
        """Records for ``symbol`` (known after ``since`` when given), oldest first."""
        ...
