"""The simulated market: determinism, the consistency laws between prices, quotes and bars, IB's rules."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot.models import BarSize, WhatToShow
from ibbot.sim.calendar import EXCHANGE_TZ, FIRST_YEAR
from ibbot.sim.market import (
    ANCHOR_YEAR,
    HistoricalDataError,
    MarketSimulator,
    parse_duration,
)
from ibbot.sim.universe import DEFAULT_UNIVERSE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ibbot.exchange import SimBar

DAY = date(2026, 3, 10)  # a Tuesday, after the DST switch
OPEN = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
CLOSE = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> MarketSimulator:
    return MarketSimulator(DEFAULT_UNIVERSE, seed=42)


def _agg(bars: Sequence[SimBar]) -> tuple[float, float, float, float, int, int, float]:
    volume = sum(b.volume for b in bars)
    wap = sum(b.volume * b.wap for b in bars) / volume if volume > 0 else -1.0
    return (
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        volume,
        sum(b.count for b in bars),
        wap,
    )


def _assert_aggregates(parent: SimBar, children: Sequence[SimBar]) -> None:
    o, h, lo, c, v, n, w = _agg(children)
    assert (parent.open, parent.high, parent.low, parent.close) == (o, h, lo, c)
    assert (parent.volume, parent.count) == (v, n)
    assert parent.wap == pytest.approx(w, rel=1e-9)


def _on_tick(price: float, tick: float = 0.01) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-6


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_values_in_any_query_order() -> None:
    """Two simulators with one seed agree even when asked in opposite orders."""
    a = MarketSimulator(DEFAULT_UNIVERSE, seed=7)
    b = MarketSimulator(DEFAULT_UNIVERSE, seed=7)
    t = OPEN + timedelta(minutes=95, seconds=12)
    first = (
        a.quote("MSFT", t),
        a.bars("MSFT", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_5),
        a.bars("MSFT", start=MIDNIGHT - timedelta(days=40), end=CLOSE, bar_size=BarSize.DAY_1),
    )
    second_daily = b.bars(
        "MSFT", start=MIDNIGHT - timedelta(days=40), end=CLOSE, bar_size=BarSize.DAY_1
    )
    second_minutes = b.bars("MSFT", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_5)
    second_quote = b.quote("MSFT", t)
    assert first == (second_quote, second_minutes, second_daily)


def test_values_are_pinned_across_processes() -> None:
    """A fresh simulator gives these exact values: nothing depends on process state or hash seeds."""
    market = MarketSimulator(DEFAULT_UNIVERSE, seed=42)
    bar = market.bars("AAPL", start=MIDNIGHT, end=CLOSE, bar_size=BarSize.DAY_1)[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.count) == PINNED_AAPL_DAY


PINNED_AAPL_DAY = (202.66, 206.01, 201.71, 204.51, 48629683, 543630)


def test_different_seeds_give_different_markets() -> None:
    """Another seed is another market."""
    a = MarketSimulator(DEFAULT_UNIVERSE, seed=1)
    b = MarketSimulator(DEFAULT_UNIVERSE, seed=2)
    assert a.price("AAPL", CLOSE) != b.price("AAPL", CLOSE)
    assert a.bars("KO", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_30) != b.bars(
        "KO", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_30
    )


def test_the_anchor_is_the_base_price(market: MarketSimulator) -> None:
    """The last close of 2025 is each security's base price."""
    for symbol, security in DEFAULT_UNIVERSE.items():
        bars = market.bars(
            symbol,
            start=datetime(2025, 12, 31, tzinfo=UTC),
            end=datetime(2026, 1, 1, tzinfo=UTC),
            bar_size=BarSize.DAY_1,
        )
        assert bars[0].close == pytest.approx(security.base_price, abs=0.006)


# ------------------------------------------------------------------------------- consistency laws


