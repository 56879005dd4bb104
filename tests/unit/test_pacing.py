"""Pacing: token bucket, sliding window and concurrency limiters, and IB's rules, on a simulated clock."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ibbot.broker.requests import safe_pacing_rules
from ibbot.clock import SimulatedClock
from ibbot.errors import PacingViolation, RequestFailed
from ibbot.models import BarSize, WhatToShow
from ibbot.pacing import (
    AdaptiveSpacing,
    ConcurrencyLimiter,
    IBPacer,
    PacingRule,
    PacingRules,
    SlidingWindowLimiter,
    TokenBucket,
    _KeyedWindows,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def settle() -> None:
    """Give every runnable task a turn, until all are parked again."""
    for _ in range(20):
        await asyncio.sleep(0)


def stamp(
    clock: SimulatedClock, times: list[float]
) -> Callable[[Awaitable[object]], Awaitable[None]]:
    """Wrap an awaitable so its completion time on ``clock`` is appended to ``times``."""

    async def run(aw: Awaitable[object]) -> None:
        await aw
        times.append(round(clock.monotonic(), 6))

    return run


# -- TokenBucket ---------------------------------------------------------------------------------


async def test_bucket_allows_a_burst_of_capacity_then_the_rate() -> None:
    """A full bucket grants `capacity` at once; after that one token per 1/rate seconds."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert all(bucket.try_acquire() for _ in range(5))
    assert not bucket.try_acquire()
    times: list[float] = []
    run = stamp(clock, times)
    task = asyncio.create_task(_sequentially(8, lambda: run(bucket.acquire())))
    await clock.run_until_idle()
    await task
    assert times == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])


async def _sequentially(count: int, make: Callable[[], Awaitable[None]]) -> None:
    for _ in range(count):
        await make()


async def test_bucket_refills_up_to_capacity_only() -> None:
    """Idle time refills the bucket but never beyond its capacity."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert await bucket.acquire(5) == 0.0
    clock.advance(0.2)
    assert bucket.tokens == pytest.approx(2.0)
    clock.advance(100)
    assert bucket.tokens == pytest.approx(5.0)
    assert bucket.rate == 10
    assert bucket.capacity == 5


async def test_bucket_acquire_returns_the_time_waited() -> None:
    """acquire() reports how long it waited on the clock."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=2, capacity=1, clock=clock)
    await bucket.acquire()
    task = asyncio.create_task(bucket.acquire())
    await clock.wait_for_sleepers(1)
    clock.advance(0.5)
    assert await task == pytest.approx(0.5)


async def test_bucket_is_fifo_a_small_request_never_overtakes() -> None:
    """A later request for 1 token waits behind an earlier one for 5, though 1 is available sooner."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    await bucket.acquire(5)
    done: list[str] = []

    async def take(name: str, tokens: float) -> None:
        await bucket.acquire(tokens)
        done.append(name)

    big = asyncio.create_task(take("big", 5))
    await clock.wait_for_sleepers(1)
    small = asyncio.create_task(take("small", 1))
    await settle()
    assert bucket.waiting == 2
    assert not bucket.try_acquire()  # a waiter has first claim
    clock.advance(0.1)  # one token is there: still not for `small`
    await settle()
    assert done == []
    clock.advance(0.4)
    await settle()
    assert done == ["big"]
    clock.advance(0.1)
    await asyncio.gather(big, small)
    assert done == ["big", "small"]


async def test_bucket_try_acquire_refuses_while_someone_waits() -> None:
    """try_acquire() never jumps the queue, even when the tokens it wants are there."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    await bucket.acquire(5)
    waiter = asyncio.create_task(bucket.acquire(5))
    await clock.wait_for_sleepers(1)
    clock.advance(0.3)  # 3 tokens: enough for 1, but the waiter is first
    assert not bucket.try_acquire(1)
    clock.advance(0.2)
    await waiter
    assert bucket.tokens == pytest.approx(0.0)


async def test_bucket_cancelled_head_gives_up_its_place_and_takes_nothing() -> None:
    """Cancelling the waiting head lets the next waiter through at its own time; no tokens are lost."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    await bucket.acquire(5)
    head = asyncio.create_task(bucket.acquire(5))
    await clock.wait_for_sleepers(1)
    second = asyncio.create_task(bucket.acquire(1))
    await settle()
    head.cancel()
    with pytest.raises(asyncio.CancelledError):
        await head
    await clock.wait_for_sleepers(1)
    clock.advance(0.1)
    assert await second == pytest.approx(0.1)
    assert bucket.waiting == 0
    assert bucket.tokens == pytest.approx(0.0)


async def test_bucket_cancelled_queued_waiter_leaves_the_queue() -> None:
    """A cancelled waiter in the middle of the queue is skipped and takes nothing."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=1, clock=clock)
    await bucket.acquire()
    first = asyncio.create_task(bucket.acquire())
    await clock.wait_for_sleepers(1)
    middle = asyncio.create_task(bucket.acquire())
    last = asyncio.create_task(bucket.acquire())
    await settle()
    middle.cancel()
    await settle()
    assert bucket.waiting == 2
    times: list[float] = []
    for task in (first, last):
        task.add_done_callback(lambda _t: times.append(round(clock.monotonic(), 6)))
    await clock.run_until_idle()
    assert middle.cancelled()
    assert times == pytest.approx([0.1, 0.2])


