"""What can go wrong in a backtest or a bar import, split by whose fault it is.

:class:`BacktestInputError` is bad input from the user (a flag, a date range, a CSV file): the CLI
prints its one line and exits 2. Any other :class:`BacktestError` is a failure while running (no bars
to replay, a strategy that raised): one line, exit 1.
"""

from __future__ import annotations

from ibbot.errors import IbbotError

__all__ = ["BacktestError", "BacktestInputError"]


class BacktestError(IbbotError):
    """A backtest or an import could not complete; the message says why."""


class BacktestInputError(BacktestError, ValueError):
    """The user's input was refused before anything was run or written."""