@pytest.mark.parametrize(
    "what", [WhatToShow.TRADES, WhatToShow.MIDPOINT, WhatToShow.BID, WhatToShow.ASK]
)
def test_one_minute_bars_aggregate_the_realtime_bars(
    market: MarketSimulator, what: WhatToShow
) -> None:
    """A 1-minute historical bar equals the aggregate of its twelve 5-second realtime bars."""
    minutes = market.bars(
        "NVDA",
        start=OPEN,
        end=OPEN + timedelta(minutes=20),
        bar_size=BarSize.MIN_1,
        what_to_show=what,
    )
    assert len(minutes) == 20
    for bar in minutes:
        fives = [
            market.realtime_bar("NVDA", bar.time + timedelta(seconds=5 * k), what)
            for k in range(12)
        ]
        if what is WhatToShow.TRADES:
            _assert_aggregates(bar, fives)
        else:
            o, h, lo, c, *_ = _agg(fives)
            assert (bar.open, bar.high, bar.low, bar.close) == (o, h, lo, c)
            assert (bar.volume, bar.wap, bar.count) == (-1, -1.0, -1)


def test_bid_ask_bars_aggregate_by_volume(market: MarketSimulator) -> None:
    """BID_ASK: open is the average bid, high the highest ask, low the lowest bid, close the average ask."""
    hour = market.bars(
        "AAPL",
        start=OPEN + timedelta(minutes=30),
        end=OPEN + timedelta(minutes=90),
        bar_size=BarSize.HOUR_1,
        what_to_show=WhatToShow.BID_ASK,
    )[0]
    minutes = market.bars(
        "AAPL", start=hour.time, end=hour.time + timedelta(hours=1), bar_size=BarSize.MIN_1
    )
    bids = market.bars(
        "AAPL",
        start=hour.time,
        end=hour.time + timedelta(hours=1),
        bar_size=BarSize.MIN_1,
        what_to_show=WhatToShow.BID,
    )
    asks = market.bars(
        "AAPL",
        start=hour.time,
        end=hour.time + timedelta(hours=1),
        bar_size=BarSize.MIN_1,
        what_to_show=WhatToShow.ASK,
    )
    volume = sum(b.volume for b in minutes)
    spread_down = minutes[0].close - bids[0].close
    spread_up = asks[0].close - minutes[0].close
    assert hour.high == max(b.high for b in asks)
    assert hour.low == min(b.low for b in bids)
    assert hour.open == pytest.approx(sum(b.volume * b.wap for b in minutes) / volume - spread_down)
    assert hour.close == pytest.approx(sum(b.volume * b.wap for b in minutes) / volume + spread_up)
    assert hour.open < hour.close
    assert hour.volume == -1


def test_five_second_bars_aggregate_one_second_bars(market: MarketSimulator) -> None:
    """Each 5-second bar is the aggregate of its five 1-second bars."""
    start = OPEN + timedelta(hours=2)
    fives = market.bars(
        "AAPL", start=start, end=start + timedelta(minutes=2), bar_size=BarSize.SEC_5
    )
    ones = market.bars(
        "AAPL", start=start, end=start + timedelta(minutes=2), bar_size=BarSize.SEC_1
    )
    assert len(fives) == 24
    assert len(ones) == 120
    for i, bar in enumerate(fives):
        _assert_aggregates(bar, ones[5 * i : 5 * i + 5])


