"""The gateway's own pacing rules, driven by a simulated clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibbot.clock import SimulatedClock
from ibbot.sim.pacing import (
    HistoricalRequestKey,
    MessageRateLimiter,
    PacingKind,
    RequestPacer,
    SlidingWindow,
)

KEY = HistoricalRequestKey(
    con_id=265598,
    exchange="SMART",
    what_to_show="TRADES",
    end="",
    duration="1 D",
    bar_size="1 min",
    use_rth=True,
)


def _variant(i: int, **changes: object) -> HistoricalRequestKey:
    return replace(KEY, duration=f"{i + 1} D", **changes)  # type: ignore[arg-type]


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
