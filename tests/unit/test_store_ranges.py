"""Half-open time ranges: merge, subtract and month splitting used by bar coverage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ibbot.store.ranges import merge_ranges, split_by_month, subtract_ranges

T = datetime(2026, 1, 30, tzinfo=UTC)
H = timedelta(hours=1)


def test_merge_joins_overlapping_and_touching_ranges() -> None:
    """Overlapping and touching ranges merge; empty ones vanish; the result is sorted."""
    got = merge_ranges([(T + 5 * H, T + 6 * H), (T, T + 2 * H), (T + 2 * H, T + 3 * H),
                        (T + H, T + 90 * timedelta(minutes=1)), (T + 9 * H, T + 9 * H)])  # fmt: skip
    assert got == [(T, T + 3 * H), (T + 5 * H, T + 6 * H)]


def test_subtract_returns_the_uncovered_parts_of_a_window() -> None:
    """Gaps are the window minus the covered ranges, clipped to the window."""
    covered = [(T - H, T + H), (T + 3 * H, T + 4 * H), (T + 10 * H, T + 20 * H)]
    assert subtract_ranges((T, T + 12 * H), covered) == [
        (T + H, T + 3 * H),
        (T + 4 * H, T + 10 * H),
    ]
    assert subtract_ranges((T, T + H), covered) == []
    assert subtract_ranges((T + 30 * H, T + 31 * H), covered) == [(T + 30 * H, T + 31 * H)]
    assert subtract_ranges((T, T + 2 * H), []) == [(T, T + 2 * H)]


def test_split_by_month_cuts_at_utc_month_starts() -> None:
    """A range crossing month starts is cut into one piece per month, keyed by the month."""
    feb = datetime(2026, 2, 1, tzinfo=UTC)
    mar = datetime(2026, 3, 1, tzinfo=UTC)
    pieces = split_by_month([(T, mar + H)])
    assert pieces == {
        datetime(2026, 1, 1, tzinfo=UTC): [(T, feb)],
        feb: [(feb, mar)],
        mar: [(mar, mar + H)],
    }
    dec = datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert list(split_by_month([(dec, dec + 2 * H)])) == [
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    ]