@pytest.mark.parametrize("symbol", ["AAPL", "KO", "NVDA"])
@pytest.mark.parametrize("day", [DAY, date(2025, 11, 28), date(1999, 6, 15)])
def test_daily_bars_aggregate_the_minutes(market: MarketSimulator, symbol: str, day: date) -> None:
    """A daily bar's open, close, extremes, volume, count and VWAP are those of its 1-minute bars."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    daily = market.bars(symbol, start=start, end=end, bar_size=BarSize.DAY_1)
    minutes = market.bars(symbol, start=start, end=end, bar_size=BarSize.MIN_1)
    assert len(daily) == 1
    session = market.calendar.session(day)
    assert session is not None
    assert daily[0].time == session.open
    assert len(minutes) == (210 if session.early_close else 390)
    _assert_aggregates(daily[0], minutes)


def test_extended_hours_daily_bar_aggregates_the_whole_day(market: MarketSimulator) -> None:
    """With use_rth=False the daily bar spans 04:00-20:00 and aggregates every hourly bar."""
    daily = market.bars(
        "JPM",
        start=MIDNIGHT,
        end=MIDNIGHT + timedelta(days=1),
        bar_size=BarSize.DAY_1,
        use_rth=False,
    )
    hours = market.bars(
        "JPM",
        start=MIDNIGHT,
        end=MIDNIGHT + timedelta(days=1),
        bar_size=BarSize.HOUR_1,
        use_rth=False,
    )
    assert len(hours) == 16
    assert hours[0].time.astimezone(EXCHANGE_TZ).time() == time(4, 0)
    assert daily[0].time == hours[0].time
    _assert_aggregates(daily[0], hours)
    rth = market.bars(
        "JPM", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), bar_size=BarSize.DAY_1
    )[0]
    assert daily[0].volume > rth.volume
    assert daily[0].high >= rth.high
    assert daily[0].low <= rth.low


def test_hourly_bars_are_aligned_to_the_clock(market: MarketSimulator) -> None:
    """Hourly RTH bars start 09:30, 10:00, ..., 15:00 New York time and aggregate their minutes."""
    hours = market.bars(
        "XOM", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), bar_size=BarSize.HOUR_1
    )
    starts = [b.time.astimezone(EXCHANGE_TZ).time() for b in hours]
    assert starts == [time(9, 30)] + [time(h, 0) for h in range(10, 16)]
    minutes = market.bars(
        "XOM", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), bar_size=BarSize.MIN_1
    )
    _assert_aggregates(hours[0], minutes[:30])
    _assert_aggregates(hours[1], minutes[30:90])
    four = market.bars(
        "XOM", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), bar_size=BarSize.HOUR_4
    )
    assert [b.time.astimezone(EXCHANGE_TZ).time() for b in four] == [time(9, 30), time(12, 0)]
    eight = market.bars(
        "XOM", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1), bar_size=BarSize.HOUR_8
    )
    assert len(eight) == 1
    _assert_aggregates(eight[0], minutes)


def test_weekly_and_monthly_bars_aggregate_daily_bars(market: MarketSimulator) -> None:
    """Weekly and monthly bars start at their first session and aggregate their days."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 3, 1, tzinfo=UTC)
    days = market.bars("WMT", start=start, end=end, bar_size=BarSize.DAY_1)
    weeks = market.bars("WMT", start=start, end=end, bar_size=BarSize.WEEK_1)
    months = market.bars("WMT", start=start, end=end, bar_size=BarSize.MONTH_1)
    assert [m.time.date() for m in months] == [date(2026, 1, 2), date(2026, 2, 2)]
    for month in months:
        _assert_aggregates(month, [d for d in days if d.time.month == month.time.month])
    # the week of Dec 29 began before ``start``: its bar is not in range
    assert weeks[0].time.date() == date(2026, 1, 5)
    for week in weeks:
        week_number = week.time.date().isocalendar()[:2]
        inside = [d for d in days if d.time.date().isocalendar()[:2] == week_number]
        _assert_aggregates(week, inside)


def test_quote_agrees_with_price_and_bars(market: MarketSimulator) -> None:
    """quote(t).last == price(t); the day so far equals the daily bar cut at t; bid < last-ish < ask."""
    for k in range(60):
        t = MIDNIGHT + timedelta(hours=9, seconds=977 * k + 0.25)
        q = market.quote("META", t)
        assert q.last == market.price("META", t)
        assert q.bid < q.ask
        assert q.bid <= q.last <= q.ask
        assert 1 <= round((q.ask - q.bid) / 0.01) <= 8
        assert all(_on_tick(p) for p in (q.bid, q.ask, q.last, q.open, q.high, q.low, q.close))
        assert q.bid_size % 100 == 0
        assert q.bid_size > 0
        assert q.ask_size > 0
        assert q.last_size > 0
        if OPEN + timedelta(seconds=1) <= t < CLOSE:
            today = market.bars("META", start=MIDNIGHT, end=t, bar_size=BarSize.DAY_1)[0]
            assert (q.open, q.high, q.low, q.volume) == (
                today.open,
                today.high,
                today.low,
                today.volume,
            )
            assq = market.bars(
                "META", start=t - timedelta(days=1, hours=12), end=MIDNIGHT, bar_size=BarSize.DAY_1
            )
            assert q.close == assq[-1].close


