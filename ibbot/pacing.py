"""Pacing: fair, cancellation-safe rate limiters, and IB's request rules built from them.

IB punishes clients that ask too fast: error 100 for the message rate (three of them and the session
is dropped), 162 for historical-data pacing, 420 for real-time bars, 322 past 50 open historical
requests. So every request passes the pacer
before it reaches the socket. The rules are quoted from IB's documentation in :class:`PacingRules`.

Four primitives, each FIFO-fair (a later, smaller request never overtakes an earlier waiter),
cancellation-safe (a cancelled waiter leaves the queue and takes nothing) and driven by an injected
:class:`~ibbot.clock.Clock`, so tests run them on a ``SimulatedClock`` without sleeping:

- :class:`TokenBucket`: a rate with a burst allowance, for the per-second message rate.
- :class:`SlidingWindowLimiter`: exactly "at most N (weighted) in ANY window of W seconds". A token
  bucket cannot say that: with capacity 60 and rate 60 per 600 s it admits about 120 requests in the
  first ten minutes (60 at once, then 60 more as tokens refill), where IB allows 60.
- :class:`ConcurrencyLimiter`: at most N at once, for requests in flight.
- :class:`AdaptiveSpacing`: a gap between requests that pacing violations open and answers close
  (AIMD), for the historical requests IB no longer paces by hard rules but still throttles.

:class:`IBPacer` composes them. A request must pass several limiters, and waiting on a later one must
not let an earlier one's record go stale, so window limiters hand out reservations
(:class:`Reservation`): a reserved slot counts in its window and cannot expire until it is committed
(stamped with the moment the request is actually sent) or cancelled (the request was never sent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import itertools
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Self

import structlog

from ibbot.errors import PacingViolation
from ibbot.models.market import BarSize, WhatToShow

if TYPE_CHECKING:
    from types import TracebackType

    from ibbot.clock import Clock

__all__ = [
    "AdaptiveSpacing",
    "ConcurrencyLimiter",
    "IBPacer",
    "PacingRule",
    "PacingRules",
    "PacingStats",
    "Reservation",
    "SlidingWindowLimiter",
    "TokenBucket",
]

log = structlog.get_logger(__name__)

# Float slack when comparing clock readings: a sleeper woken exactly at its deadline must find the
# tokens it waited for, not 0.9999999 of them.
_EPSILON: Final = 1e-9


class _FairLimiter(ABC):
    """A FIFO of waiters in which only the head may take; subclasses say when an amount fits.

    The head computes how long until its amount fits and sleeps that long on the clock (or until
    poked, when only a release can help); the others wait for their turn. Whoever leaves the head,
    by success or by cancellation, hands the turn to the next waiter.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._queue: deque[asyncio.Future[None]] = deque()
        self._signal: asyncio.Future[None] | None = None

    @property
    def waiting(self) -> int:
        """How many callers are queued."""
        return len(self._queue)

    @abstractmethod
    def _delay(self, amount: float) -> float:
        """0 if ``amount`` fits now, else seconds until it will (``inf``: only a release helps)."""

    def _pokeable(self) -> bool:
        """True when a release may shorten a finite wait (so the head must listen for it)."""
        return False

    def _poke(self) -> None:
        """Wake the head to look again: something was released."""
        signal = self._signal
        if signal is not None and not signal.done():
            signal.set_result(None)

    async def _admit(self, amount: float) -> float:
        """Wait for our turn and for ``amount`` to fit; return the seconds waited on the clock.

        The caller takes ``amount`` right after this returns, with no ``await`` in between, so
        nothing can take it first.
        """
        if not self._queue and self._delay(amount) <= 0:
            return 0.0
        started = self._clock.monotonic()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            if self._queue[0] is not turn:
                await turn
            while (delay := self._delay(amount)) > 0:
                await self._pause(delay)
        finally:
            self._leave(turn)
        return self._clock.monotonic() - started

    def _leave(self, turn: asyncio.Future[None]) -> None:
        queue = self._queue
        if queue[0] is turn:
            queue.popleft()
            if queue and not queue[0].done():
                queue[0].set_result(None)
        else:
            queue.remove(turn)

    async def _pause(self, delay: float) -> None:
        if not (math.isinf(delay) or self._pokeable()):
            await self._clock.sleep(delay)
            return
        signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._signal = signal
        try:
            if math.isinf(delay):
                await signal
            else:
                await self._sleep_unless_poked(signal, delay)
        finally:
            self._signal = None

    async def _sleep_unless_poked(self, signal: asyncio.Future[None], delay: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))

        def wake(_: asyncio.Future[None]) -> None:
            sleeper.cancel()

        signal.add_done_callback(wake)
        try:
            await sleeper
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not signal.done() or (task is not None and task.cancelling()):
                raise  # we are being cancelled, not poked
        finally:
            signal.remove_done_callback(wake)


