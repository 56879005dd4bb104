"""Walk-forward folds: ``--walk-forward TRAIN/TEST`` (e.g. ``3y/1y``) cut into rolling windows.

Fold k trains on ``[start + k x TEST, start + k x TEST + TRAIN)`` and tests on the TEST that follows;
folds roll forward by TEST until a test window would pass the end of the period (the last one is
cut at the end when at least half of it fits). Lengths are ``Ny`` (years), ``Nm`` (months) or ``Nd``
(days), calendar lengths from each window's start, so ``1y`` from 2020-02-29 ends 2021-02-28.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ibbot.backtest.errors import BacktestInputError

__all__ = ["Fold", "Span", "folds", "parse_walk_forward"]

_SPAN = re.compile(r"^\s*(\d{1,4})\s*([ymd])\s*$")
_MAX_FOLDS: Final = 1_000


@dataclass(frozen=True, slots=True)
class Span:
    """A calendar length: ``count`` years, months or days."""

    count: int
    unit: str

    def after(self, moment: datetime) -> datetime:
        """``moment`` moved forward by this length (month ends clamp: Jan 31 + 1m is Feb 28/29)."""
        if self.unit == "d":
            return moment + timedelta(days=self.count)
        months = self.count * (12 if self.unit == "y" else 1)
        index = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(index, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward fold: parameters chosen on ``[train_start, train_end)``, then run on
    ``[test_start, test_end)`` (``train_end == test_start``)."""

    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime


def _span(text: str) -> Span:
    match = _SPAN.match(text)
    if match is None or int(match.group(1)) == 0:
        raise BacktestInputError(
            f"--walk-forward: expected lengths like 3y, 18m or 90d, got {text.strip()!r}"
        )
    return Span(int(match.group(1)), match.group(2))


def parse_walk_forward(text: str) -> tuple[Span, Span]:
    """``TRAIN/TEST`` as two spans, e.g. ``3y/1y``."""
    train, sep, test = text.partition("/")
    if not sep:
        raise BacktestInputError(f"--walk-forward: expected TRAIN/TEST such as 3y/1y, got {text!r}")
    return _span(train), _span(test)


def folds(start: datetime, end: datetime, train: Span, test: Span) -> list[Fold]:
    """The folds that fit in ``[start, end)`` (see the module docstring); at least one, or an error."""
    out: list[Fold] = []
    origin = start
    while len(out) < _MAX_FOLDS:
        train_end = train.after(origin)
        test_end = test.after(train_end)
        if test_end > end:
            if (end - train_end) * 2 >= test_end - train_end and end > train_end:
                out.append(Fold(len(out), origin, train_end, train_end, end))
            break
        out.append(Fold(len(out), origin, train_end, train_end, test_end))
        # from the start each time, so month-end clamping does not accumulate
        origin = Span(test.count * len(out), test.unit).after(start)
    if not out:
        raise BacktestInputError(
            f"--walk-forward {train}/{test}: the period {start.date()} .. "
            f"{(end - timedelta(days=1)).date()} is too short for one fold"
        )
    return out