def test_quote_before_the_open_shows_the_previous_session(market: MarketSimulator) -> None:
    """Pre-market quotes carry the last trade but yesterday's session figures and its close."""
    pre = market.quote("AMZN", OPEN - timedelta(hours=1))
    yesterday = market.bars(
        "AMZN", start=MIDNIGHT - timedelta(days=1), end=MIDNIGHT, bar_size=BarSize.DAY_1
    )[0]
    premarket = market.bars(
        "AMZN", start=MIDNIGHT, end=OPEN - timedelta(hours=1), bar_size=BarSize.MIN_1, use_rth=False
    )
    assert (pre.open, pre.high, pre.low, pre.volume) == (
        yesterday.open,
        yesterday.high,
        yesterday.low,
        yesterday.volume,
    )
    assert premarket[-1].time == OPEN - timedelta(hours=1, minutes=1)
    assert pre.last == premarket[-1].close
    friday = market.bars(
        "AMZN",
        start=MIDNIGHT - timedelta(days=4),
        end=MIDNIGHT - timedelta(days=1),
        bar_size=BarSize.DAY_1,
    )[-1]
    assert friday.time.date() == date(2026, 3, 6)
    assert pre.close == friday.close


def test_price_rests_overnight_and_on_weekends(market: MarketSimulator) -> None:
    """Outside trading hours the price is the last post-market trade until trading resumes."""
    friday = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    evening = market.bars(
        "KO",
        start=datetime(2026, 3, 6, tzinfo=UTC),
        end=datetime(2026, 3, 7, 6, tzinfo=UTC),
        bar_size=BarSize.MIN_1,
        use_rth=False,
    )
    last = evening[-1].close
    assert evening[-1].time == datetime(2026, 3, 7, 0, 59, tzinfo=UTC)
    for t in (friday + timedelta(hours=5), datetime(2026, 3, 8, 12, tzinfo=UTC)):
        assert market.price("KO", t) == last
    assert market.price("KO", datetime(2026, 3, 9, 8, 0, 2, tzinfo=UTC)) != 0


def test_prices_are_on_the_tick_and_plausible(market: MarketSimulator) -> None:
    """OHLC are on the minimum tick, high >= open/close >= low, and WAP is inside the range."""
    bars = market.bars("GOOGL", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_5)
    for bar in bars:
        assert all(_on_tick(p) for p in (bar.open, bar.high, bar.low, bar.close))
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.low - 1e-9 <= bar.wap <= bar.high + 1e-9
        assert bar.volume >= bar.count > 0
    mids = market.bars(
        "GOOGL", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_5, what_to_show=WhatToShow.MIDPOINT
    )
    bids = market.bars(
        "GOOGL", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_5, what_to_show=WhatToShow.BID
    )
    asks = market.bars(
        "GOOGL", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_5, what_to_show=WhatToShow.ASK
    )
    for bid, mid, ask, trade in zip(bids, mids, asks, bars, strict=True):
        assert bid.close < ask.close
        assert bid.close <= trade.close <= ask.close
        assert mid.close == pytest.approx((bid.close + ask.close) / 2)


def test_intraday_volume_is_u_shaped(market: MarketSimulator) -> None:
    """The first and last half hours trade more than the middle of the day, on average."""
    first, middle, last = [], [], []
    for offset in range(10):
        day = MIDNIGHT - timedelta(days=offset)
        halves = market.bars("JNJ", start=day, end=day + timedelta(days=1), bar_size=BarSize.MIN_30)
        if not halves:
            continue
        first.append(halves[0].volume)
        middle.append(halves[6].volume)
        last.append(halves[-1].volume)
    assert statistics.mean(first) > 2 * statistics.mean(middle)
    assert statistics.mean(last) > 1.3 * statistics.mean(middle)


def test_daily_moves_follow_the_security_volatility(market: MarketSimulator) -> None:
    """Three years of daily closes have an annualised volatility near the security's own."""
    for symbol in ("KO", "NVDA"):
        days = market.historical_bars(symbol, end=CLOSE, duration="3 Y", bar_size=BarSize.DAY_1)
        returns = [math.log(b.close / a.close) for a, b in itertools.pairwise(days)]
        realised = statistics.pstdev(returns) * math.sqrt(252)
        target = DEFAULT_UNIVERSE[symbol].annual_volatility
        assert 0.7 * target < realised < 1.4 * target
        volume = statistics.mean(b.volume for b in days)
        assert 0.6 < volume / DEFAULT_UNIVERSE[symbol].avg_daily_volume < 1.6