class TokenBucket(_FairLimiter):
    """``rate`` tokens per second, up to ``capacity`` saved for a burst; starts full.

    In any T seconds it grants at most ``capacity + rate * T`` tokens, so it suits per-second rates;
    for "at most N in any window" rules use :class:`SlidingWindowLimiter`.
    """

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"token bucket rate must be a positive number, got {rate}")
        if not (capacity > 0 and math.isfinite(capacity)):
            raise ValueError(f"token bucket capacity must be a positive number, got {capacity}")
        super().__init__(clock)
        self._rate = float(rate)
        self._capacity = float(capacity)
        self._tokens = float(capacity)
        self._updated = clock.monotonic()

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self._rate

    @property
    def capacity(self) -> float:
        """Most tokens the bucket holds."""
        return self._capacity

    @property
    def tokens(self) -> float:
        """Tokens available now (queued waiters have first claim on them)."""
        self._refill()
        return self._tokens

    async def acquire(self, tokens: float = 1) -> float:
        """Wait until ``tokens`` are available after every earlier waiter, take them; return the wait."""
        self._check(tokens)
        waited = await self._admit(tokens)
        self._tokens -= tokens
        return waited

    def try_acquire(self, tokens: float = 1) -> bool:
        """Take ``tokens`` if available now and nobody is waiting; never waits."""
        self._check(tokens)
        if self._queue or self._delay(tokens) > 0:
            return False
        self._tokens -= tokens
        return True

    def _check(self, tokens: float) -> None:
        if not 0 < tokens <= self._capacity:
            raise ValueError(
                f"cannot take {tokens} tokens from a bucket of capacity {self._capacity}: "
                "a request must be positive and fit in the bucket"
            )

    def _refill(self) -> None:
        now = self._clock.monotonic()
        if now > self._updated:
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now

    def _delay(self, amount: float) -> float:
        self._refill()
        missing = amount - self._tokens
        return 0.0 if missing <= _EPSILON else missing / self._rate


class _ReservationState(enum.Enum):
    PENDING = "pending"
    COMMITTED = "committed"
    CANCELLED = "cancelled"


class Reservation:
    """A slot held in a :class:`SlidingWindowLimiter` for a request about to be sent.

    While pending it counts in the window and never expires. :meth:`commit` when the request goes out
    (its window starts then); :meth:`cancel` if it never does. ``waited`` is how long reserving took.
    """

    __slots__ = ("_limiter", "_state", "waited", "weight")

    def __init__(self, limiter: SlidingWindowLimiter, weight: int, waited: float) -> None:
        self._limiter = limiter
        self._state = _ReservationState.PENDING
        self.weight = weight
        self.waited = waited

    @property
    def pending(self) -> bool:
        """True until committed or cancelled."""
        return self._state is _ReservationState.PENDING

    def commit(self) -> None:
        """Record the request as sent now; idempotent."""
        if self._state is _ReservationState.CANCELLED:
            raise RuntimeError("cannot commit a cancelled reservation")
        if self._state is _ReservationState.PENDING:
            self._state = _ReservationState.COMMITTED
            self._limiter._commit(self.weight)

    def cancel(self) -> None:
        """Give the slot back (the request was not sent); no effect once committed."""
        if self._state is _ReservationState.PENDING:
            self._state = _ReservationState.CANCELLED
            self._limiter._cancel(self.weight)


