"""The gateway's own pacing rules, driven by a simulated clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibbot.clock import SimulatedClock
from ibbot.sim.pacing import (
    MAX_OPEN_HISTORICAL,
    HistoricalRequestKey,
    MessageRateLimiter,
    PacingKind,
    RequestPacer,
    SlidingWindow,
)

# IB's hard historical rules cover "Small Bars (30 secs or less)".
KEY = HistoricalRequestKey(
    con_id=265598,
    exchange="SMART",
    what_to_show="TRADES",
    end="",
    duration="1 D",
    bar_size="30 secs",
    use_rth=True,
)
DAILY = replace(KEY, bar_size="1 day", duration="1 Y")


def _variant(i: int, **changes: object) -> HistoricalRequestKey:
    return replace(KEY, duration=f"{i + 1} D", **changes)  # type: ignore[arg-type]


def _daily(i: int, **changes: object) -> HistoricalRequestKey:
    return replace(DAILY, end=f"2025{i % 12 + 1:02d}{i % 28 + 1:02d} 16:00:00", **changes)  # type: ignore[arg-type]


def test_sliding_window_forgets_old_events() -> None:
    """Events older than the window no longer count."""
    window = SlidingWindow(10.0)
    window.add(0.0, 2)
    window.add(5.0)
    assert window.count(9.0) == 3
    assert window.count(10.0) == 1
    assert window.count(15.0) == 0


def test_identical_request_within_15_seconds_violates() -> None:
    """The same request again within 15 s is refused; after 15 s it is fine."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    assert pacer.check_historical(KEY) is None
    clock.advance(14.9)
    verdict = pacer.check_historical(KEY)
    assert verdict is not None
    assert "identical" in verdict.rule
    clock.advance(0.2)
    assert pacer.check_historical(KEY) is None


def test_six_requests_for_one_contract_within_2_seconds_violate() -> None:
    """Five different requests for one contract in 2 s pass; the sixth is refused."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    for i in range(5):
        assert pacer.check_historical(_variant(i)) is None
    verdict = pacer.check_historical(_variant(5))
    assert verdict is not None
    assert "six" in verdict.rule
    assert pacer.check_historical(_variant(6, con_id=272093)) is None
    clock.advance(2.0)
    assert pacer.check_historical(_variant(7)) is None


def test_sixty_requests_per_ten_minutes_with_bid_ask_counting_double() -> None:
    """The 61st request in 10 minutes is refused; BID_ASK requests weigh two."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    for i in range(29):
        assert pacer.check_historical(_variant(i, con_id=i, what_to_show="BID_ASK")) is None
        clock.advance(3.0)
    assert pacer.check_historical(_variant(100, con_id=100)) is None
    clock.advance(3.0)
    assert pacer.check_historical(_variant(101, con_id=101)) is None  # 60 counted
    clock.advance(3.0)
    verdict = pacer.check_historical(_variant(102, con_id=102))
    assert verdict is not None
    assert "60" in verdict.rule
    clock.advance(600.0)
    assert pacer.check_historical(_variant(102, con_id=102)) is None


@pytest.mark.parametrize("bar_size", ["1 min", "5 mins", "1 hour", "1 day", "1 week"])
def test_bars_of_a_minute_or_more_pass_the_small_bar_rules(bar_size: str) -> None:
    """1-minute bars and larger: identical requests, 6+ per contract in 2 s and 61+ per 10 minutes
    are all admitted (IB lifted those rules for them)."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    key = replace(DAILY, bar_size=bar_size)
    assert pacer.check_historical(key) is None
    assert pacer.check_historical(key) is None  # identical, at once
    for i in range(70):  # one contract, one instant: past 6 per 2 s and 60 per 10 minutes
        assert pacer.check_historical(_daily(i, bar_size=bar_size)) is None
    assert pacer.check_historical(_variant(0)) is None  # small bars are counted apart


def test_small_bar_rules_ignore_large_bar_requests() -> None:
    """Requests for daily bars do not use up the small-bar 60-per-10-minutes budget."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    for i in range(100):
        assert pacer.check_historical(_daily(i, con_id=i)) is None
    for i in range(60):
        assert pacer.check_historical(_variant(i, con_id=1000 + i)) is None
    assert pacer.check_historical(_variant(60, con_id=2000)) is not None