def test_partial_last_bar_grows_with_time(market: MarketSimulator) -> None:
    """The last bar holds only the seconds completed by ``end`` and extends as ``end`` moves on."""
    minute = OPEN + timedelta(minutes=42)
    seen: list[SimBar] = []
    for seconds in (1, 17, 17.5, 59, 60):
        bars = market.bars(
            "TSLA", start=minute, end=minute + timedelta(seconds=seconds), bar_size=BarSize.MIN_1
        )
        assert len(bars) == 1
        ones = market.bars(
            "TSLA", start=minute, end=minute + timedelta(seconds=seconds), bar_size=BarSize.SEC_1
        )
        assert len(ones) == math.floor(seconds)
        _assert_aggregates(bars[0], ones)
        seen.append(bars[0])
    assert (
        seen[-1]
        == market.bars(
            "TSLA", start=minute, end=minute + timedelta(hours=1), bar_size=BarSize.MIN_1
        )[0]
    )
    assert seen[0].volume < seen[1].volume <= seen[2].volume < seen[3].volume < seen[4].volume
    assert (
        market.bars(
            "TSLA", start=minute, end=minute + timedelta(seconds=0.5), bar_size=BarSize.MIN_1
        )
        == []
    )


def test_realtime_bars(market: MarketSimulator) -> None:
    """Realtime bars start on 5-second boundaries; outside trading hours they are flat and empty."""
    with pytest.raises(ValueError, match="multiple of 5"):
        market.realtime_bar("AAPL", OPEN + timedelta(seconds=3))
    night = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    flat = market.realtime_bar("AAPL", night)
    assert flat.volume == 0
    assert flat.count == 0
    assert flat.open == flat.high == flat.low == flat.close == market.price("AAPL", night)
    flat_mid = market.realtime_bar("AAPL", night, WhatToShow.MIDPOINT)
    assert flat_mid.volume == -1
    live = market.realtime_bar("AAPL", OPEN)
    assert live.time == OPEN
    assert live.volume > 0


# ------------------------------------------------------------------------------- IB's request rules


def test_durations_count_back_from_end(market: MarketSimulator) -> None:
    """D counts sessions, S seconds, W weeks, M months, Y years, as IB does."""
    assert (
        len(market.historical_bars("AAPL", end=CLOSE, duration="5 D", bar_size=BarSize.MIN_1))
        == 5 * 390
    )
    days = market.historical_bars("AAPL", end=CLOSE, duration="10 D", bar_size=BarSize.DAY_1)
    assert len(days) == 10
    assert days[-1].time == OPEN
    hour = market.historical_bars(
        "AAPL", end=OPEN + timedelta(hours=1), duration="3600 S", bar_size=BarSize.MIN_1
    )
    assert len(hour) == 60
    week = market.historical_bars("AAPL", end=CLOSE, duration="1 W", bar_size=BarSize.DAY_1)
    assert [b.time.date() for b in week] == [date(2026, 3, d) for d in (4, 5, 6, 9, 10)]
    months = market.historical_bars("AAPL", end=CLOSE, duration="2 M", bar_size=BarSize.DAY_1)
    assert months[0].time.date() == date(2026, 1, 12)
    year = market.historical_bars("AAPL", end=CLOSE, duration="1 Y", bar_size=BarSize.DAY_1)
    assert 250 <= len(year) <= 253
    assert year[0].time.date() == date(2025, 3, 11)
    ext = market.historical_bars(
        "AAPL", end=CLOSE, duration="1 D", bar_size=BarSize.HOUR_1, use_rth=False
    )
    assert ext[0].time.astimezone(EXCHANGE_TZ).time() == time(4, 0)


def test_a_session_in_progress_counts_as_one_day(market: MarketSimulator) -> None:
    """At 11:00 a '1 D' request covers today's session so far; before the open, yesterday's."""
    now = OPEN + timedelta(hours=1, minutes=30)
    bars = market.historical_bars("AAPL", end=now, duration="1 D", bar_size=BarSize.MIN_1)
    assert len(bars) == 90
    early = market.historical_bars("AAPL", end=OPEN, duration="1 D", bar_size=BarSize.MIN_1)
    assert early[0].time == OPEN - timedelta(days=1)
    assert len(early) == 390


