"""IB's pacing rules, enforced by the simulated gateway (the peer's side, independent of any client pacer).

Historical data (IB TWS API guide, "Historical Data Limitations"). The three hard rules are headed
"Pacing Violations for Small Bars (30 secs or less)": a request violates pacing when an identical
request was made within 15 seconds, when it would be the sixth or more for the same contract,
exchange and tick type within 2 seconds, or when more than 60 requests were made in any 10-minute
window; BID_ASK requests count twice. For larger bars IB's footnote says: "At this time Historical
Data Limitations for barSize = "1 mins" and greater have been lifted. However, please use caution
when requesting large amounts of historical data", so bars of 1 minute and more pass those rules
(:attr:`RequestPacer.strict` applies them to every size again, as IB did before, for testing a
client against the old behaviour). Whatever the size: "The maximum number of simultaneous open
historical data requests from the API is 50" (the 51st open request of a client is refused), and a
soft throttle stands for IB's load balancing (:meth:`RequestPacer.answer_delay`).

Fundamentals: 60 requests per 10 minutes. Real-time bars: no more than 60 *new* requests per 10
minutes. These windows are measured on the gateway's clock in simulated seconds, so a time-scaled
gateway shrinks them with the scale. The API message rate (50 messages per second by default, error
100, session dropped at the third violation) is a property of the socket, so
:class:`MessageRateLimiter` measures it in wall-clock seconds, as a token bucket of one second's
budget.

Rejected requests are not recorded: a refused request costs the client nothing but the refusal.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from ibbot.models import BarSize

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = [
    "MAX_OPEN_HISTORICAL",
    "OPEN_HISTORICAL_TEXT",
    "SMALL_BAR_SECONDS",
    "HistoricalRequestKey",
    "MessageRateLimiter",
    "PacingKind",
    "PacingVerdict",
    "RequestPacer",
    "SlidingWindow",
]

HISTORICAL_WINDOW = 600.0
HISTORICAL_LIMIT = 60
IDENTICAL_WINDOW = 15.0
SAME_CONTRACT_WINDOW = 2.0
SAME_CONTRACT_LIMIT = 6
FUNDAMENTALS_WINDOW = 600.0
FUNDAMENTALS_LIMIT = 60
REALTIME_BARS_WINDOW = 600.0
REALTIME_BARS_LIMIT = 60
# The hard historical rules above cover "Small Bars (30 secs or less)" only.
SMALL_BAR_SECONDS = 30
# "The maximum number of simultaneous open historical data requests from the API is 50." IB answers
# the next one with 322 and this text ('wd' is IB's internal tag; quoted by ib_insync issues #241
# and #293 and by several clients' error handlers). A keepUpToDate request stays open until
# cancelled, so it holds its place.
MAX_OPEN_HISTORICAL = 50
OPEN_HISTORICAL_TEXT = (
    "Error processing request:-'wd' : cause - Only 50 simultaneous API historical data requests "
    "allowed."
)
# The soft throttle ("IB has lifted the hard limit" but still balances load): every historical
# request counts in a window of THROTTLE_WINDOW simulated seconds; the first THROTTLE_FREE of them
# are answered at once, and each one beyond adds THROTTLE_STEP seconds to the wait before the answer,
# up to THROTTLE_MAX_DELAY. So a client keeping up to 5 requests a second never waits, and a client
# holding 50 requests open settles near 10 answers a second (a 5-second wait each), never refused.
THROTTLE_WINDOW = 10.0
THROTTLE_FREE = 50
THROTTLE_STEP = 0.1
THROTTLE_MAX_DELAY = 20.0
# Float rounding in the token bucket's refill must not turn an exact-budget message into a strike.
_ROUNDING = 1e-9


class PacingKind(StrEnum):
    """Which family of requests a pacing decision is about."""

    HISTORICAL = "historical"
    HISTORICAL_OPEN = "historical_open"  # too many historical requests open at once (322)
    FUNDAMENTALS = "fundamentals"
    REALTIME_BARS = "realtime_bars"


@dataclass(frozen=True, slots=True)
class PacingVerdict:
    """Why a request was refused (``rule`` names the broken rule, for logs and tests)."""

    kind: PacingKind
    rule: str


class SlidingWindow:
    """Weighted event times within the last ``window`` seconds of a monotonic clock."""

    __slots__ = ("_events", "_total", "_window")

    def __init__(self, window: float) -> None:
        self._window = window
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def count(self, now: float) -> int:
        """Total weight of the events in ``(now - window, now]``."""
        events = self._events
        while events and events[0][0] <= now - self._window:
            self._total -= events.popleft()[1]
        return self._total

    def add(self, now: float, weight: int = 1) -> None:
        """Record an event of ``weight`` at ``now``."""
        self._events.append((now, weight))
        self._total += weight


@dataclass(frozen=True, slots=True)
class HistoricalRequestKey:
    """What makes two historical requests "identical" and "for the same contract and tick type"."""

    con_id: int
    exchange: str
    what_to_show: str
    end: str
    duration: str
    bar_size: str
    use_rth: bool

    @property
    def contract_key(self) -> tuple[int, str, str]:
        """Contract, exchange and tick type: the scope of the six-in-two-seconds rule."""
        return (self.con_id, self.exchange, self.what_to_show)


class RequestPacer:
    """The gateway-wide pacing state for historical, fundamentals and real-time-bar requests.

    ``monotonic`` returns simulated seconds (the gateway clock's ``monotonic``). ``force(k)``
    makes the next ``k`` checked requests violate, whatever the counts say (fault injection).
    ``strict`` applies the small-bar rules to historical requests of every bar size.
    """

    def __init__(
        self, monotonic: Callable[[], float], *, enabled: bool = True, strict: bool = False
    ) -> None:
        self._monotonic = monotonic
        self._enabled = enabled
        self.strict = strict
        self._forced = 0
        self._historical = SlidingWindow(HISTORICAL_WINDOW)
        self._identical: dict[Hashable, float] = {}
        self._per_contract: dict[Hashable, SlidingWindow] = {}
        self._throttle = SlidingWindow(THROTTLE_WINDOW)
        self._fundamentals = SlidingWindow(FUNDAMENTALS_WINDOW)
        self._realtime_bars = SlidingWindow(REALTIME_BARS_WINDOW)

    @property
    def forced(self) -> int:
        """How many upcoming requests are still forced to violate."""
        return self._forced

    def force(self, count: int) -> None:
        """Make the next ``count`` pacing-checked requests fail with a pacing violation."""
        if count < 0:
            raise ValueError("count cannot be negative")
        self._forced = count

    def _take_forced(self, kind: PacingKind) -> PacingVerdict | None:
        if self._forced > 0:
            self._forced -= 1
            return PacingVerdict(kind, "forced by fault injection")
        return None

    def check_historical(
        self, key: HistoricalRequestKey, *, open_requests: int = 0
    ) -> PacingVerdict | None:
        """Admit (and record) a historical request, or say which rule it breaks.

        ``open_requests`` is how many historical requests the client has open now (answers not
        yet sent, keepUpToDate subscriptions); at :data:`MAX_OPEN_HISTORICAL` the request is
        refused. The hard rules apply to bars of :data:`SMALL_BAR_SECONDS` or less (any size when
        :attr:`strict`).
        """
        kind = PacingKind.HISTORICAL
        forced = self._take_forced(kind)
        if forced is not None or not self._enabled:
            return forced
        if open_requests >= MAX_OPEN_HISTORICAL:
            return PacingVerdict(
                PacingKind.HISTORICAL_OPEN, f"{MAX_OPEN_HISTORICAL} requests already open"
            )
        now = self._monotonic()
        if self.strict or BarSize(key.bar_size).seconds <= SMALL_BAR_SECONDS:
            verdict = self._check_small_bars(key, now)
            if verdict is not None:
                return verdict
        self._throttle.add(now)
        return None

    def _check_small_bars(self, key: HistoricalRequestKey, now: float) -> PacingVerdict | None:
        kind = PacingKind.HISTORICAL
        last = self._identical.get(key)
        if last is not None and now - last < IDENTICAL_WINDOW:
            return PacingVerdict(kind, "identical request within 15 seconds")
        per_contract = self._per_contract.setdefault(
            key.contract_key, SlidingWindow(SAME_CONTRACT_WINDOW)
        )
        if per_contract.count(now) + 1 >= SAME_CONTRACT_LIMIT:
            return PacingVerdict(kind, "six or more requests for one contract within 2 seconds")
        weight = 2 if key.what_to_show == "BID_ASK" else 1
        if self._historical.count(now) + weight > HISTORICAL_LIMIT:
            return PacingVerdict(kind, "more than 60 requests within 10 minutes")
        self._identical = {k: t for k, t in self._identical.items() if now - t < IDENTICAL_WINDOW}
        self._identical[key] = now
        per_contract.add(now)
        self._historical.add(now, weight)
        return None

    def answer_delay(self) -> float:
        """Simulated seconds to hold back the answer of a historical request admitted just now.

        The soft throttle: 0 while the last :data:`THROTTLE_WINDOW` seconds hold at most
        :data:`THROTTLE_FREE` admitted requests, then :data:`THROTTLE_STEP` per request beyond,
        at most :data:`THROTTLE_MAX_DELAY`. A pure function of the admission times, so a run is
        reproducible.
        """
        if not self._enabled:
            return 0.0
        excess = self._throttle.count(self._monotonic()) - THROTTLE_FREE
        return min(THROTTLE_MAX_DELAY, THROTTLE_STEP * excess) if excess > 0 else 0.0

    def check_fundamentals(self) -> PacingVerdict | None:
        """Admit (and record) a fundamentals request, or refuse the 61st within 10 minutes."""
        return self._check_window(PacingKind.FUNDAMENTALS, self._fundamentals, FUNDAMENTALS_LIMIT)

    def check_realtime_bars(self) -> PacingVerdict | None:
        """Admit (and record) a new real-time-bars request, or refuse the 61st within 10 minutes."""
        return self._check_window(
            PacingKind.REALTIME_BARS, self._realtime_bars, REALTIME_BARS_LIMIT
        )

    def _check_window(
        self, kind: PacingKind, window: SlidingWindow, limit: int
    ) -> PacingVerdict | None:
        forced = self._take_forced(kind)
        if forced is not None or not self._enabled:
            return forced
        now = self._monotonic()
        if window.count(now) + 1 > limit:
            return PacingVerdict(kind, f"more than {limit} requests within 10 minutes")
        window.add(now)
        return None


class MessageRateLimiter:
    """IB's API message rate for one connection: on average ``limit`` messages per wall-clock second.

    A token bucket holding one second's budget (``limit`` tokens, refilled at ``limit`` per second):
    a steady stream at the limit always passes, an unthrottled burst past one second's budget is
    refused. A bucket rather than a strict sliding window because the gateway sees messages when it
    reads them, not when the client sent them: a client that keeps every rolling second under the
    limit (ib_async sends at most 45 per second) must not be refused because a busy machine
    delivered its first batch late and the next one on time. Every sequence a one-second sliding
    window admits, the bucket admits too.

    ``admit()`` returns None for an admitted message, else the number of violations so far; the
    caller answers error 100 and drops the session at the third.
    """

    def __init__(self, limit: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = SlidingWindow(1.0)
        self._monotonic = monotonic
        self._tokens = float(limit)
        self._refilled_at = monotonic()
        self.violations = 0

    @property
    def limit(self) -> int:
        """Messages allowed per second (0: unlimited)."""
        return self._limit

    def received_last_second(self) -> int:
        """Messages admitted within the last second (for the error text)."""
        return self._window.count(self._monotonic())

    def admit(self) -> int | None:
        """Record one incoming message; None if within the rate, else the violation count."""
        if self._limit <= 0:
            return None
        now = self._monotonic()
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(float(self._limit), self._tokens + elapsed * self._limit)
        self._refilled_at = now
        if self._tokens < 1.0 - _ROUNDING:
            self.violations += 1
            return self.violations
        self._tokens -= 1.0
        self._window.add(now)
        return None
