"""Reading OHLCV bars from a user's CSV file, with every bad row reported by its line number.

The file needs a header naming the columns ``Date`` or ``Datetime``, ``Open``, ``High``, ``Low``,
``Close`` and ``Volume`` (any case, any order; other columns are ignored). Times are ISO 8601:
``2024-01-02``, ``2024-01-02 09:30``, ``2024-01-02T09:30:00-05:00`` or ``...Z``. A time without an
offset is in ``timezone`` (US/Eastern by default, where US stocks trade).

An adjusted-close column (``Adj Close``, ``Adjusted Close``, ``adj_close``...: Yahoo's, adjusted
for splits and dividends) is used only when asked (``adjusted``): each bar's open, high, low and
close are then scaled by that row's ``adjusted close / close``, so the bar keeps its shape at the
adjusted level and the close is the adjusted close; the volume is kept as it is. Otherwise the
column is left out and :attr:`CsvBars.adjusted_column` names it, so the caller can say so.

Rows of a daily file (the default bar size) that fall on the same trading date at different times
are intraday bars: reading stops at the first such pair with one error that asks for the bar size
(and suggests the one their spacing matches), instead of one "repeats" error per row.

Where bars land in time follows the broker's convention, so imported and collected bars share keys
in the store: a daily (or weekly, monthly) bar starts at midnight UTC of its trading date, the date
the row names in ``timezone``; an intraday bar starts at the row's instant, converted to UTC.

A row is bad when a field cannot be parsed (or is missing, or not finite), a price is not positive,
``high < low``, the open or close lies outside ``low..high``, the volume is negative, its time
falls outside the years 1900 to 2200 or repeats an earlier row's, or an intraday file gives a date
without a time. Blank lines are skipped. Reading never writes: the caller decides whether the bad
rows are few enough to import the rest.

Memory stays bounded whatever the file holds: it is read line by line with a cap on a row's length
(a file without line breaks is refused after its first ``_LONGEST_ROW`` characters, not read whole),
and only the first bad rows are kept, the others counted.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Protocol

from ibbot.backtest.errors import BacktestInputError
from ibbot.models import BarSize, PriceBar

if TYPE_CHECKING:
    from pathlib import Path
    from zoneinfo import ZoneInfo

__all__ = ["BadRow", "CsvBars", "TextSource", "read_bar_csv", "read_bar_lines"]

_TIME_COLUMNS = ("datetime", "date")
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
# Spellings of an adjusted-close column, compared without case, spaces, "_" and ".".
_ADJUSTED_COLUMNS = frozenset({"adjclose", "adjustedclose"})
_DATE_ONLY_LENGTH = len("2024-01-02")
# A bar row is well under a hundred characters and a header a few hundred; a row (a quoted field may
# span lines) longer than this is not a CSV file of bars, and is refused before it fills memory.
_LONGEST_ROW = 64 * 1024
# The bad rows kept with their reasons; further ones are only counted.
_KEPT_BAD_ROWS = 100
# Bars before 1900 or after 2200 are typing errors; beyond year 1 or 9999, shifting them to UTC fails.
_FIRST_YEAR = 1900
_LAST_YEAR = 2200
# How much of a bad value a reason quotes.
_EXCERPT = 40


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was not imported: its line number in the file (1 is the header) and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CsvBars:
    """The good bars of a file in time order, and the rows refused on the way.

    ``bad_rows`` are the first refused rows (at most ``_KEPT_BAD_ROWS``), ``bad_count`` all of
    them; ``rows`` counts every non-blank row after the header. ``adjusted_column`` is the header's
    adjusted-close column, if it has one; ``adjusted`` whether the bars were adjusted with it.
    """

    bars: tuple[PriceBar, ...]
    bad_rows: tuple[BadRow, ...]
    rows: int
    bad_count: int
    adjusted_column: str | None = None
    adjusted: bool = False

    @property
    def first(self) -> datetime | None:
        """Start of the earliest bar, if any."""
        return self.bars[0].timestamp if self.bars else None

    @property
    def last(self) -> datetime | None:
        """Start of the latest bar, if any."""
        return self.bars[-1].timestamp if self.bars else None


class _BadValue(ValueError):
    """One field of a row is unusable; the message is the reason shown for its line."""


class TextSource(Protocol):
    """A text stream read line by line with a length cap (an open file, ``io.StringIO``)."""

    def readline(self, size: int = -1, /) -> str:
        """The next line, or its first ``size`` characters; ``""`` at the end."""
        ...


class _BoundedLines:
    """The physical lines of ``source``; :class:`BacktestInputError` once a row outgrows the cap.

    The reader calls :meth:`row_done` after each row, so a quoted field spanning lines counts as one.
    """

    def __init__(self, source: TextSource, name: str) -> None:
        self._source = source
        self._name = name
        self._row_chars = 0
        self.line = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        text = self._source.readline(_LONGEST_ROW + 1)
        if not text:
            raise StopIteration
        self.line += 1
        self._row_chars += len(text)
        if self._row_chars > _LONGEST_ROW:
            raise BacktestInputError(
                f"{self._name}: line {self.line} is longer than {_LONGEST_ROW} characters; "
                "expected CSV rows of bars, one per line"
            )
        return text

    def row_done(self) -> None:
        """The reader completed a row: the next one starts from zero characters."""
        self._row_chars = 0


def _excerpt(text: str) -> str:
    """``text`` quoted for a reason, cut short when long."""
    return repr(text) if len(text) <= _EXCERPT else repr(text[:_EXCERPT]) + "..."


def read_bar_csv(
    path: Path, *, symbol: str, bar_size: BarSize, timezone: ZoneInfo, adjusted: bool = False
) -> CsvBars:
    """Read ``path`` (UTF-8, an optional byte-order mark) into bars of ``symbol`` and ``bar_size``.

    Raises :class:`BacktestInputError` when the file cannot be read or decoded, its header lacks
    a required column (the adjusted close too, when ``adjusted``), or a daily file holds intraday
    rows; bad *rows* are returned, not raised.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return read_bar_lines(
                handle,
                symbol=symbol,
                bar_size=bar_size,
                timezone=timezone,
                name=str(path),
                adjusted=adjusted,
            )
    except FileNotFoundError as exc:
        raise BacktestInputError(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise BacktestInputError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    except csv.Error as exc:
        raise BacktestInputError(f"{path} is not readable CSV: {exc}") from exc
    except OSError as exc:
        raise BacktestInputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_bar_lines(
    source: TextSource,
    *,
    symbol: str,
    bar_size: BarSize,
    timezone: ZoneInfo,
    name: str = "the file",
    adjusted: bool = False,
) -> CsvBars:
    """Bars from a CSV document (the first non-blank row is the header); see the module."""
    lines = _BoundedLines(source, name)
    reader = csv.reader(lines)
    header = None
    for row in reader:
        lines.row_done()
        if any(cell.strip() for cell in row):
            header = row
            break
    if header is None:
        raise BacktestInputError(f"{name} is empty: expected a header and rows of bars")
    columns = _columns(header, name)
    adjusted_index = _adjusted_column(header)
    if adjusted and adjusted_index is None:
        raise BacktestInputError(
            f"--adjusted: {name} has no adjusted-close column (Adj Close, Adjusted Close or "
            f"adj_close); the header has {_listed(header)}"
        )
    use = adjusted_index if adjusted else None
    daily = not bar_size.is_intraday
    # Each bar start seen, with its line and the row's own instant (None for a date alone).
    seen: dict[datetime, tuple[int, datetime | None]] = {}
    bars: list[PriceBar] = []
    bad: list[BadRow] = []
    bad_count = 0
    rows = 0
    for row in reader:
        lines.row_done()
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        # csv.reader counts physical lines, so a quoted field spanning lines keeps the numbers right
        line = reader.line_num
        reason = ""
        try:
            timestamp, instant, (open_, high, low, close, volume) = _parse_row(
                row, columns, daily=daily, timezone=timezone, size=bar_size, adjusted=use
            )
        except _BadValue as exc:
            reason = str(exc)
        else:
            earlier = seen.get(timestamp)
            if earlier is None:
                seen[timestamp] = (line, instant)
                bars.append(PriceBar(symbol, timestamp, open_, high, low, close, volume, bar_size))
                continue
            first_line, first_instant = earlier
            if first_instant is not None and instant is not None and first_instant != instant:
                raise BacktestInputError(
                    _intraday_rows(name, (first_line, first_instant), (line, instant), timezone)
                )
            reason = f"bar at {timestamp.isoformat()} repeats line {first_line}"
        bad_count += 1
        if len(bad) < _KEPT_BAD_ROWS:
            bad.append(BadRow(line, reason))
    bars.sort(key=_start)
    column = None if adjusted_index is None else header[adjusted_index].strip()
    return CsvBars(tuple(bars), tuple(bad), rows, bad_count, column, use is not None)


def _intraday_rows(
    name: str, first: tuple[int, datetime], second: tuple[int, datetime], timezone: ZoneInfo
) -> str:
    """The one error for a daily import of intraday rows: which rows, and which size to ask for."""
    (line_a, at_a), (line_b, at_b) = first, second
    local_a, local_b = at_a.astimezone(timezone), at_b.astimezone(timezone)
    gap = abs((at_b - at_a).total_seconds())
    sizes = [size for size in BarSize if size.is_intraday and size.seconds == gap]
    hint = (
        f'they are {sizes[0].value} apart: --bar-size "{sizes[0].value}"'
        if sizes
        else 'e.g. --bar-size "1 min"'
    )
    return (
        f"{name}: lines {line_a} and {line_b} are both on {local_a:%Y-%m-%d} "
        f"({local_a:%H:%M:%S} and {local_b:%H:%M:%S}): these are intraday bars, not daily "
        f"ones; pass --bar-size with their size ({hint})"
    )


def _start(bar: PriceBar) -> datetime:
    return bar.timestamp


def _parse_row(
    row: list[str],
    columns: tuple[int, ...],
    *,
    daily: bool,
    timezone: ZoneInfo,
    size: BarSize,
    adjusted: int | None,
) -> tuple[datetime, datetime | None, tuple[float, float, float, float, float]]:
    """The bar start, the row's own instant (None for a date alone) and the five values of one
    row, adjusted by the column ``adjusted`` when given; or :class:`_BadValue` naming the problem."""
    width = max(*columns, -1 if adjusted is None else adjusted) + 1
    if len(row) < width:
        raise _BadValue(f"expected at least {width} fields, got {len(row)}")
    timestamp, instant = _bar_start(row[columns[0]], daily=daily, timezone=timezone, size=size)
    open_, high, low, close, volume = (
        _number(name, row[index]) for name, index in zip(_VALUE_COLUMNS, columns[1:], strict=True)
    )
    _check_prices(open_, high, low, close, volume)
    if adjusted is not None:
        adjusted_close = _number("adjusted close", row[adjusted])
        if adjusted_close <= 0:
            raise _BadValue(f"adjusted close {adjusted_close:g} is not a positive price")
        factor = adjusted_close / close
        open_, high, low, close = open_ * factor, high * factor, low * factor, adjusted_close
    return timestamp, instant, (open_, high, low, close, volume)


def _adjusted_column(header: list[str]) -> int | None:
    """Index of the header's adjusted-close column, if it has one."""
    for index, cell in enumerate(header):
        compact = "".join(ch for ch in cell.lower() if ch not in " _.-")
        if compact in _ADJUSTED_COLUMNS:
            return index
    return None


def _listed(header: list[str]) -> str:
    found = ", ".join(cell.strip()[:_EXCERPT] for cell in header[:20] if cell.strip())
    return (found or "nothing") + (", ..." if len(header) > 20 else "")


def _columns(header: list[str], name: str) -> tuple[int, ...]:
    """Indexes of the time column and the five value columns, in that order."""
    names = [cell.strip().lower() for cell in header]
    positions: dict[str, int] = {}
    for index, column in enumerate(names):
        if column in (*_TIME_COLUMNS, *_VALUE_COLUMNS):
            if column in positions:
                raise BacktestInputError(
                    f"{name}: column {_excerpt(header[index].strip())} appears twice"
                )
            positions[column] = index
    time_column = next((c for c in _TIME_COLUMNS if c in positions), None)
    missing = [c.capitalize() for c in _VALUE_COLUMNS if c not in positions]
    if time_column is None:
        missing.insert(0, "Date (or Datetime)")
    if missing:
        raise BacktestInputError(
            f"{name}: missing column(s) {', '.join(missing)}; the header has {_listed(header)}"
        )
    assert time_column is not None
    return (positions[time_column], *(positions[c] for c in _VALUE_COLUMNS))


def _bar_start(
    text: str, *, daily: bool, timezone: ZoneInfo, size: BarSize
) -> tuple[datetime, datetime | None]:
    """The bar's start in UTC, and the row's own instant (None when it gives a date alone)."""
    value = text.strip()
    if not value:
        raise _BadValue("empty date")
    try:
        if len(value) == _DATE_ONLY_LENGTH:
            day = date.fromisoformat(value)
            _check_year(day, value)
            if not daily:
                raise _BadValue(f"{value!r} has no time of day, which a {size.value} bar needs")
            return datetime.combine(day, time(0), UTC), None
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        if isinstance(exc, _BadValue):
            raise
        raise _BadValue(
            f"unparsable date {_excerpt(value)} (expected ISO 8601, e.g. 2024-01-02)"
        ) from exc
    # Before any shift between zones: year 1 at +14:00 (or 9999 at -14:00) has no UTC instant.
    _check_year(moment, value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    if daily:
        trading_day = moment.astimezone(timezone).date()
        return datetime.combine(trading_day, time(0), UTC), moment
    return moment.astimezone(UTC), moment


def _check_year(moment: date, text: str) -> None:
    if not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
        raise _BadValue(f"date {text!r} is outside the years {_FIRST_YEAR} to {_LAST_YEAR}")


def _number(name: str, text: str) -> float:
    value = text.strip()
    if not value:
        raise _BadValue(f"empty {name}")
    try:
        number = float(value)
    except ValueError as exc:
        raise _BadValue(f"unparsable {name} {_excerpt(value)}") from exc
    if not math.isfinite(number):
        raise _BadValue(f"{name} {_excerpt(value)} is not a finite number")
    return number


def _check_prices(open_: float, high: float, low: float, close: float, volume: float) -> None:
    for name, price in (("open", open_), ("high", high), ("low", low), ("close", close)):
        if price <= 0:
            raise _BadValue(f"{name} {price:g} is not a positive price")
    if high < low:
        raise _BadValue(f"high {high:g} < low {low:g}")
    for name, price in (("open", open_), ("close", close)):
        if not low <= price <= high:
            raise _BadValue(f"{name} {price:g} outside the bar's range {low:g}..{high:g}")
    if volume < 0:
        raise _BadValue(f"volume {volume:g} is negative")