def test_strict_switch_applies_the_small_bar_rules_to_every_size() -> None:
    """strict: daily bars are paced like small bars again; turning it off lifts that."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic, strict=True)
    assert pacer.check_historical(DAILY) is None
    verdict = pacer.check_historical(DAILY)
    assert verdict is not None
    assert "identical" in verdict.rule
    for i in range(4):
        assert pacer.check_historical(_daily(i)) is None
    verdict = pacer.check_historical(_daily(5))
    assert verdict is not None
    assert "six" in verdict.rule
    pacer.strict = False
    assert pacer.check_historical(DAILY) is None
    assert pacer.check_historical(_daily(5)) is None


@pytest.mark.parametrize("key", [KEY, DAILY])
def test_fifty_open_requests_refuse_the_next(key: HistoricalRequestKey) -> None:
    """With 50 historical requests open the next is refused (any bar size); with 49, admitted."""
    pacer = RequestPacer(SimulatedClock().monotonic)
    verdict = pacer.check_historical(key, open_requests=MAX_OPEN_HISTORICAL)
    assert verdict is not None
    assert verdict.kind is PacingKind.HISTORICAL_OPEN
    assert pacer.check_historical(key, open_requests=MAX_OPEN_HISTORICAL - 1) is None
    assert (
        RequestPacer(SimulatedClock().monotonic, enabled=False).check_historical(
            key, open_requests=500
        )
        is None
    )


def test_soft_throttle_delays_answers_beyond_the_free_rate() -> None:
    """50 requests in 10 s are answered at once; each one beyond waits 0.1 s more, at most 20 s;
    the delay falls back to 0 once the window has passed."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    delays = []
    for i in range(300):
        assert pacer.check_historical(_daily(i, con_id=i)) is None
        delays.append(pacer.answer_delay())
    assert delays[:50] == [0.0] * 50
    assert delays[50] == pytest.approx(0.1)
    assert delays[59] == pytest.approx(1.0)
    assert delays[249] == pytest.approx(20.0)
    assert delays[299] == pytest.approx(20.0)
    assert delays == sorted(delays)
    clock.advance(10.0)
    assert pacer.answer_delay() == 0.0
    assert RequestPacer(clock.monotonic, enabled=False).answer_delay() == 0.0


def test_fundamentals_and_realtime_bars_windows() -> None:
    """Fundamentals and new real-time-bar requests: 60 per 10 minutes each, independently."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic)
    for _ in range(60):
        assert pacer.check_fundamentals() is None
        assert pacer.check_realtime_bars() is None
    fundamentals = pacer.check_fundamentals()
    realtime = pacer.check_realtime_bars()
    assert fundamentals is not None
    assert fundamentals.kind is PacingKind.FUNDAMENTALS
    assert realtime is not None
    assert realtime.kind is PacingKind.REALTIME_BARS
    clock.advance(600.0)
    assert pacer.check_fundamentals() is None


def test_forced_violations_and_disabled_pacing() -> None:
    """force(k) refuses the next k requests of any kind, even with pacing disabled."""
    clock = SimulatedClock()
    pacer = RequestPacer(clock.monotonic, enabled=False)
    pacer.force(2)
    assert pacer.forced == 2
    first = pacer.check_fundamentals()
    assert first is not None
    assert first.rule == "forced by fault injection"
    assert pacer.check_historical(KEY) is not None
    assert pacer.check_historical(KEY) is None
    assert pacer.check_historical(KEY) is None  # disabled: identical requests pass
    with pytest.raises(ValueError, match="negative"):
        pacer.force(-1)


def test_message_rate_limiter_counts_strikes() -> None:
    """Past one second's budget each message is a strike; the budget refills with time."""
    now = [0.0]
    limiter = MessageRateLimiter(3, lambda: now[0])
    assert [limiter.admit() for _ in range(3)] == [None, None, None]
    assert limiter.admit() == 1
    assert limiter.admit() == 2
    assert limiter.received_last_second() == 3
    now[0] = 1.0
    assert [limiter.admit() for _ in range(3)] == [None, None, None]
    assert limiter.admit() == 3
    now[0] = 4.0  # idle time does not bank more than one second's budget
    assert [limiter.admit() for _ in range(3)] == [None, None, None]
    assert limiter.admit() == 4
    assert MessageRateLimiter(0).admit() is None
    assert limiter.limit == 3


def test_a_batch_read_late_does_not_make_the_next_one_a_violation() -> None:
    """ib_async's 45-per-rolling-second batches pass even when the first one is read 0.3 s late."""
    now = [0.0]
    limiter = MessageRateLimiter(50, lambda: now[0])
    now[0] = 0.3  # the first batch, sent at 0.0, reaches the gateway late
    assert all(limiter.admit() is None for _ in range(45))
    now[0] = 1.0  # the next batch, sent at 1.0, arrives on time
    assert all(limiter.admit() is None for _ in range(15))


@given(st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=200))
def test_what_a_one_second_window_admits_the_limiter_admits(offsets: list[float]) -> None:
    """Any stream with at most ``limit`` messages in every rolling second is never refused."""
    limit = 10
    times = sorted(offsets)
    compliant: list[float] = []
    for t in times:  # keep a sliding-window-compliant subsequence
        if sum(1 for u in compliant if u > t - 1.0) < limit:
            compliant.append(t)
    now = [0.0]
    limiter = MessageRateLimiter(limit, lambda: now[0])
    for t in compliant:
        now[0] = t
        assert limiter.admit() is None
