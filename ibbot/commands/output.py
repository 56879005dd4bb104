"""Command output on stdout: a rich console whose tables are never cut when the output is piped.

Off a terminal rich assumes 80 columns and shortens cells to fit (``…``); piped into a file, a
pager or ``grep``, a row should rather stay whole on its line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PIPED_WIDTH", "stdout_console"]

PIPED_WIDTH: Final = 1_000
"""Columns a table may use when stdout is not a terminal (no table of ibbot's is wider)."""


def stdout_console() -> Console:
    """A console on stdout: the terminal's width on a terminal, :data:`PIPED_WIDTH` otherwise."""
    from rich.console import Console  # noqa: PLC0415 - keeps `ibbot --help` fast

    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)
