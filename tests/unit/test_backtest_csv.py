"""Reading bars from CSV: columns, times and zones, and each bad-row rule with its line number."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from ibbot.backtest import BacktestInputError
from ibbot.backtest.csv_bars import read_bar_csv, read_bar_lines
from ibbot.models import BarSize

if TYPE_CHECKING:
    from pathlib import Path

NY = ZoneInfo("America/New_York")
HEADER = "Date,Open,High,Low,Close,Volume\n"


def read(text: str, bar_size: BarSize = BarSize.DAY_1, zone: ZoneInfo = NY):  # type: ignore[no-untyped-def]
    return read_bar_lines(io.StringIO(text), symbol="AAA", bar_size=bar_size, timezone=zone)


def test_daily_rows_become_bars_at_midnight_utc_of_their_date() -> None:
    """Case-insensitive columns in any order, extra columns ignored, rows sorted by time."""
    found = read(
        "volume,Adj Close,CLOSE,low,High,open,date\n"
        "2000,1.5,10.5,9.5,11,10,2024-01-03\n"
        "1000,1.5,10,9,10.5,9.5,2024-01-02\n"
    )
    assert found.bad_rows == ()
    assert found.rows == 2
    first = found.bars[0]
    assert (first.timestamp, first.open, first.high, first.low, first.close, first.volume) == (
        datetime(2024, 1, 2, tzinfo=UTC),
        9.5,
        10.5,
        9.0,
        10.0,
        1000.0,
    )
    assert first.bar_size is BarSize.DAY_1
    assert (found.first, found.last) == (
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(2024, 1, 3, tzinfo=UTC),
    )


def test_daily_datetimes_use_their_trading_date_in_the_timezone() -> None:
    """A daily row given as a New York datetime (with an offset or naive) keeps its date."""
    found = read(
        "Datetime,Open,High,Low,Close,Volume\n"
        "2024-01-02 00:00:00-05:00,1,1,1,1,1\n"
        "2024-01-03T00:00:00,1,1,1,1,1\n"
    )
    assert [bar.timestamp for bar in found.bars] == [
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(2024, 1, 3, tzinfo=UTC),
    ]


def test_intraday_times_are_converted_from_the_timezone_to_utc() -> None:
    """Naive intraday times are in --timezone; explicit offsets and Z are honoured."""
    found = read(
        "Datetime,Open,High,Low,Close,Volume\n"
        "2024-07-01 09:30,1,1,1,1,1\n"
        "2024-07-01T13:31:00Z,1,1,1,1,1\n"
        "2024-07-01T09:32:00-04:00,1,1,1,1,1\n",
        BarSize.MIN_1,
    )
    assert [bar.timestamp.isoformat() for bar in found.bars] == [
        "2024-07-01T13:30:00+00:00",
        "2024-07-01T13:31:00+00:00",
        "2024-07-01T13:32:00+00:00",
    ]
    tokyo = read(
        "Datetime,Open,High,Low,Close,Volume\n2024-07-01 09:00,1,1,1,1,1\n",
        BarSize.HOUR_1,
        ZoneInfo("Asia/Tokyo"),
    )
    assert tokyo.bars[0].timestamp == datetime(2024, 7, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "2024-13-01,1,1,1,1,1",
            "unparsable date '2024-13-01' (expected ISO 8601, e.g. 2024-01-02)",
        ),
        ("yesterday,1,1,1,1,1", "unparsable date 'yesterday' (expected ISO 8601, e.g. 2024-01-02)"),
        (",1,1,1,1,1", "empty date"),
        ("2024-01-02,abc,1,1,1,1", "unparsable open 'abc'"),
        ("2024-01-02,1,,1,1,1", "empty high"),
        ("2024-01-02,1,nan,1,1,1", "high 'nan' is not a finite number"),
        ("2024-01-02,-1,1,-2,1,1", "open -1 is not a positive price"),
        ("2024-01-02,1,1,0,1,1", "low 0 is not a positive price"),
        ("2024-01-02,1,1,2,1,1", "high 1 < low 2"),
        ("2024-01-02,3,2,1,1.5,1", "open 3 outside the bar's range 1..2"),
        ("2024-01-02,1.5,2,1,0.5,1", "close 0.5 outside the bar's range 1..2"),
        ("2024-01-02,1,1,1,1,-5", "volume -5 is negative"),
        ("2024-01-02,1,1,1", "expected at least 6 fields, got 4"),
    ],
)
def test_each_bad_row_rule_is_reported_with_its_line(row: str, reason: str) -> None:
    """A bad row is reported (line 3: the header is line 1) and the good rows are kept."""
    found = read(f"{HEADER}2024-01-01,1,1,1,1,1\n{row}\n2024-01-03,1,1,1,1,1\n")
    assert [str(bad) for bad in found.bad_rows] == [f"line 3: {reason}"]
    assert len(found.bars) == 2


def test_repeated_times_and_intraday_dates_without_time_are_bad() -> None:
    """A time seen before is refused, naming the first line; a 1 min bar needs a time of day."""
    found = read(f"{HEADER}\n2024-01-02,1,1,1,1,1\n\n2024-01-02,2,2,2,2,2\n")
    assert [str(bad) for bad in found.bad_rows] == [
        "line 5: bar at 2024-01-02T00:00:00+00:00 repeats line 3"
    ]
    intraday = read(f"{HEADER}2024-01-02,1,1,1,1,1\n", BarSize.MIN_1)
    assert (
        str(intraday.bad_rows[0])
        == "line 2: '2024-01-02' has no time of day, which a 1 min bar needs"
    )


def test_many_bad_rows_are_counted_and_the_first_kept() -> None:
    """Every bad row counts; only the first hundred are kept with their reasons (memory stays flat)."""
    found = read(HEADER + "x\n" * 250 + "2024-01-02,1,1,1,1,1\n")
    assert (found.bad_count, len(found.bad_rows), found.rows, len(found.bars)) == (250, 100, 251, 1)
    assert str(found.bad_rows[-1]) == "line 101: expected at least 6 fields, got 1"


def test_a_quoted_field_spanning_many_lines_counts_as_one_long_row() -> None:
    """A row longer than the cap is refused even when its quoted field spreads over short lines."""
    with pytest.raises(BacktestInputError, match="line 1600 is longer than 65536 characters"):
        read(HEADER + '"' + "x" * 40 + "\n" + ("y" * 40 + "\n") * 5_000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("Date,Open,High,Low,Close\n", "missing column(s) Volume; the header has Date, Open"),
        ("When,Open,High,Low,Close,Volume\n", "missing column(s) Date (or Datetime)"),
        ("Date,Open,open,High,Low,Close,Volume\n", "column 'open' appears twice"),
    ],
)
def test_unusable_headers_are_refused(text: str, message: str) -> None:
    """No header, a missing column or a doubled one: the whole file is refused."""
    with pytest.raises(BacktestInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(text)


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    """A missing file, a non-UTF-8 file: one clear error each; a UTF-8 BOM is fine."""
    with pytest.raises(BacktestInputError, match="no such file"):
        read_bar_csv(tmp_path / "nope.csv", symbol="A", bar_size=BarSize.DAY_1, timezone=NY)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + "2024-01-02,1,1,1,1,1 \xe9\n".encode("latin-1"))
    with pytest.raises(BacktestInputError, match="is not UTF-8 text"):
        read_bar_csv(latin, symbol="A", bar_size=BarSize.DAY_1, timezone=NY)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (HEADER + "2024-01-02,1,1,1,1,1\n").encode())
    assert len(read_bar_csv(bom, symbol="A", bar_size=BarSize.DAY_1, timezone=NY).bars) == 1
    with pytest.raises(BacktestInputError, match="cannot read"):
        read_bar_csv(tmp_path, symbol="A", bar_size=BarSize.DAY_1, timezone=NY)


def minute_rows(count: int, start: str = "2024-07-01 09:30") -> str:
    """``count`` one-minute rows from ``start`` (naive New York times)."""
    first = datetime.fromisoformat(start)
    return "".join(
        f"{(first + timedelta(minutes=i)):%Y-%m-%d %H:%M},1,1,1,1,1\n" for i in range(count)
    )


def test_intraday_rows_in_a_daily_import_are_one_error_naming_the_bar_size() -> None:
    """389 minute rows read as daily bars: one error that asks for --bar-size "1 min"."""
    with pytest.raises(BacktestInputError) as caught:
        read("Datetime,Open,High,Low,Close,Volume\n" + minute_rows(389))
    assert str(caught.value) == (
        "the file: lines 2 and 3 are both on 2024-07-01 (09:30:00 and 09:31:00): these are "
        "intraday bars, not daily ones; pass --bar-size with their size (they are 1 min apart: "
        '--bar-size "1 min")'
    )
    hourly = "2024-07-01 10:00,1,1,1,1,1\n2024-07-01 11:00,1,1,1,1,1\n"
    with pytest.raises(BacktestInputError, match='--bar-size "1 hour"'):
        read(HEADER + hourly)
    assert len(read(HEADER + minute_rows(389), BarSize.MIN_1).bars) == 389


def test_an_adjusted_close_column_scales_the_bar_only_when_asked() -> None:
    """With adjusted: OHLC times adj/close, close = Adj Close, volume kept; without: untouched."""
    text = "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,100,110,90,105,52.5,1000\n"
    plain = read(text)
    assert plain.adjusted_column == "Adj Close"
    assert not plain.adjusted
    assert plain.bars[0].close == 105
    adjusted = read_bar_lines(
        io.StringIO(text), symbol="AAA", bar_size=BarSize.DAY_1, timezone=NY, adjusted=True
    )
    bar = adjusted.bars[0]
    assert adjusted.adjusted
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (50, 55, 45, 52.5, 1000)
    bad = read_bar_lines(
        io.StringIO(text.replace("52.5", "-1")),
        symbol="AAA",
        bar_size=BarSize.DAY_1,
        timezone=NY,
        adjusted=True,
    )
    assert [str(row) for row in bad.bad_rows] == [
        "line 2: adjusted close -1 is not a positive price"
    ]


def test_adjusted_without_an_adjusted_column_is_refused() -> None:
    """--adjusted on a file without one: one line naming the columns it has."""
    with pytest.raises(BacktestInputError, match="--adjusted: the file has no adjusted-close"):
        read_bar_lines(
            io.StringIO(HEADER + "2024-01-02,1,1,1,1,1\n"),
            symbol="AAA",
            bar_size=BarSize.DAY_1,
            timezone=NY,
            adjusted=True,
        )