@pytest.mark.parametrize(
    ("duration", "bar_size", "code", "text"),
    [
        ("5 days", BarSize.MIN_1, 321, "invalid duration"),
        ("0 D", BarSize.MIN_1, 321, "invalid duration"),
        ("D", BarSize.MIN_1, 321, "invalid duration"),
        ("400 D", BarSize.DAY_1, 321, "must be made in years"),
        ("1 D", BarSize.SEC_1, 162, "invalid step: 1"),
        ("1 Y", BarSize.SEC_30, 162, "invalid step: 30"),
        ("1 M", BarSize.SEC_15, 162, "invalid step: 15"),
        ("1 W", BarSize.SEC_5, 162, "invalid step: 5"),
        ("2001 S", BarSize.SEC_1, 162, "Time length exceed max"),
        ("86401 S", BarSize.SEC_5, 162, "Time length exceed max"),
        ("53 W", BarSize.DAY_1, 162, "Time length exceed max"),
        ("13 M", BarSize.DAY_1, 162, "Time length exceed max"),
        ("69 Y", BarSize.MONTH_1, 162, "Time length exceed max"),
    ],
)
def test_bad_requests_get_ib_codes_and_texts(
    market: MarketSimulator, duration: str, bar_size: BarSize, code: int, text: str
) -> None:
    """Malformed or oversized requests raise HistoricalDataError (a ValueError) with IB's code."""
    with pytest.raises(HistoricalDataError, match=text) as info:
        market.historical_bars("AAPL", end=CLOSE, duration=duration, bar_size=bar_size)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)
    if code == 162:
        assert info.value.message.startswith("Historical Market Data Service error message:")


def test_allowed_limits_pass() -> None:
    """The largest allowed durations are accepted."""
    assert parse_duration("2000 S", BarSize.SEC_1) == (2000, "S")
    assert parse_duration("365 D", BarSize.DAY_1) == (365, "D")
    assert parse_duration("68 Y", BarSize.MONTH_1) == (68, "Y")
    assert parse_duration("68 Y", BarSize.DAY_1) == (68, "Y")
    assert parse_duration(" 1 D ", BarSize.SEC_5) == (1, "D")
    assert parse_duration("86400 S", BarSize.SEC_5) == (86_400, "S")
    assert parse_duration("12 D", BarSize.MIN_1) == (12, "D")
    assert parse_duration("1 W", BarSize.MIN_1) == (1, "W")
    assert parse_duration("1 Y", BarSize.HOUR_1) == (1, "Y")
    assert parse_duration("12 M", BarSize.HOUR_1) == (12, "M")