async def test_bucket_waiter_cancelled_just_after_its_turn_came_passes_the_turn_on() -> None:
    """A waiter cancelled after being handed the turn, before running, hands it to the next."""
    clock = SimulatedClock()
    bucket = TokenBucket(rate=10, capacity=1, clock=clock)
    await bucket.acquire()
    first = asyncio.create_task(bucket.acquire())
    await clock.wait_for_sleepers(1)
    second = asyncio.create_task(bucket.acquire())
    third = asyncio.create_task(bucket.acquire())
    await settle()
    clock.advance(0.1)
    await asyncio.sleep(0)  # `first` takes its token and hands the turn to `second`
    assert first.done()
    second.cancel()
    await clock.run_until_idle()
    assert second.cancelled()
    assert third.done()
    assert clock.monotonic() == pytest.approx(0.2)
    assert bucket.waiting == 0


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (1, 0), (float("inf"), 1)])
def test_bucket_rejects_impossible_settings(rate: float, capacity: float) -> None:
    """Non-positive or infinite rates and capacities are refused clearly."""
    with pytest.raises(ValueError, match="must be a positive number"):
        TokenBucket(rate, capacity, SimulatedClock())


@pytest.mark.parametrize("tokens", [6, 0, -1])
async def test_bucket_rejects_requests_that_can_never_fit(tokens: float) -> None:
    """Asking for more than the capacity, or for nothing, is an error rather than a hang."""
    bucket = TokenBucket(1, 5, SimulatedClock())
    with pytest.raises(ValueError, match="fit in the bucket"):
        await bucket.acquire(tokens)
    with pytest.raises(ValueError, match="fit in the bucket"):
        bucket.try_acquire(tokens)


# -- SlidingWindowLimiter ------------------------------------------------------------------------


async def test_window_admits_limit_then_waits_for_the_oldest_to_leave() -> None:
    """3 per 10 s: three pass at once, the next two when the first ones are 10 s old."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=3, window=10, clock=clock)
    times: list[float] = []
    run = stamp(clock, times)
    tasks = [asyncio.create_task(run(window.acquire())) for _ in range(5)]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    assert times == [0, 0, 0, 10, 10]


async def test_window_is_exact_in_any_window_with_weights() -> None:
    """Random weighted arrivals: no window of `window` seconds ever holds more than `limit`."""
    rng = random.Random(7)
    clock = SimulatedClock()
    limit, length = 7, 10.0
    window = SlidingWindowLimiter(limit=limit, window=length, clock=clock)
    grants: list[tuple[float, int]] = []

    async def request(at: float, weight: int) -> None:
        await clock.sleep(at)
        await window.acquire(weight)
        grants.append((clock.monotonic(), weight))

    tasks = [
        asyncio.create_task(request(rng.uniform(0, 60), rng.choice((1, 1, 2, 3))))
        for _ in range(80)
    ]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    assert len(grants) == 80
    for start, _ in grants:
        in_window = sum(w for t, w in grants if start <= t < start + length - 1e-9)
        assert in_window <= limit
    # and it is not needlessly slow: every window starting at a grant is full or followed by idle
    assert window.used <= limit


async def test_window_is_fifo_across_weights() -> None:
    """A later weight-1 request does not overtake an earlier weight-2 request that must wait."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=5, window=2, clock=clock)
    await window.acquire(2)
    await window.acquire(2)
    order: list[str] = []

    async def take(name: str, weight: int) -> None:
        await window.acquire(weight)
        order.append(name)

    heavy = asyncio.create_task(take("heavy", 2))
    await clock.wait_for_sleepers(1)
    light = asyncio.create_task(take("light", 1))  # would fit now (4 + 1 <= 5), but is second
    await settle()
    assert order == []
    assert not window.try_acquire(1)
    clock.advance(2)
    await asyncio.gather(heavy, light)
    assert order == ["heavy", "light"]