class SlidingWindowLimiter(_FairLimiter):
    """At most ``limit`` units in any ``window`` seconds, exactly; each acquisition has a weight.

    An acquisition at time t stays in the window until t + ``window`` (half-open: at exactly
    t + ``window`` it has left), so a request is admitted only if the weights of those recorded in
    the last ``window`` seconds, plus pending reservations, plus its own, do not exceed ``limit``.
    """

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        if limit < 1 or limit != int(limit):
            raise ValueError(f"window limit must be a positive integer, got {limit!r}")
        if not (window > 0 and math.isfinite(window)):
            raise ValueError(f"window length must be a positive number of seconds, got {window}")
        super().__init__(clock)
        self._limit = limit
        self._window = float(window)
        self._entries: deque[tuple[float, int]] = deque()  # (sent at, weight), oldest first
        self._committed = 0
        self._reserved = 0

    @property
    def limit(self) -> int:
        """Most units allowed in any window."""
        return self._limit

    @property
    def window(self) -> float:
        """Window length in seconds."""
        return self._window

    @property
    def used(self) -> int:
        """Units in the current window, pending reservations included."""
        self._expire()
        return self._committed + self._reserved

    @property
    def idle(self) -> bool:
        """Nothing recorded in the window, nothing reserved, nobody waiting."""
        self._expire()
        return not self._queue and not self._entries and self._reserved == 0

    async def acquire(self, weight: int = 1) -> float:
        """Wait for room after every earlier waiter and record ``weight`` now; return the wait."""
        self._check(weight)
        waited = await self._admit(weight)
        self._record(weight)
        return waited

    def try_acquire(self, weight: int = 1) -> bool:
        """Record ``weight`` now if it fits and nobody is waiting; never waits."""
        self._check(weight)
        if self._queue or self._delay(weight) > 0:
            return False
        self._record(weight)
        return True

    async def reserve(self, weight: int = 1) -> Reservation:
        """Like :meth:`acquire`, but the slot is stamped only by :meth:`Reservation.commit`."""
        self._check(weight)
        waited = await self._admit(weight)
        self._reserved += weight
        return Reservation(self, weight, waited)

    def _check(self, weight: int) -> None:
        if not 0 < weight <= self._limit or weight != int(weight):
            raise ValueError(
                f"weight must be an integer from 1 to the window limit {self._limit}, got {weight!r}"
            )

    def _record(self, weight: int) -> None:
        self._entries.append((self._clock.monotonic(), weight))
        self._committed += weight

    def _expire(self) -> None:
        cutoff = self._clock.monotonic() - self._window + _EPSILON
        entries = self._entries
        while entries and entries[0][0] <= cutoff:
            self._committed -= entries.popleft()[1]

    def _delay(self, amount: float) -> float:
        self._expire()
        if self._reserved + amount > self._limit:
            return math.inf  # pending reservations alone fill the window: wait for one to resolve
        excess = self._committed + self._reserved + amount - self._limit
        if excess <= 0:
            return 0.0
        # Wait for the oldest entries whose weights cover the excess to leave the window (they
        # exist: pending + amount <= limit, so excess <= committed).
        covered = itertools.accumulate(weight for _, weight in self._entries)
        oldest_needed = next(i for i, total in enumerate(covered) if total >= excess)
        return self._entries[oldest_needed][0] + self._window - self._clock.monotonic()

    def _pokeable(self) -> bool:
        return self._reserved > 0

    def _commit(self, weight: int) -> None:
        self._reserved -= weight
        self._record(weight)
        self._poke()

    def _cancel(self, weight: int) -> None:
        self._reserved -= weight
        self._poke()