def test_bad_inputs(market: MarketSimulator) -> None:
    """Unknown symbols raise KeyError, naive datetimes ValueError, empty ranges give no bars."""
    with pytest.raises(KeyError, match="ZZZZ"):
        market.price("ZZZZ", CLOSE)
    with pytest.raises(KeyError, match="ZZZZ"):
        market.bars("ZZZZ", start=OPEN, end=CLOSE, bar_size=BarSize.MIN_1)
    with pytest.raises(ValueError, match="timezone-aware"):
        market.quote("AAPL", datetime(2026, 3, 10, 15, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        market.is_open(datetime(2026, 3, 10, 15, 0))
    assert market.bars("AAPL", start=CLOSE, end=OPEN, bar_size=BarSize.MIN_1) == []
    with pytest.raises(ValueError, match="1971-2099"):
        market.price("AAPL", datetime(1965, 1, 5, 15, tzinfo=UTC))


def test_history_starts_with_the_calendar(market: MarketSimulator) -> None:
    """Requests reaching before 1971 return what exists, from the first session on."""
    bars = market.historical_bars(
        "KO", end=datetime(1971, 3, 1, tzinfo=UTC), duration="1 Y", bar_size=BarSize.DAY_1
    )
    assert bars[0].time.date() == date(1971, 1, 4)
    assert all(b.low > 0 for b in bars)


def test_history_starts_on_the_first_trading_day(market: MarketSimulator) -> None:
    """No bars before a listing: TSLA's history opens on 29 June 2010, its first week with it."""
    ipo = datetime(2010, 6, 29, 13, 30, tzinfo=UTC)
    first = market.first_session("TSLA")
    assert first.open == ipo
    daily = market.historical_bars(
        "TSLA", end=datetime(2010, 7, 10, tzinfo=UTC), duration="1 M", bar_size=BarSize.DAY_1
    )
    assert daily[0].time == ipo
    before = market.bars(
        "TSLA",
        start=ipo - timedelta(days=30),
        end=first.start(use_rth=False),
        bar_size=BarSize.HOUR_1,
        use_rth=False,
    )
    assert before == []
    weekly = market.bars(
        "TSLA", start=ipo - timedelta(days=10), end=ipo + timedelta(days=7), bar_size=BarSize.WEEK_1
    )
    assert [b.time for b in weekly] == [ipo]
    assert weekly[0].volume == sum(b.volume for b in daily[:4])  # Tue 29 Jun - Fri 2 Jul


def test_first_sessions_of_old_listings(market: MarketSimulator) -> None:
    """A stock listed before 1971 starts with the calendar; AAPL on its IPO day, 12 Dec 1980."""
    assert market.first_session("KO").day == date(1971, 1, 4)
    assert market.first_session("XOM").day == date(1971, 1, 4)
    assert market.first_session("AAPL").open == datetime(1980, 12, 12, 14, 30, tzinfo=UTC)


def test_market_hours(market: MarketSimulator) -> None:
    """is_open covers RTH only; is_trading adds extended hours when asked; holidays are closed."""
    assert market.is_open(OPEN)
    assert not market.is_open(OPEN - timedelta(seconds=1))
    assert not market.is_open(CLOSE)
    assert market.is_trading(OPEN - timedelta(hours=2), outside_rth=True)
    assert not market.is_trading(OPEN - timedelta(hours=2))
    assert not market.is_trading(CLOSE + timedelta(hours=4), outside_rth=True)
    assert not market.is_open(datetime(2026, 12, 25, 15, tzinfo=UTC))
    assert market.session_bounds(date(2026, 12, 25)) is None
    assert market.session_bounds(DAY) == (OPEN, CLOSE)
    trading, liquid = market.trading_hours("AAPL", DAY, 1)
    assert liquid == "20260310:0930-20260310:1600"
    assert trading == "20260310:0400-20260310:2000"
    assert market.seed == 42


def test_the_future_and_the_end_of_the_calendar(market: MarketSimulator) -> None:
    """Years after the anchor compound forward; the last calendar day still has an evening."""
    later = market.bars(
        "AAPL",
        start=datetime(2030, 6, 3, tzinfo=UTC),
        end=datetime(2030, 6, 4, tzinfo=UTC),
        bar_size=BarSize.DAY_1,
    )
    assert len(later) == 1
    assert later[0].low > 0
    last_evening = market.bars(
        "KO",
        start=datetime(2099, 12, 31, 9, tzinfo=UTC),
        end=datetime(2100, 1, 1, 2, tzinfo=UTC),
        bar_size=BarSize.HOUR_1,
        use_rth=False,
    )
    assert len(last_evening) == 16


def test_bar_steps_chain_decades_of_prices_a_year_per_step() -> None:
    """68 years of daily bars: one preparation step per year back to 1971, then the very bars
    historical_bars returns (a server pauses between steps, never inside a decades-long one)."""
    market = MarketSimulator(DEFAULT_UNIVERSE)
    steps = list(
        market.historical_bar_steps("KO", end=CLOSE, duration="68 Y", bar_size=BarSize.DAY_1)
    )
    first_bar = next(i for i, step in enumerate(steps) if step is not None)
    assert first_bar == ANCHOR_YEAR - FIRST_YEAR + 1
    bars = [step for step in steps if step is not None]
    assert bars[0].time.year == FIRST_YEAR
    assert bars == MarketSimulator(DEFAULT_UNIVERSE).historical_bars(
        "KO", end=CLOSE, duration="68 Y", bar_size=BarSize.DAY_1
    )