async def test_window_cancelled_waiter_takes_no_slot() -> None:
    """A cancelled waiter records nothing; the next waiter is admitted at its own time."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=1, window=5, clock=clock)
    await window.acquire()
    doomed = asyncio.create_task(window.acquire())
    await clock.wait_for_sleepers(1)
    survivor = asyncio.create_task(window.acquire())
    await settle()
    doomed.cancel()
    await settle()
    clock.advance(5)
    assert await survivor == pytest.approx(5)
    assert window.used == 1
    assert not window.try_acquire()


async def test_reservation_counts_until_committed_and_its_window_starts_at_commit() -> None:
    """A pending reservation never expires; once committed it stays for a full window from then."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=1, window=15, clock=clock)
    reservation = await window.reserve()
    assert reservation.pending
    assert reservation.waited == 0.0
    clock.advance(100)
    assert not window.try_acquire()
    reservation.commit()
    reservation.commit()  # idempotent
    assert not reservation.pending
    waiter = asyncio.create_task(window.acquire())
    await clock.wait_for_sleepers(1)
    clock.advance(14.9)
    await settle()
    assert not waiter.done()
    clock.advance(0.1)
    assert await waiter == pytest.approx(15)


async def test_cancelled_reservation_frees_its_slot_and_wakes_the_waiter() -> None:
    """Cancelling a reservation wakes a waiter blocked only by reservations at once."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=2, window=10, clock=clock)
    reservation = await window.reserve(2)
    waiter = asyncio.create_task(window.acquire())
    await settle()
    assert not waiter.done()
    clock.advance(3)
    reservation.cancel()
    reservation.cancel()  # idempotent
    assert await waiter == pytest.approx(3)
    with pytest.raises(RuntimeError, match="cancelled"):
        reservation.commit()


async def test_committing_a_reservation_turns_an_open_wait_into_a_timed_one() -> None:
    """A waiter blocked by a reservation waits, after its commit, one window from the commit time."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=2, window=10, clock=clock)
    reservation = await window.reserve(2)
    waiter = asyncio.create_task(window.acquire())
    await settle()
    clock.advance(3)
    reservation.commit()
    await clock.wait_for_sleepers(1)
    clock.advance(9.9)
    await settle()
    assert not waiter.done()
    clock.advance(0.1)
    assert await waiter == pytest.approx(13)