class ConcurrencyLimiter(_FairLimiter):
    """At most ``limit`` holders at once, admitted in FIFO order; ``async with`` holds one slot."""

    def __init__(self, limit: int, clock: Clock) -> None:
        if limit < 1 or limit != int(limit):
            raise ValueError(f"concurrency limit must be a positive integer, got {limit!r}")
        super().__init__(clock)
        self._limit = limit
        self._held = 0

    @property
    def limit(self) -> int:
        """Most holders at once."""
        return self._limit

    @property
    def in_use(self) -> int:
        """Slots held now."""
        return self._held

    async def acquire(self) -> float:
        """Wait for a free slot after every earlier waiter and hold it; return the wait."""
        waited = await self._admit(1)
        self._held += 1
        return waited

    def try_acquire(self) -> bool:
        """Hold a slot if one is free and nobody is waiting; never waits."""
        if self._queue or self._delay(1) > 0:
            return False
        self._held += 1
        return True

    def release(self) -> None:
        """Give a slot back."""
        if self._held == 0:
            raise RuntimeError("release() called more times than acquire()")
        self._held -= 1
        self._poke()

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _delay(self, amount: float) -> float:
        return 0.0 if self._held + amount <= self._limit else math.inf


class AdaptiveSpacing(_FairLimiter):
    """A gap between requests that pacing violations open and successful answers close (AIMD).

    Idle (no gap) until :meth:`slow_down`; then each request waits until ``gap`` seconds after the
    previous one. Each slow-down doubles the gap (at least ``initial``, at most ``maximum``), halving
    the allowed rate; each :meth:`speed_up` adds ``recovery`` requests per second to it, and once the
    gap is below a tenth of ``initial`` it closes. A violation of a request sent before the last
    slow-down does not slow down again: that request left at the old rate, and one burst refused at
    once must halve the rate once, not once per refused request.
    """

    def __init__(self, clock: Clock, *, initial: float, maximum: float, recovery: float) -> None:
        for name, value in (("initial", initial), ("maximum", maximum), ("recovery", recovery)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"adaptive spacing {name} must be a positive number, got {value}")
        if maximum < initial:
            raise ValueError(f"adaptive spacing maximum {maximum} is below its initial {initial}")
        super().__init__(clock)
        self._initial = float(initial)
        self._maximum = float(maximum)
        self._recovery = float(recovery)
        self._gap = 0.0
        self._last_sent: float | None = None
        self._cut_at = -math.inf
        self.slowdowns = 0

    @property
    def gap(self) -> float:
        """Seconds required between requests now (0: no spacing)."""
        return self._gap

    async def acquire(self) -> float:
        """Wait until the gap since the previous request has passed, after every earlier waiter."""
        waited = await self._admit(1)
        self._last_sent = self._clock.monotonic()
        return waited

    def slow_down(self, sent_at: float) -> bool:
        """A request sent at ``sent_at`` met a pacing violation: halve the rate.

        Returns False (and changes nothing) for a request sent no later than the last slow-down.
        """
        if sent_at <= self._cut_at:
            return False
        self._gap = min(self._maximum, max(self._initial, 2 * self._gap))
        self._cut_at = self._clock.monotonic()
        self.slowdowns += 1
        return True

    def speed_up(self) -> None:
        """A request was answered: raise the allowed rate by ``recovery`` per second."""
        if self._gap <= 0:
            return
        gap = 1 / (1 / self._gap + self._recovery)
        self._gap = 0.0 if gap < self._initial / 10 else gap
        self._poke()

    def _delay(self, amount: float) -> float:
        if self._gap <= 0 or self._last_sent is None:
            return 0.0
        delay = self._last_sent + self._gap - self._clock.monotonic()
        return delay if delay > _EPSILON else 0.0

    def _pokeable(self) -> bool:
        return self._gap > 0


class _KeyedWindows:
    """One :class:`SlidingWindowLimiter` per key, made on first use and forgotten once idle."""

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._limiters: dict[Hashable, SlidingWindowLimiter] = {}
        self._sweep_at = 64

    def __len__(self) -> int:
        return len(self._limiters)

    def get(self, key: Hashable) -> SlidingWindowLimiter:
        """The limiter of ``key``; reserve on it before any ``await``, or a sweep may replace it."""
        limiter = self._limiters.get(key)
        if limiter is None:
            if len(self._limiters) >= self._sweep_at:
                self._limiters = {k: v for k, v in self._limiters.items() if not v.idle}
                self._sweep_at = max(64, 2 * len(self._limiters))
            limiter = SlidingWindowLimiter(self._limit, self._window, self._clock)
            self._limiters[key] = limiter
        return limiter


