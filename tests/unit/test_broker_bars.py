"""Bar arithmetic: 5-second aggregation, request spans, durations, backfill planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot.broker.backfill import Backfill
from ibbot.broker.bars import (
    BarAggregator,
    RequestSpan,
    floor_time,
    parse_duration,
    request_span,
)
from ibbot.clock import SimulatedClock
from ibbot.models import BarSize, ContractInfo, PriceBar
from ibbot.sim.market import parse_duration as sim_parse_duration
from ibbot.store import AsyncStore, ParquetStore

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def five(start: datetime, price: float = 100.0, volume: float = 10.0, **kw: object) -> PriceBar:
    """A 5-second bar starting at ``start``."""
    return PriceBar(
        "AAPL",
        start,
        price,
        price + 1,
        price - 1,
        price + 0.5,
        volume,
        BarSize.SEC_5,
        wap=kw.get("wap", price),  # type: ignore[arg-type]
        bar_count=kw.get("count", 3),  # type: ignore[arg-type]
    )


def minute(start: datetime, *, skip: int | None = None) -> list[PriceBar]:
    """The twelve 5-second bars of one minute (optionally missing one)."""
    return [five(start + timedelta(seconds=5 * i), 100.0 + i) for i in range(12) if i != skip]


def test_floor_time_aligns_to_the_bar_size() -> None:
    """Buckets start at multiples of the bar size; daily bars at midnight UTC."""
    t = datetime(2026, 3, 2, 14, 37, 42, tzinfo=UTC)
    assert floor_time(t, BarSize.MIN_1) == datetime(2026, 3, 2, 14, 37, tzinfo=UTC)
    assert floor_time(t, BarSize.MIN_5) == datetime(2026, 3, 2, 14, 35, tzinfo=UTC)
    assert floor_time(t, BarSize.HOUR_1) == datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert floor_time(t, BarSize.DAY_1) == datetime(2026, 3, 2, tzinfo=UTC)


def test_aggregator_builds_a_minute_from_twelve_bars() -> None:
    """Twelve 5-second bars make one 1-minute bar with the right OHLCV, wap and count."""
    agg = BarAggregator("AAPL", BarSize.MIN_1)
    out: list[PriceBar] = []
    for bar in minute(T0):
        out.extend(agg.add(bar))
    assert len(out) == 1
    bar = out[0]
    assert bar.timestamp == T0
    assert bar.bar_size is BarSize.MIN_1
    assert (bar.open, bar.high, bar.low, bar.close) == (100.0, 112.0, 99.0, 111.5)
    assert bar.volume == 120.0
    assert bar.wap == pytest.approx(sum(100.0 + i for i in range(12)) / 12)
    assert bar.bar_count == 36
    assert agg.discarded == 0


def test_aggregator_drops_a_bucket_joined_late() -> None:
    """A minute whose first 5-second bar was missed would have the wrong open: not emitted."""
    agg = BarAggregator("AAPL", BarSize.MIN_1)
    out = [b for bar in minute(T0)[3:] for b in agg.add(bar)]
    assert out == []
    assert agg.discarded == 1
    out = [b for bar in minute(T0 + timedelta(minutes=1)) for b in agg.add(bar)]
    assert [b.timestamp for b in out] == [T0 + timedelta(minutes=1)]


def test_aggregator_drops_buckets_with_holes_and_unfinished_ones() -> None:
    """A missing bar inside, or a bucket cut short by the next one, is discarded."""
    agg = BarAggregator("AAPL", BarSize.MIN_1)
    assert [b for bar in minute(T0, skip=5) for b in agg.add(bar)] == []
    unfinished = minute(T0 + timedelta(minutes=1))[:6]
    for bar in unfinished:
        assert agg.add(bar) == []
    following = minute(T0 + timedelta(minutes=2))
    out = [b for bar in following for b in agg.add(bar)]
    assert [b.timestamp for b in out] == [T0 + timedelta(minutes=2)]
    assert agg.discarded == 2


def test_aggregator_ignores_repeats_and_stale_bars_and_resets() -> None:
    """Repeated or older 5-second bars are ignored; reset forgets the bucket in progress."""
    agg = BarAggregator("AAPL", BarSize.MIN_1)
    bars = minute(T0)
    for bar in bars[:4]:
        agg.add(bar)
    assert agg.add(bars[2]) == []
    assert agg.add(five(T0 - timedelta(seconds=5))) == []
    out = [b for bar in bars[4:] for b in agg.add(bar)]
    assert len(out) == 1
    for bar in bars[:4]:
        agg.add(bar)
    agg.reset()
    assert agg.discarded == 1
    agg.reset()
    assert agg.discarded == 1


def test_aggregator_unknown_wap_or_count_stay_unknown() -> None:
    """If any 5-second bar lacks wap or count, the aggregate does not invent one."""
    agg = BarAggregator("AAPL", BarSize.MIN_1)
    bars = minute(T0)
    bars[3] = five(bars[3].timestamp, wap=None, count=None)
    out = [b for bar in bars for b in agg.add(bar)]
    assert out[0].wap is None
    assert out[0].bar_count is None


@pytest.mark.parametrize("size", [BarSize.DAY_1, BarSize.SEC_1])
def test_aggregator_refuses_sizes_it_cannot_build(size: BarSize) -> None:
    """Daily bars and bars shorter than 5 s cannot come from 5-second bars."""
    with pytest.raises(ValueError, match="cannot build"):
        BarAggregator("AAPL", size)


@pytest.mark.parametrize("size", list(BarSize))
def test_request_spans_use_calendar_units_ib_accepts(size: BarSize) -> None:
    """Every bar size asks in S, W or Y (never D: IB counts it in sessions), within IB's step rules
    (as the simulated gateway enforces them) and for at most a few thousand bars."""
    span = request_span(size)
    assert span.unit in {"S", "W", "Y"}
    assert span.count > 0
    sim_parse_duration(f"{span.count} {span.unit}", size)  # raises with IB's error if refused
    trading_share = 80 / 168 if span.length >= timedelta(weeks=1) else 16 / 24  # outside RTH too
    bars = (
        span.length.total_seconds() * (trading_share if size.is_intraday else 5 / 7) / size.seconds
    )
    assert bars <= 5_000


def test_request_span_lengths() -> None:
    """A span's length is the calendar time it claims covered."""
    assert request_span(BarSize.SEC_5) == RequestSpan(7_200, "S")
    assert request_span(BarSize.MIN_1).length == timedelta(days=1)
    assert request_span(BarSize.MIN_5).length == timedelta(weeks=2)
    assert request_span(BarSize.DAY_1).length == timedelta(days=365)