async def test_cancelled_reservation_shortens_a_timed_wait() -> None:
    """A waiter sleeping for an old entry to expire is admitted early if a reservation is dropped."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=2, window=10, clock=clock)
    await window.acquire()
    reservation = await window.reserve()
    waiter = asyncio.create_task(window.acquire())
    await clock.wait_for_sleepers(1)  # would sleep until t=10
    clock.advance(1)
    reservation.cancel()
    assert await waiter == pytest.approx(1)
    assert clock.sleepers == 0


async def test_window_head_cancelled_while_racing_a_reservation_leaves_cleanly() -> None:
    """Cancelling a head that waits on both time and a reservation leaves no sleeper or waiter."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=2, window=10, clock=clock)
    await window.acquire()
    reservation = await window.reserve()
    waiter = asyncio.create_task(window.acquire())
    await clock.wait_for_sleepers(1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await settle()
    assert clock.sleepers == 0
    assert window.waiting == 0
    reservation.cancel()
    assert window.try_acquire()


@pytest.mark.parametrize(("limit", "length"), [(0, 1), (1.5, 1), (3, 0), (3, float("nan"))])
def test_window_rejects_bad_settings(limit: int, length: float) -> None:
    """Limits must be positive integers and windows positive numbers of seconds."""
    with pytest.raises(ValueError, match="must be a positive"):
        SlidingWindowLimiter(limit, length, SimulatedClock())


@pytest.mark.parametrize("weight", [0, 4, 1.5])
async def test_window_rejects_weights_outside_the_limit(weight: int) -> None:
    """A weight must be a whole number from 1 to the limit, or it could never be admitted."""
    window = SlidingWindowLimiter(3, 1, SimulatedClock())
    with pytest.raises(ValueError, match="weight must be"):
        await window.acquire(weight)
    with pytest.raises(ValueError, match="weight must be"):
        await window.reserve(weight)


async def test_window_idle_and_used() -> None:
    """`used` counts the window and reservations; `idle` once everything has expired."""
    clock = SimulatedClock()
    window = SlidingWindowLimiter(limit=4, window=2, clock=clock)
    assert window.idle
    assert window.limit == 4
    assert window.window == 2
    await window.acquire(3)
    assert window.used == 3
    assert not window.idle
    clock.advance(2)
    assert window.used == 0
    assert window.idle


async def test_keyed_windows_forget_idle_keys() -> None:
    """Per-key limiters of keys whose windows have passed are swept, bounding memory."""
    clock = SimulatedClock()
    keyed = _KeyedWindows(1, 15, clock)
    for key in range(64):
        assert keyed.get(key).try_acquire()
    assert keyed.get(3) is keyed.get(3)
    clock.advance(15)
    keyed.get("new")
    assert len(keyed) == 1


# -- ConcurrencyLimiter --------------------------------------------------------------------------


async def test_concurrency_limiter_holds_at_most_limit_in_fifo_order() -> None:
    """The third holder waits for a release; waiters are admitted in arrival order."""
    clock = SimulatedClock()
    limiter = ConcurrencyLimiter(2, clock)
    await limiter.acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with limiter:
            order.append(name)

    waiters = [asyncio.create_task(hold(name)) for name in ("a", "b")]
    await settle()
    assert order == []
    limiter.release()
    await asyncio.gather(*waiters)
    assert order == ["a", "b"]
    assert limiter.in_use == 1
    assert limiter.limit == 2


async def test_concurrency_limiter_rejects_release_without_acquire() -> None:
    """Releasing more than was acquired is a bug and says so."""
    limiter = ConcurrencyLimiter(1, SimulatedClock())
    with pytest.raises(RuntimeError, match="more times"):
        limiter.release()
    with pytest.raises(ValueError, match="positive integer"):
        ConcurrencyLimiter(0, SimulatedClock())


# -- PacingRules ---------------------------------------------------------------------------------


def test_rules_default_to_ibs_published_limits() -> None:
    """Defaults are IB's numbers: 50 msg/s, 60 per 10 min, 15 s, 5 per 2 s, BID_ASK x2, 50 open."""
    rules = PacingRules()
    assert rules.messages_per_second == 50
    assert (rules.historical_requests, rules.historical_window) == (60, 600)
    assert rules.identical_request_interval == 15
    assert (rules.same_contract_requests, rules.same_contract_window) == (5, 2)
    assert rules.bid_ask_weight == 2
    assert rules.historical_in_flight == 50
    assert (rules.fundamentals_requests, rules.fundamentals_window) == (60, 600)
    assert (rules.realtime_bar_requests, rules.realtime_bar_window) == (60, 600)


def test_scaled_divides_every_window_and_keeps_the_counts() -> None:
    """scaled(10) makes every window 10x shorter and the message rate 10x faster; counts stay."""
    rules = PacingRules()
    fast = rules.scaled(10)
    seconds = {
        f.name for f in dataclasses.fields(rules) if "window" in f.name or "interval" in f.name
    }
    assert seconds == {
        "historical_window",
        "identical_request_interval",
        "same_contract_window",
        "fundamentals_window",
        "realtime_bar_window",
        "backoff_interval",
        "backoff_max_interval",
    }
    for name in seconds:
        assert getattr(fast, name) == pytest.approx(getattr(rules, name) / 10)
    assert fast.messages_per_second == 500
    assert fast.backoff_recovery == pytest.approx(rules.backoff_recovery * 10)
    assert fast.historical_requests == 60
    assert fast.same_contract_requests == 5
    assert fast.message_burst == rules.message_burst
    with pytest.raises(ValueError, match="scale factor"):
        rules.scaled(0)


@pytest.mark.parametrize(
    "changes",
    [
        {"messages_per_second": 0},
        {"historical_window": -1.0},
        {"same_contract_requests": 0},
        {"historical_in_flight": 2.5},
        {"bid_ask_weight": 6},
        {"small_bar_seconds": 0},
        {"backoff_recovery": float("inf")},
        {"backoff_max_interval": 0.5},
    ],
)
def test_rules_reject_nonsense(changes: dict[str, float]) -> None:
    """Non-positive rates, windows or counts, and a BID_ASK weight above a limit are refused."""
    with pytest.raises(ValueError, match=r"pacing rule|bid_ask_weight|backoff"):
        PacingRules(**changes)  # type: ignore[arg-type]


# -- IBPacer -------------------------------------------------------------------------------------


async def _historical(
    pacer: IBPacer,
    key: object,
    contract: object,
    what: str = "TRADES",
    hold: asyncio.Event | None = None,
    bar_size: BarSize = BarSize.SEC_30,  # IB's hard rules cover bars of 30 s or less
) -> float:
    clock = pacer._clock
    async with pacer.historical(key, contract, what, bar_size=bar_size):
        sent = clock.monotonic()
        if hold is not None:
            await hold.wait()
    return sent


async def test_message_rate_spaces_messages_at_50_per_second() -> None:
    """Messages go out one per 20 ms: no one-second window holds more than 50."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    times: list[float] = []

    async def send(count: int) -> None:
        for _ in range(count):
            await pacer.message()
            times.append(clock.monotonic())

    task = asyncio.create_task(send(120))
    await clock.run_until_idle()
    await task
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1 - 1e-9) <= 50
    assert times[-1] == pytest.approx(119 * 0.02)
    assert pacer.stats().messages == 120


async def test_try_message_takes_a_free_message_and_never_waits() -> None:
    """try_message takes and counts a message the budget has now; with none free, or a caller
    queued for one, it takes nothing and says so at once."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    assert pacer.try_message()
    assert not pacer.try_message()  # the burst of one is spent: the next is 20 ms away
    queued = asyncio.create_task(pacer.message())
    await settle()
    clock.advance(0.02)
    assert not pacer.try_message()  # the free message is the queued caller's
    await clock.run_until_idle()
    await queued
    clock.advance(0.02)
    assert pacer.try_message()
    assert pacer.stats().messages == 3


async def test_identical_historical_request_waits_15_s_after_the_last_one() -> None:
    """The same request again waits until 15 s after the previous identical one was sent."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    key = ("AAPL", "SMART", "20260105 16:00:00", "1 D", "1 min", "TRADES", True)
    assert await _historical(pacer, key, ("AAPL", "SMART")) == 0
    clock.advance(5)
    second = asyncio.create_task(_historical(pacer, key, ("AAPL", "SMART")))
    other = asyncio.create_task(_historical(pacer, ("another request",), ("AAPL", "SMART")))
    await clock.run_until_idle()
    assert await second == pytest.approx(15)
    assert await other == pytest.approx(5)  # a different request is not held back
    third = asyncio.create_task(_historical(pacer, key, ("AAPL", "SMART")))
    await clock.run_until_idle()
    assert await third == pytest.approx(30)
    stats = pacer.stats()
    assert stats.waits[PacingRule.HISTORICAL_IDENTICAL] == 2
    assert stats.wait_seconds[PacingRule.HISTORICAL_IDENTICAL] == pytest.approx(10 + 15)


async def test_sixth_request_for_a_contract_waits_until_the_first_leaves_the_2_s_window() -> None:
    """Five requests for one contract+exchange+tick type pass at once; the 6th waits for t0 + 2 s."""
    rules = dataclasses.replace(PacingRules(), messages_per_second=1e6, message_burst=100)
    clock = SimulatedClock()
    pacer = IBPacer(clock, rules)
    contract = (265598, "SMART")
    first_five = [await _historical(pacer, ("req", i), contract) for i in range(5)]
    assert first_five == [0, 0, 0, 0, 0]
    sixth = asyncio.create_task(_historical(pacer, ("req", 5), contract))
    other_contract = asyncio.create_task(_historical(pacer, ("req", 6), (272093, "SMART")))
    other_tick_type = asyncio.create_task(_historical(pacer, ("req", 7), contract, "MIDPOINT"))
    await settle()
    assert other_contract.done()
    assert other_tick_type.done()
    assert not sixth.done()
    clock.advance(1.999)
    await settle()
    assert not sixth.done()
    clock.advance(0.001)
    assert await sixth == pytest.approx(2)
    assert pacer.stats().waits[PacingRule.HISTORICAL_SAME_CONTRACT] == 1


async def test_bid_ask_counts_twice() -> None:
    """BID_ASK weighs 2: only two fit in a contract's 2-s window, and 30 fill the 10-minute window."""
    rules = dataclasses.replace(PacingRules(), messages_per_second=1e6, message_burst=100)
    clock = SimulatedClock()
    pacer = IBPacer(clock, rules)
    contract = ("EUR", "IDEALPRO")
    assert await _historical(pacer, 1, contract, WhatToShow.BID_ASK) == 0
    assert await _historical(pacer, 2, contract, "bid_ask") == 0
    third = asyncio.create_task(_historical(pacer, 3, contract, "BID_ASK"))
    await clock.run_until_idle()
    assert await third == pytest.approx(2)
    # 3 BID_ASK so far (weight 6); 27 more on other contracts reach 60 in the 10-minute window
    for i in range(27):
        assert await _historical(pacer, ("x", i), ("C", i), "BID_ASK") == pytest.approx(2)
    late = asyncio.create_task(_historical(pacer, "late", ("C", "late"), "TRADES"))
    await clock.run_until_idle()
    assert await late == pytest.approx(600)  # the first BID_ASK (t=0) frees 2 at t=600
    assert pacer.stats().waits[PacingRule.HISTORICAL_WINDOW] == 1


async def test_sixty_historical_requests_per_ten_minutes() -> None:
    """The 61st historical request waits until the first is ten minutes old, exactly."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    sent: list[float] = []

    async def run_all() -> None:
        sent.extend([await _historical(pacer, ("req", i), ("contract", i)) for i in range(61)])

    task = asyncio.create_task(run_all())
    await clock.run_until_idle()
    await task
    assert sent[59] == pytest.approx(59 * 0.02)  # message rate only
    assert sent[60] == pytest.approx(600)
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 600 - 1e-9) <= 60


async def test_at_most_50_historical_requests_in_flight() -> None:
    """The 51st request waits until one of 50 open requests completes, then goes."""
    rules = dataclasses.replace(PacingRules(), messages_per_second=1e6, message_burst=100)
    clock = SimulatedClock()
    pacer = IBPacer(clock, rules.scaled(1000))  # short windows so only the in-flight cap binds
    gates = [asyncio.Event() for _ in range(51)]
    tasks = [
        asyncio.create_task(_historical(pacer, ("r", i), ("c", i), hold=gates[i]))
        for i in range(51)
    ]
    await settle()
    assert pacer.stats().historical_in_flight == 50
    assert pacer.stats().historical_requests == 50
    gates[50].set()
    clock.advance(1)
    await settle()
    assert not tasks[50].done()
    gates[7].set()
    await settle()
    assert tasks[7].done()
    assert tasks[50].done()
    for gate in gates:
        gate.set()
    await asyncio.gather(*tasks)
    stats = pacer.stats()
    assert stats.historical_in_flight == 0
    assert stats.historical_requests == 51
    assert stats.waits[PacingRule.HISTORICAL_IN_FLIGHT] == 1


async def test_fundamentals_sixty_per_ten_minutes() -> None:
    """The 61st reqFundamentalData waits until the first is ten minutes old."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    sent: list[float] = []

    async def run_all() -> None:
        for _ in range(61):
            await pacer.fundamentals("AAPL")
            sent.append(clock.monotonic())

    task = asyncio.create_task(run_all())
    await clock.run_until_idle()
    await task
    assert sent[59] < 2
    assert sent[60] == pytest.approx(600)
    stats = pacer.stats()
    assert stats.fundamentals_requests == 61
    assert stats.waits[PacingRule.FUNDAMENTALS_WINDOW] == 1
    assert stats.wait_seconds[PacingRule.FUNDAMENTALS_WINDOW] == pytest.approx(600 - sent[59])


async def test_realtime_bars_sixty_new_requests_per_ten_minutes() -> None:
    """The 61st new reqRealTimeBars waits until the first is ten minutes old."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, PacingRules().scaled(60))  # a 10-second window
    sent: list[float] = []

    async def run_all() -> None:
        for i in range(61):
            await pacer.realtime_bars(f"S{i}")
            sent.append(clock.monotonic())

    task = asyncio.create_task(run_all())
    await clock.run_until_idle()
    await task
    assert sent[60] == pytest.approx(10)
    assert pacer.stats().realtime_bar_requests == 61


async def test_scaled_rules_drive_a_faster_pacer() -> None:
    """With rules.scaled(10), identical requests are 1.5 s apart instead of 15 s."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, PacingRules().scaled(10))
    assert await _historical(pacer, "same", "c") == 0
    again = asyncio.create_task(_historical(pacer, "same", "c"))
    await clock.run_until_idle()
    assert await again == pytest.approx(1.5)
    assert pacer.rules.identical_request_interval == pytest.approx(1.5)


async def test_cancelled_historical_request_gives_back_everything() -> None:
    """A request cancelled while waiting leaves no reservation, slot or count behind."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    await _historical(pacer, "same", "c")
    clock.advance(1)
    doomed = asyncio.create_task(_historical(pacer, "same", "c"))
    await clock.wait_for_sleepers(1)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    later = asyncio.create_task(_historical(pacer, "same", "c"))
    await clock.run_until_idle()
    assert await later == pytest.approx(15)  # 15 s after the first, not after the cancelled one
    stats = pacer.stats()
    assert stats.historical_requests == 2
    assert stats.historical_in_flight == 0


async def test_request_failing_inside_the_block_still_counts_and_frees_its_slot() -> None:
    """An error while the request is out still counts it as sent, and releases its in-flight slot."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    with pytest.raises(LookupError):
        async with pacer.historical("k", "c", bar_size=BarSize.SEC_5):
            raise LookupError("no data")
    stats = pacer.stats()
    assert stats.historical_requests == 1
    assert stats.historical_in_flight == 0
    blocked = asyncio.create_task(_historical(pacer, "k", "c"))
    await clock.run_until_idle()
    assert await blocked == pytest.approx(15)


async def test_waits_are_logged_at_debug_with_their_rule() -> None:
    """Each wait is logged (before and after) naming the rule; counters add up the seconds."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    with capture_logs() as logs:
        await _historical(pacer, "k", ("AAPL", "SMART"))
        task = asyncio.create_task(_historical(pacer, "k", ("AAPL", "SMART")))
        await clock.run_until_idle()
        await task
    waiting = [e for e in logs if e["event"] == "pacing.waiting"]
    waited = [e for e in logs if e["event"] == "pacing.waited"]
    assert [e["rule"] for e in waiting] == ["historical_identical"]
    assert waited[0]["rule"] == "historical_identical"
    assert waited[0]["seconds"] == pytest.approx(15)
    assert waited[0]["contract"] == "('AAPL', 'SMART')"
    assert all(e["log_level"] == "debug" for e in waiting + waited)
    assert pacer.stats().total_wait_seconds == pytest.approx(15)


async def test_blank_tick_type_is_refused() -> None:
    """A historical request must name its tick type."""
    pacer = IBPacer(SimulatedClock())
    with pytest.raises(ValueError, match="what_to_show"):
        async with pacer.historical("k", "c", "  ", bar_size=BarSize.DAY_1):
            pass


async def test_request_cancelled_at_the_message_rate_gives_back_its_reservations_and_slot() -> None:
    """Cancelled while waiting for a message token (after the windows), nothing stays reserved."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    await _historical(pacer, "first", ("AAPL", "SMART"))
    doomed = asyncio.create_task(_historical(pacer, "second", ("AAPL", "SMART")))
    await clock.wait_for_sleepers(1)  # windows passed, in-flight slot held, waiting 20 ms
    assert pacer.stats().historical_in_flight == 1
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    stats = pacer.stats()
    assert stats.historical_in_flight == 0
    assert stats.historical_requests == 1
    assert pacer._historical.used == 1
    assert pacer._same_contract.get((("AAPL", "SMART"), "TRADES")).used == 1
    assert pacer._identical.get("second").idle


# -- bar sizes and the adaptive backoff ---------------------------------------------------------

FAST_MESSAGES = dataclasses.replace(PacingRules(), messages_per_second=1e6, message_burst=100)


async def _sent_in_order(pacer: IBPacer, keys: list[object], bar_size: BarSize) -> list[float]:
    """Send one request per key, one after the other, on one contract; return the send times."""
    sent: list[float] = []

    async def run_all() -> None:
        sent.extend(
            [await _historical(pacer, k, ("AAPL", "SMART"), bar_size=bar_size) for k in keys]
        )

    task = asyncio.create_task(run_all())
    await pacer._clock.run_until_idle()  # type: ignore[attr-defined]
    await task
    return sent


@pytest.mark.parametrize("bar_size", [BarSize.MIN_1, BarSize.HOUR_1, BarSize.DAY_1])
async def test_bars_of_a_minute_or_more_have_no_pacing_window(bar_size: BarSize) -> None:
    """100 different requests for one contract go out at the message rate: no 60-per-10-minutes
    window and no 5-per-2-s rule for bars of 1 minute and more."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    sent = await _sent_in_order(pacer, [("daily", i) for i in range(100)], bar_size)
    assert sent == pytest.approx([i * 0.02 for i in range(100)])  # 50 messages/s only
    stats = pacer.stats()
    assert stats.waits[PacingRule.HISTORICAL_WINDOW] == 0
    assert stats.waits[PacingRule.HISTORICAL_SAME_CONTRACT] == 0
    assert stats.historical_requests == 100


async def test_small_bars_keep_their_window_beside_unpaced_daily_bars() -> None:
    """Daily requests do not use up the small-bar window: 60 small-bar requests still pass at
    once after 100 daily ones, and the 61st waits for the window."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, PacingRules())
    daily = await _sent_in_order(pacer, [("d", i) for i in range(100)], BarSize.DAY_1)
    small = await _sent_in_order(pacer, [("s", i) for i in range(61)], BarSize.SEC_30)
    assert daily[-1] == pytest.approx(99 * 0.02)
    # five per contract in 2 s, then the window: the 61st small-bar request waits for the first
    assert small[59] < 30
    assert small[60] == pytest.approx(small[0] + 600)


async def test_identical_daily_request_still_waits_15_s() -> None:
    """The identical-request rule is kept for every bar size."""
    clock = SimulatedClock()
    pacer = IBPacer(clock)
    assert await _historical(pacer, "same", "c", bar_size=BarSize.DAY_1) == 0
    again = asyncio.create_task(_historical(pacer, "same", "c", bar_size=BarSize.DAY_1))
    await clock.run_until_idle()
    assert await again == pytest.approx(15)
    assert pacer.stats().waits[PacingRule.HISTORICAL_IDENTICAL] == 1


async def test_at_most_50_daily_requests_in_flight() -> None:
    """The in-flight cap holds for daily bars: the 51st waits for one of 50 open requests."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, FAST_MESSAGES)
    gates = [asyncio.Event() for _ in range(51)]
    tasks = [
        asyncio.create_task(
            _historical(pacer, ("r", i), "c", hold=gates[i], bar_size=BarSize.DAY_1)
        )
        for i in range(51)
    ]
    await settle()
    assert pacer.stats().historical_in_flight == 50
    clock.advance(1)
    await settle()
    assert not tasks[50].done()
    gates[3].set()
    await settle()
    assert tasks[3].done()
    assert pacer.stats().historical_in_flight == 50  # the 51st took the freed slot
    for gate in gates:
        gate.set()
    await asyncio.gather(*tasks)
    assert pacer.stats().waits[PacingRule.HISTORICAL_IN_FLIGHT] == 1


async def _violated(pacer: IBPacer, key: object, bar_size: BarSize = BarSize.DAY_1) -> None:
    with pytest.raises(PacingViolation):
        async with pacer.historical(key, "c", bar_size=bar_size):
            raise PacingViolation("pacing violation", code=162)


async def test_a_pacing_violation_opens_a_gap_and_answers_close_it() -> None:
    """After a 162/420: 1 s between historical requests; each answer adds 0.25 requests/s to
    the rate (AIMD), so the gap shrinks (1, 0.8, 0.667 s, ...) and closes below 0.1 s."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, FAST_MESSAGES)
    with capture_logs() as logs:
        await _violated(pacer, "refused")
    assert [e["interval"] for e in logs if e["event"] == "pacing.backoff"] == [1.0]
    stats = pacer.stats()
    assert (stats.historical_backoff_interval, stats.historical_backoffs) == (1.0, 1)
    sent = await _sent_in_order(pacer, [("after", i) for i in range(3)], BarSize.DAY_1)
    assert sent == pytest.approx([1.0, 1.8, 1.8 + 1 / 1.5])
    assert pacer.stats().waits[PacingRule.HISTORICAL_BACKOFF] == 3
    await _sent_in_order(pacer, [("recover", i) for i in range(32)], BarSize.DAY_1)
    assert pacer.stats().historical_backoff_interval == pytest.approx(1 / 9.75)
    await _sent_in_order(pacer, ["last", "but one"], BarSize.DAY_1)
    assert pacer.stats().historical_backoff_interval == 0  # recovered
    start = clock.monotonic()
    sent = await _sent_in_order(pacer, [("free", i) for i in range(5)], BarSize.DAY_1)
    assert sent == pytest.approx([start] * 5)


async def test_repeated_violations_double_the_gap_up_to_the_strict_pace() -> None:
    """Each violation after the last slow-down doubles the gap, capped at 10 s (60 per 10 min)."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, FAST_MESSAGES)
    gaps = []
    for i in range(6):
        task = asyncio.create_task(_violated(pacer, ("refused", i), BarSize.SEC_30))
        await clock.run_until_idle()
        await task
        gaps.append(pacer.stats().historical_backoff_interval)
    assert gaps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


async def test_a_burst_refused_at_once_halves_the_rate_once() -> None:
    """Ten requests in flight together, all refused: one slow-down, not ten."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, FAST_MESSAGES)
    go = asyncio.Event()

    async def send(i: int) -> None:
        async with pacer.historical(("burst", i), "c", bar_size=BarSize.DAY_1):
            await go.wait()
            raise PacingViolation("pacing violation", code=420)

    async def refused(i: int) -> None:
        with pytest.raises(PacingViolation):
            await send(i)

    tasks = [asyncio.create_task(refused(i)) for i in range(10)]
    await settle()
    clock.advance(0.5)
    go.set()
    await asyncio.gather(*tasks)
    stats = pacer.stats()
    assert (stats.historical_backoffs, stats.historical_backoff_interval) == (1, 1.0)


async def test_other_failures_neither_slow_down_nor_speed_up() -> None:
    """A non-pacing error (no data, a timeout) leaves the backoff alone."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, FAST_MESSAGES)
    await _violated(pacer, "refused")
    for error in (RequestFailed("no data", code=162), TimeoutError()):
        task = asyncio.create_task(_raising(pacer, error))
        await clock.run_until_idle()
        await task
    stats = pacer.stats()
    assert (stats.historical_backoffs, stats.historical_backoff_interval) == (1, 1.0)


async def _raising(pacer: IBPacer, error: Exception) -> None:
    with pytest.raises(type(error)):
        async with pacer.historical(("fails", repr(error)), "c", bar_size=BarSize.DAY_1):
            raise error


async def test_strict_rules_pace_daily_bars_like_small_bars() -> None:
    """strict_all_bar_sizes (ib.strict_pacing): the 61st daily request waits the 10 minutes and
    the sixth for one contract in 2 s waits too, as before IB lifted the rules."""
    clock = SimulatedClock()
    pacer = IBPacer(clock, dataclasses.replace(PacingRules(), strict_all_bar_sizes=True))
    sent = await _sent_in_order(pacer, [("daily", i) for i in range(61)], BarSize.DAY_1)
    assert sent[5] == pytest.approx(2.0)  # the sixth for AAPL waits for the first to be 2 s old
    assert sent[60] == pytest.approx(600)
    assert pacer.stats().waits[PacingRule.HISTORICAL_WINDOW] == 1


def test_strictness_by_bar_size() -> None:
    """Bars of 30 s or less are strict; larger ones only with strict_all_bar_sizes."""
    rules = PacingRules()
    assert [size for size in BarSize if rules.is_strict(size)] == [
        BarSize.SEC_1,
        BarSize.SEC_5,
        BarSize.SEC_10,
        BarSize.SEC_15,
        BarSize.SEC_30,
    ]
    strict = safe_pacing_rules(scale=60, strict=True)
    assert all(strict.is_strict(size) for size in BarSize)
    assert not safe_pacing_rules(scale=60).strict_all_bar_sizes


def test_adaptive_spacing_refuses_nonsense() -> None:
    """Non-positive or infinite parameters, or a maximum below the initial gap, are refused."""
    clock = SimulatedClock()
    with pytest.raises(ValueError, match="recovery"):
        AdaptiveSpacing(clock, initial=1, maximum=10, recovery=0)
    with pytest.raises(ValueError, match="below"):
        AdaptiveSpacing(clock, initial=2, maximum=1, recovery=1)