class PacingRule(enum.StrEnum):
    """The IB rule that made a request wait (keys of :class:`PacingStats`)."""

    MESSAGE_RATE = "message_rate"
    HISTORICAL_WINDOW = "historical_window"
    HISTORICAL_IDENTICAL = "historical_identical"
    HISTORICAL_SAME_CONTRACT = "historical_same_contract"
    HISTORICAL_IN_FLIGHT = "historical_in_flight"
    HISTORICAL_BACKOFF = "historical_backoff"
    FUNDAMENTALS_WINDOW = "fundamentals_window"
    REALTIME_BARS_WINDOW = "realtime_bars_window"


@dataclass(frozen=True, slots=True)
class PacingRules:
    """IB's pacing limits; the defaults are IB's published values.

    :meth:`scaled` shortens every window (and speeds the message rate) by a factor, for a simulated
    gateway whose clock runs faster, and for tests and benchmarks.
    """

    # IB Campus §11 "Pacing Limitations": requests per second = market data lines / 2; "By default,
    # all users maintain 100 market data lines. Therefore, users have a pacing limitation of
    # (100/2)= 50 requests per second." Violations give error 100, and "If the pacing limits are
    # broken 3 times, the API session will terminate". The limit covers every client->TWS message.
    messages_per_second: float = 50.0
    # A token bucket grants up to capacity + rate x T in any T seconds: a burst of 1 keeps every
    # one-second window at IB's 50 (ib_async's own throttle, 45 per second, sits behind this).
    message_burst: float = 1.0
    # IB Campus §21 (historical data) heads its three rules "Pacing Violations for Small Bars (30
    # secs or less)"; IB's older page adds: "At this time Historical Data Limitations for barSize =
    # "1 mins" and greater have been lifted." So the 60-per-10-minutes and 5-per-2-s windows apply
    # to bars of ``small_bar_seconds`` or less, or to every size with ``strict_all_bar_sizes``
    # (ibbot's behaviour before, and IB's before it lifted them). Violations give error 162.
    small_bar_seconds: int = 30
    strict_all_bar_sizes: bool = False
    # IB Campus §21: a violation is "Making more than 60 requests within any ten minute period."
    historical_requests: int = 60
    historical_window: float = 600.0
    # IB Campus §21: a violation is "Making identical historical data requests within 15 seconds."
    # Kept for every bar size: repeating a request that fast is never useful.
    identical_request_interval: float = 15.0
    # IB Campus §21: a violation is "Making six or more historical data requests for the same
    # Contract, Exchange and Tick Type within two seconds." So five are allowed.
    same_contract_requests: int = 5
    same_contract_window: float = 2.0
    # IB Campus §21: "when BID_ASK historical data is requested, each request is counted twice."
    bid_ask_weight: int = 2
    # IB historical_limitations.html: "The maximum number of simultaneous open historical data
    # requests from the API is 50." (reqHeadTimeStamp "counts as an ongoing historical data request".)
    # Every bar size; IB answers the 51st with 322 "Only 50 simultaneous API historical data requests".
    historical_in_flight: int = 50
    # For bars IB no longer paces hard it still throttles ("please use caution when requesting large
    # amounts of historical data"), and a pacing answer (162 with the pacing text, 420, 322 "Only 50
    # simultaneous...") can still come. Each one opens a gap between historical requests of
    # ``backoff_interval`` seconds, doubling on further violations up to ``backoff_max_interval``
    # (600 s / 60: the strict rule's average pace); each answered request then adds
    # ``backoff_recovery`` requests per second to the allowed rate until the gap closes (AIMD).
    backoff_interval: float = 1.0
    backoff_max_interval: float = 10.0
    backoff_recovery: float = 0.25
    # reqFundamentalData: "There is a limitation of 60 reqFundamentalData requests that can be made
    # in a 10 minute period."
    fundamentals_requests: int = 60
    fundamentals_window: float = 600.0
    # IB Campus §22 (real-time bars): "no more than 60 *new* requests for real time bars can be made
    # in 10 minutes". Violations give error 420.
    realtime_bar_requests: int = 60
    realtime_bar_window: float = 600.0

    def __post_init__(self) -> None:
        for name in ("messages_per_second", "message_burst", "backoff_recovery", *_WINDOW_FIELDS):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"pacing rule {name} must be a positive number, got {value!r}")
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if value < 1 or value != int(value):
                raise ValueError(f"pacing rule {name} must be a positive integer, got {value!r}")
        if self.backoff_max_interval < self.backoff_interval:
            raise ValueError(
                f"pacing rule backoff_max_interval {self.backoff_max_interval} is below "
                f"backoff_interval {self.backoff_interval}"
            )
        limit = min(self.same_contract_requests, self.historical_requests)
        if self.bid_ask_weight > limit:
            raise ValueError(
                f"bid_ask_weight {self.bid_ask_weight} exceeds a historical limit ({limit}): "
                "no BID_ASK request could ever be sent"
            )

    def is_strict(self, bar_size: BarSize) -> bool:
        """True when requests for ``bar_size`` bars fall under the small-bar rules."""
        return self.strict_all_bar_sizes or bar_size.seconds <= self.small_bar_seconds

    def scaled(self, factor: float) -> PacingRules:
        """These rules with every window divided by ``factor`` (and the rates multiplied)."""
        if not (factor > 0 and math.isfinite(factor)):
            raise ValueError(f"scale factor must be a positive number, got {factor!r}")
        return dataclasses.replace(
            self,
            messages_per_second=self.messages_per_second * factor,
            historical_window=self.historical_window / factor,
            identical_request_interval=self.identical_request_interval / factor,
            same_contract_window=self.same_contract_window / factor,
            fundamentals_window=self.fundamentals_window / factor,
            realtime_bar_window=self.realtime_bar_window / factor,
            backoff_interval=self.backoff_interval / factor,
            backoff_max_interval=self.backoff_max_interval / factor,
            backoff_recovery=self.backoff_recovery * factor,
        )