def test_span_duration_rounds_up_and_caps() -> None:
    """A short window asks for the units it needs, rounded up; never more than the span."""
    span = RequestSpan(5, "W")
    assert span.duration_for(timedelta(days=8)) == "2 W"
    assert span.duration_for(timedelta(seconds=1)) == "1 W"
    assert span.duration_for(timedelta(weeks=9)) == "5 W"
    assert RequestSpan(86_400, "S").duration_for(timedelta(hours=30)) == "86400 S"
    assert RequestSpan(86_400, "S").duration_for(timedelta(minutes=90)) == "5400 S"


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("2 D", timedelta(days=2)),
        ("30 S", timedelta(seconds=30)),
        ("1 w", timedelta(weeks=1)),
        ("6 M", timedelta(days=180)),
        ("1 Y", timedelta(days=365)),
    ],
)
def test_parse_duration(text: str, span: timedelta) -> None:
    """IB's durationStr becomes a calendar span."""
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "2", "two D", "2 X", "0 D", "2 D extra"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    """Anything but '<positive count> S|D|W|M|Y' is refused with IB's format in the message."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def _info(symbol: str, con_id: int) -> ContractInfo:
    return ContractInfo(symbol, con_id, symbol, "", "", "", "SMART", "USD")


async def test_backfill_plans_only_what_the_store_lacks(tmp_path: Path) -> None:
    """Covered ranges are skipped; the rest is cut into spans, interleaved newest first."""
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        start = datetime(2026, 3, 2, tzinfo=UTC)
        end = start + timedelta(days=3)
        covered = (start + timedelta(days=1), start + timedelta(days=2))
        await store.write_bars("AAPL", [], covering=covered, bar_size=BarSize.MIN_1)
        backfill = Backfill(requests=None, store=store, clock=SimulatedClock())  # type: ignore[arg-type]
        chunks = await backfill.plan(
            [_info("AAPL", 1), _info("MSFT", 2)], bar_size=BarSize.MIN_1, start=start, end=end
        )
    assert [(c.symbol, c.start, c.end, c.duration) for c in chunks] == [
        ("AAPL", start + timedelta(days=2), end, "86400 S"),
        ("MSFT", start + timedelta(days=2), end, "86400 S"),
        ("AAPL", start, start + timedelta(days=1), "86400 S"),
        ("MSFT", start + timedelta(days=1), start + timedelta(days=2), "86400 S"),
        ("MSFT", start, start + timedelta(days=1), "86400 S"),
    ]


async def test_backfill_plan_partial_span_and_worker_count(tmp_path: Path) -> None:
    """A window shorter than a span asks for just enough; a backfill needs a worker."""
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        backfill = Backfill(requests=None, store=store, clock=SimulatedClock())  # type: ignore[arg-type]
        start = datetime(2026, 3, 2, 10, tzinfo=UTC)
        chunks = await backfill.plan(
            [_info("AAPL", 1)], bar_size=BarSize.SEC_5, start=start, end=start + timedelta(hours=3)
        )
        assert [c.duration for c in chunks] == ["7200 S", "3600 S"]
        with pytest.raises(ValueError, match="worker"):
            Backfill(requests=None, store=store, clock=SimulatedClock(), workers=0)  # type: ignore[arg-type]