_WINDOW_FIELDS: Final = (
    "historical_window",
    "identical_request_interval",
    "same_contract_window",
    "fundamentals_window",
    "realtime_bar_window",
    "backoff_interval",
    "backoff_max_interval",
)
_COUNT_FIELDS: Final = (
    "small_bar_seconds",
    "historical_requests",
    "same_contract_requests",
    "bid_ask_weight",
    "historical_in_flight",
    "fundamentals_requests",
    "realtime_bar_requests",
)


@dataclass(frozen=True, slots=True)
class PacingStats:
    """What the pacer has let through and how long it made requests wait, per rule."""

    messages: int
    historical_requests: int
    fundamentals_requests: int
    realtime_bar_requests: int
    historical_in_flight: int
    historical_backoff_interval: float
    historical_backoffs: int
    waits: Mapping[PacingRule, int]
    wait_seconds: Mapping[PacingRule, float]

    @property
    def total_wait_seconds(self) -> float:
        """Clock seconds spent waiting, summed over every rule."""
        return sum(self.wait_seconds.values())


_Window = tuple[PacingRule, Callable[[], SlidingWindowLimiter], int]


class IBPacer:
    """IB's pacing rules as one object: every request awaits its turn here before it is sent.

    - :meth:`message` for any request not covered below (orders, market data, cancels): 50/s.
    - ``async with pacer.historical(request_key, contract_key, what_to_show, bar_size=...):``
      around a historical data request (or ``reqHeadTimeStamp``), held until its answer has
      arrived. Small bars (30 s or less) pass every historical rule; larger ones only the
      identical-request rule, the in-flight cap and the adaptive backoff (:class:`PacingRules`).
    - :meth:`fundamentals` before ``reqFundamentalData``; :meth:`realtime_bars` before
      ``reqRealTimeBars``.

    Each also takes one message from the 50/s budget. ``rules`` default to IB's values.
    """

    def __init__(self, clock: Clock, rules: PacingRules | None = None) -> None:
        self._clock = clock
        self._rules = rules if rules is not None else PacingRules()
        r = self._rules
        self._messages = TokenBucket(r.messages_per_second, r.message_burst, clock)
        self._historical = SlidingWindowLimiter(r.historical_requests, r.historical_window, clock)
        self._identical = _KeyedWindows(1, r.identical_request_interval, clock)
        self._same_contract = _KeyedWindows(r.same_contract_requests, r.same_contract_window, clock)
        self._in_flight = ConcurrencyLimiter(r.historical_in_flight, clock)
        self._backoff = AdaptiveSpacing(
            clock,
            initial=r.backoff_interval,
            maximum=r.backoff_max_interval,
            recovery=r.backoff_recovery,
        )
        self._fundamentals = SlidingWindowLimiter(
            r.fundamentals_requests, r.fundamentals_window, clock
        )
        self._realtime_bars = SlidingWindowLimiter(
            r.realtime_bar_requests, r.realtime_bar_window, clock
        )
        self._waits = dict.fromkeys(PacingRule, 0)
        self._wait_seconds = dict.fromkeys(PacingRule, 0.0)
        self._sent_messages = 0
        self._sent_historical = 0
        self._sent_fundamentals = 0
        self._sent_realtime_bars = 0

    @property
    def rules(self) -> PacingRules:
        """The limits this pacer enforces."""
        return self._rules

    def stats(self) -> PacingStats:
        """A snapshot of the counters."""
        return PacingStats(
            messages=self._sent_messages,
            historical_requests=self._sent_historical,
            fundamentals_requests=self._sent_fundamentals,
            realtime_bar_requests=self._sent_realtime_bars,
            historical_in_flight=self._in_flight.in_use,
            historical_backoff_interval=self._backoff.gap,
            historical_backoffs=self._backoff.slowdowns,
            waits=dict(self._waits),
            wait_seconds=dict(self._wait_seconds),
        )

    async def message(self) -> None:
        """Wait for one message of the global per-second budget."""
        await self._pass((), historical=False, context={})

    def try_message(self) -> bool:
        """Take one message of the global per-second budget if it is free now; never waits."""
        if not self._messages.try_acquire():
            return False
        self._sent_messages += 1
        return True

    @asynccontextmanager
    async def historical(
        self,
        request_key: Hashable,
        contract_key: Hashable,
        what_to_show: WhatToShow | str = WhatToShow.TRADES,
        *,
        bar_size: BarSize,
    ) -> AsyncIterator[None]:
        """Hold a historical-data request's place under the historical rules for ``bar_size``.

        ``request_key`` identifies the request entirely (contract, end, duration, bar size, what to
        show, RTH...): identical keys are kept 15 s apart. For small bars (or every size with
        ``strict_all_bar_sizes``) ``contract_key``, the contract and exchange (e.g.
        ``(con_id, "SMART")``), is limited with ``what_to_show`` to 5 per 2 s, and 60 such
        requests to 10 minutes; BID_ASK weighs 2. Entering waits and then counts the request as
        sent; the in-flight slot is held until the block exits, so leave it when the answer (or the
        error) has arrived. A :class:`~ibbot.errors.PacingViolation` leaving the block slows every
        historical request down (:class:`AdaptiveSpacing`); a block left normally speeds them up.
        """
        what = _tick_type(what_to_show)
        context = {"contract": str(contract_key), "what_to_show": what, "bar_size": bar_size.value}
        windows: list[_Window] = [
            (PacingRule.HISTORICAL_IDENTICAL, lambda: self._identical.get(request_key), 1)
        ]
        if self._rules.is_strict(bar_size):
            weight = self._rules.bid_ask_weight if what == WhatToShow.BID_ASK.value else 1
            windows += [
                (
                    PacingRule.HISTORICAL_SAME_CONTRACT,
                    lambda: self._same_contract.get((contract_key, what)),
                    weight,
                ),
                (PacingRule.HISTORICAL_WINDOW, lambda: self._historical, weight),
            ]
        await self._pass(windows, historical=True, context=context)
        sent_at = self._clock.monotonic()
        self._sent_historical += 1
        try:
            yield
        except PacingViolation:
            if self._backoff.slow_down(sent_at):
                log.warning(
                    "pacing.backoff",
                    rule=PacingRule.HISTORICAL_BACKOFF.value,
                    interval=round(self._backoff.gap, 6),
                    **context,
                )
            raise
        else:
            self._backoff.speed_up()
        finally:
            self._in_flight.release()

    async def fundamentals(self, symbol: str | None = None) -> None:
        """Wait until a ``reqFundamentalData`` may be sent, and count it as sent."""
        await self._pass(
            ((PacingRule.FUNDAMENTALS_WINDOW, lambda: self._fundamentals, 1),),
            historical=False,
            context={"symbol": symbol},
        )
        self._sent_fundamentals += 1

    async def realtime_bars(self, symbol: str | None = None) -> None:
        """Wait until a new ``reqRealTimeBars`` may be sent, and count it as sent."""
        await self._pass(
            ((PacingRule.REALTIME_BARS_WINDOW, lambda: self._realtime_bars, 1),),
            historical=False,
            context={"symbol": symbol},
        )
        self._sent_realtime_bars += 1

    async def _pass(
        self,
        windows: Sequence[_Window],
        *,
        historical: bool,
        context: Mapping[str, object],
    ) -> None:
        """Reserve every window in order, then (``historical``) the in-flight slot and the backoff
        gap, then one message; commit all.

        The message comes last because it is the short wait right before sending; the window
        reservations are committed only then, so each records the real send time. If anything fails
        or is cancelled on the way, every reservation is given back and nothing counts.
        """
        reservations: list[Reservation] = []
        holding = False
        passed = False
        try:
            for rule, limiter_of, weight in windows:
                limiter = limiter_of()  # no await before reserving: see _KeyedWindows.get
                self._announce(rule, limiter, weight, context)
                reservation = await limiter.reserve(weight)
                reservations.append(reservation)
                self._record(rule, reservation.waited, context)
            if historical:
                self._announce(PacingRule.HISTORICAL_IN_FLIGHT, self._in_flight, 1, context)
                waited = await self._in_flight.acquire()
                holding = True
                self._record(PacingRule.HISTORICAL_IN_FLIGHT, waited, context)
                self._announce(PacingRule.HISTORICAL_BACKOFF, self._backoff, 1, context)
                waited = await self._backoff.acquire()
                self._record(PacingRule.HISTORICAL_BACKOFF, waited, context)
            self._announce(PacingRule.MESSAGE_RATE, self._messages, 1, context)
            waited = await self._messages.acquire()
            self._record(PacingRule.MESSAGE_RATE, waited, context)
            passed = True
        finally:
            if passed:
                for reservation in reservations:
                    reservation.commit()
                self._sent_messages += 1
            else:
                for reservation in reservations:
                    reservation.cancel()
                if holding:
                    self._in_flight.release()

    def _announce(
        self, rule: PacingRule, limiter: _FairLimiter, amount: float, context: Mapping[str, object]
    ) -> None:
        if limiter.waiting or limiter._delay(amount) > 0:
            log.debug("pacing.waiting", rule=rule.value, queued=limiter.waiting, **context)

    def _record(self, rule: PacingRule, waited: float, context: Mapping[str, object]) -> None:
        if waited > 0:
            self._waits[rule] += 1
            self._wait_seconds[rule] += waited
            log.debug("pacing.waited", rule=rule.value, seconds=round(waited, 6), **context)


def _tick_type(what_to_show: WhatToShow | str) -> str:
    text = str(what_to_show).strip().upper()
    if not text:
        raise ValueError("what_to_show must name IB's tick type (TRADES, MIDPOINT, BID_ASK, ...)")
    return text
