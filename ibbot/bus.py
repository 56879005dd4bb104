"""The event bus: fan-out of :class:`~ibbot.models.Event` to subscribers, one bounded queue each.

Why a queue per subscriber: a slow or failing subscriber must never stall or kill the others. Each
callback subscriber gets its own bounded ``asyncio.Queue`` drained by its own task (owned by the bus's
``TaskGroup``), and each subscription says what happens when its queue is full
(:class:`OverflowPolicy`): wait (backpressure), drop the oldest or the newest event, or conflate ticks
to the latest per ``(type, symbol)``. Every loss is counted in :class:`SubscriptionStats`.

This is the live hot path, so routing is a dict lookup in a table built at subscribe time, the common
case (a ``BLOCK`` subscriber with room) is one ``put_nowait``, and consumers drain their queue in
batches with ``get_nowait`` instead of one ``await`` per event.

Usage::

    async with EventBus() as bus:
        bus.subscribe([EventType.PRICE_BAR], strategy.on_bar, name="sma")
        bus.subscribe(["tick"], on_tick, overflow=OverflowPolicy.CONFLATE)
        await bus.publish(event)  # waits only if a BLOCK subscriber is full
        bus.try_publish(event)  # from a sync callback: all now, or False and nobody
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Final, Literal, Self, cast

import structlog

from ibbot.clock import Clock, WallClock
from ibbot.errors import IbbotError
from ibbot.models.events import Event, EventType

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "DEFAULT_MAXSIZE",
    "WILDCARD",
    "BusClosed",
    "BusFull",
    "EventBus",
    "EventHandler",
    "OverflowPolicy",
    "Subscription",
    "SubscriptionStats",
]

log = structlog.get_logger(__name__)

WILDCARD: Final = "*"
"""Subscribe to every event type."""

DEFAULT_MAXSIZE: Final = 1024
"""Queue bound of a callback subscription when ``maxsize`` is not given."""

# A handler that fails on every event would otherwise write one traceback per tick: log the first few
# failures of a subscription, then one in every _LOG_EVERY_FAILURES (the count is always exact).
_LOG_FIRST_FAILURES: Final = 10
_LOG_EVERY_FAILURES: Final = 1000

EventHandler = Callable[[Event], object]
"""A subscriber callback: a plain function or an ``async def``; its return value is ignored."""


class OverflowPolicy(enum.StrEnum):
    """What a subscription does with a new event when its queue is full."""

    BLOCK = "block"
    """Backpressure: ``await publish()`` waits for room, so nothing is lost (the publisher slows)."""
    DROP_OLDEST = "drop_oldest"
    """Discard the oldest queued event to make room for the new one."""
    DROP_NEWEST = "drop_newest"
    """Discard the new event."""
    CONFLATE = "conflate"
    """Keep only the latest event per ``(type, symbol)`` (for ticks); callback subscribers only."""


class BusClosed(IbbotError):
    """The bus is not running: not yet entered (``async with``), closing, or closed."""


class BusFull(IbbotError):
    """``publish_nowait`` met ``BLOCK`` subscribers with a full queue.

    Every other subscriber got the event; for the full ones it was dropped and counted in their
    ``stats.dropped``. Use ``await publish()`` where backpressure is wanted.
    """

    def __init__(self, event: Event, subscribers: list[str]) -> None:
        self.event = event
        self.subscribers = subscribers
        super().__init__(
            f"{event.type.value} event for {event.symbol or 'the system'} dropped: queue full for "
            f"BLOCK subscriber(s) {', '.join(subscribers)}; use `await publish()` for backpressure"
        )


class _Stop(enum.Enum):
    """End-of-stream marker a draining ``close()`` puts behind every accepted event."""

    STOP = enum.auto()


_STOP: Final = _Stop.STOP


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """Counters of one subscription, as a snapshot."""

    name: str
    delivered: int
    """Events handed to the callback, or put into the caller's queue for queue subscriptions."""
    dropped: int
    """Events lost to the overflow policy (or to ``publish_nowait`` on a full BLOCK queue)."""
    conflated: int
    """Events replaced by a newer one for the same ``(type, symbol)`` before delivery."""
    failed: int
    """Callback calls that raised (each also logged)."""
    discarded: int
    """Events lost because the subscription ended (unsubscribe, or close without drain or past its
    timeout): still queued then, or still on their way (a publisher waiting for room)."""
    pending: int
    """Events queued now."""


class Subscription:
    """A handle on one subscriber: what it receives, its queue and policy, and its counters.

    Returned by :meth:`EventBus.subscribe`; pass it to :meth:`EventBus.unsubscribe` to stop it.
    """

    __slots__ = (
        "_blocked",
        "_conflated",
        "_delivered",
        "_discarded",
        "_dropped",
        "_ended",
        "_failed",
        "_fast",
        "_handler",
        "_open",
        "_pending",
        "_queue",
        "_task",
        "_unblocked",
        "event_types",
        "name",
        "overflow",
        "target",
    )

    def __init__(
        self,
        *,
        name: str,
        event_types: frozenset[EventType | Literal["*"]],
        target: EventHandler | asyncio.Queue[Event],
        overflow: OverflowPolicy,
        maxsize: int,
    ) -> None:
        self.name = name
        self.event_types = event_types
        self.target = target
        self.overflow = overflow
        self._handler: EventHandler | None
        self._queue: asyncio.Queue[Event] | asyncio.Queue[Event | _Stop]
        if isinstance(target, asyncio.Queue):
            self._handler = None
            self._queue = target
        else:
            self._handler = target
            self._queue = asyncio.Queue(maxsize)
        # CONFLATE: the latest event per (type, symbol); the queue holds each key's first arrival, so
        # keys keep their order of first arrival and the consumer takes the latest value.
        self._pending: dict[tuple[EventType, str | None], Event] | None = (
            {} if overflow is OverflowPolicy.CONFLATE else None
        )
        # True while a plain put_nowait is the whole delivery (open BLOCK callback subscriber).
        self._fast = overflow is OverflowPolicy.BLOCK and self._handler is not None
        self._open = True  # accepting new events
        self._ended = False  # consumer stopped and queue discarded: nothing queued will be read
        self._task: asyncio.Task[None] | None = None
        self._blocked: set[asyncio.Timeout] = set()  # publishers waiting for room (BLOCK)
        self._unblocked: asyncio.Future[None] | None = None
        self._delivered = 0
        self._dropped = 0
        self._conflated = 0
        self._failed = 0
        self._discarded = 0

    @property
    def maxsize(self) -> int:
        """The bound of this subscription's queue."""
        return self._queue.maxsize

    @property
    def active(self) -> bool:
        """False once unsubscribed or once the bus has closed it."""
        return self._open

    @property
    def stats(self) -> SubscriptionStats:
        """A snapshot of this subscription's counters."""
        return SubscriptionStats(
            name=self.name,
            delivered=self._delivered,
            dropped=self._dropped,
            conflated=self._conflated,
            failed=self._failed,
            discarded=self._discarded,
            pending=self._queue.qsize(),
        )

    def __repr__(self) -> str:
        types = ",".join(sorted(str(t) for t in self.event_types))
        return (
            f"Subscription(name={self.name!r}, types=[{types}], overflow={self.overflow.value}, "
            f"maxsize={self.maxsize}, active={self._open})"
        )

    def _offer(self, event: Event) -> bool:
        """Apply the overflow policy without waiting; False only for a full BLOCK queue."""
        if not self._open:
            self._discarded += 1  # a publish that was under way when the subscription ended
            return True
        queue = self._queue
        policy = self.overflow
        if policy is OverflowPolicy.BLOCK:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                return False
        elif policy is OverflowPolicy.CONFLATE:
            pending = self._pending
            assert pending is not None
            key = (event.type, event.symbol)
            if key in pending:
                pending[key] = event
                self._conflated += 1
                return True
            if queue.full():
                oldest = queue.get_nowait()
                assert (
                    oldest is not _STOP
                )  # the marker goes in only after the queue stops accepting
                del pending[(oldest.type, oldest.symbol)]
                self._dropped += 1
            pending[key] = event
            queue.put_nowait(event)
        elif queue.full():
            self._dropped += 1
            if policy is OverflowPolicy.DROP_NEWEST:
                return True
            queue.get_nowait()
            if self._handler is None:
                queue.task_done()  # keep the caller's join() accounting right
            queue.put_nowait(event)
        else:
            queue.put_nowait(event)
        if self._handler is None:
            self._delivered += 1
        return True

    async def _put_blocking(self, event: Event) -> None:
        """Wait for room (BLOCK backpressure); give up, counted, if the subscription ends meanwhile."""
        blocked = asyncio.timeout(None)
        try:
            async with blocked:
                self._blocked.add(blocked)
                try:
                    await self._queue.put(event)
                finally:
                    self._blocked.discard(blocked)
                    if not self._blocked and self._unblocked is not None:
                        self._unblocked.set_result(None)
                        self._unblocked = None
        except TimeoutError:  # only ours can expire here: released by unsubscribe() or close()
            self._discarded += 1
            return
        if self._ended:
            # Unsubscribed while we waited: the event sits in a queue nobody reads.
            self._discard_queued()
        elif self._handler is None:
            self._delivered += 1

    async def _stop_after_backlog(self) -> None:
        """Drain: take no new events, let publishers already waiting for room in, then the stop marker.

        The marker goes in only once those publishers are done, because asyncio.Queue does not keep
        a woken putter's place: a marker put meanwhile could overtake their events.
        """
        self._open = False
        self._fast = False
        while self._blocked:
            self._unblocked = asyncio.get_running_loop().create_future()
            await self._unblocked
        queue = cast("asyncio.Queue[Event | _Stop]", self._queue)  # a callback's own queue
        await queue.put(_STOP)

    def _shutdown(self) -> None:
        """Stop receiving: cancel the consumer, discard what is queued, release blocked publishers."""
        self._open = False
        self._ended = True
        self._fast = False
        if self._task is not None:
            self._task.cancel()
        if self._handler is not None:
            self._discard_queued()
        for blocked in tuple(self._blocked):
            blocked.reschedule(-1.0)  # any past deadline: expire now

    def _discard_queued(self) -> None:
        queue = self._queue
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is not _STOP:
                self._discarded += 1
        if self._pending is not None:
            self._pending.clear()


class EventBus:
    """Publish/subscribe for :class:`~ibbot.models.Event`, bounded per subscriber.

    Run it as an async context manager: entering starts one consumer task per callback subscriber
    (in a ``TaskGroup`` the bus owns), leaving closes it (draining when the block ended normally).
    Subscriptions may be made before entering (wiring) or while running. ``clock`` times the drain
    timeout of :meth:`close`.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else WallClock()
        self._subscriptions: list[Subscription] = []
        self._routes: dict[EventType, tuple[Subscription, ...]] = dict.fromkeys(EventType, ())
        # Events accepted per type, for the metrics (one dict increment per publish).
        self._published: dict[EventType, int] = dict.fromkeys(EventType, 0)
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._closed: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is not _State.NEW:
            raise BusClosed("an EventBus runs once; create a new one")
        self._loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._state = _State.RUNNING
        for subscription in self._subscriptions:
            self._start_consumer(subscription)
        log.debug("bus.started", subscribers=len(self._subscriptions))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None  # set by __aenter__
        try:
            await self.close(drain=exc is None)
        finally:
            # Every consumer has finished by now. The block's own exception is not handed to the
            # TaskGroup, which would wrap it in an ExceptionGroup: it propagates as it is.
            await self._tasks.__aexit__(None, None, None)

    @property
    def running(self) -> bool:
        """True between entering the bus and the start of :meth:`close`."""
        return self._state is _State.RUNNING

    # The timeout bounds only the drain phase (on the bus clock); the shutdown after it always runs,
    # which a caller's asyncio.timeout around close() could not guarantee.
    async def close(self, *, drain: bool = True, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop the bus; idempotent (later and concurrent calls wait for the first to finish).

        New publishes are refused at once. With ``drain``, every event already accepted is handed to
        its callback, for at most ``timeout`` seconds on the bus's clock; whatever is left then (or
        everything, without ``drain``) is discarded and counted, and consumer tasks are cancelled.
        Publishers blocked on a full queue are released; their event counts as discarded. Called
        from a callback, it stops that callback's own subscription without draining it (the
        callback's task is cancelled once it next awaits).
        """
        if self._state is _State.CLOSED:
            return
        if self._state is _State.NEW:
            self._state = _State.CLOSED
            for subscription in self._subscriptions:
                subscription._shutdown()
            return
        assert self._closed is not None
        if self._state is _State.CLOSING:
            await self._closed.wait()
            return
        self._state = _State.CLOSING
        me = asyncio.current_task()
        consumers = [s for s in self._subscriptions if s._task is not None and s._task is not me]
        try:
            if drain and consumers and timeout > 0:
                finished = await self._within(timeout, self._drain(consumers))
                if not finished:
                    log.warning(
                        "bus.drain_timeout",
                        timeout=timeout,
                        undrained=[s.name for s in consumers if s._task and not s._task.done()],
                    )
        finally:
            for subscription in self._subscriptions:
                subscription._shutdown()
            try:
                tasks = [s._task for s in consumers if s._task is not None]
                if tasks:
                    await asyncio.wait(tasks)
            finally:
                self._state = _State.CLOSED
                self._closed.set()
                log.debug("bus.closed", drained=drain)

    async def _drain(self, consumers: list[Subscription]) -> None:
        """Put the stop marker behind every accepted event and wait for the consumers to reach it."""
        await asyncio.gather(*(s._stop_after_backlog() for s in consumers))
        await asyncio.wait([s._task for s in consumers if s._task is not None])

    async def _within(self, seconds: float, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work`` for at most ``seconds`` on the bus clock; True if it finished in time."""
        job = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((job, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            job.cancel()
            timer.cancel()
            await asyncio.wait((job, timer))
        if job.cancelled():
            return False
        job.result()  # surface an unexpected error of the drain itself
        return True

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(
        self,
        event_types: Iterable[EventType | str] | EventType | str,
        target: EventHandler | asyncio.Queue[Event],
        *,
        name: str | None = None,
        maxsize: int | None = None,
        overflow: OverflowPolicy | str = OverflowPolicy.BLOCK,
    ) -> Subscription:
        """Deliver events of ``event_types`` (``"*"`` for all) to ``target``.

        ``target`` is a callback (sync or async, called with each event in order, one at a time, from
        the subscription's own task) or a bounded ``asyncio.Queue`` that the caller consumes itself.
        ``maxsize`` bounds a callback's queue (default :data:`DEFAULT_MAXSIZE`); a queue target keeps
        its own bound. ``overflow`` says what happens when the queue is full (default ``BLOCK``).
        """
        if self._state in (_State.CLOSING, _State.CLOSED):
            raise BusClosed("cannot subscribe: the event bus is closed")
        types = _parse_event_types(event_types)
        policy = _parse_overflow(overflow)
        if isinstance(target, asyncio.Queue):
            if maxsize is not None:
                raise ValueError(
                    "maxsize applies to callback subscribers; a queue target keeps its own maxsize"
                )
            if target.maxsize <= 0:
                raise ValueError(
                    "a queue target must be bounded: create it with asyncio.Queue(maxsize=N), N > 0"
                )
            if policy is OverflowPolicy.CONFLATE:
                raise ValueError(
                    "CONFLATE needs a callback subscriber: events already in a caller's queue "
                    "cannot be replaced by newer ones"
                )
            size = target.maxsize
            default_name = "queue"
        elif callable(target):
            size = DEFAULT_MAXSIZE if maxsize is None else maxsize
            if size <= 0:
                raise ValueError(f"maxsize must be a positive bound, got {size}")
            default_name = _callable_name(target)
        else:
            raise TypeError(f"subscribe() needs a callable or an asyncio.Queue, got {target!r}")
        subscription = Subscription(
            name=name or default_name,
            event_types=types,
            target=target,
            overflow=policy,
            maxsize=size,
        )
        self._subscriptions.append(subscription)
        self._rebuild_routes()
        if self._state is _State.RUNNING:
            self._start_consumer(subscription)
        return subscription

    def unsubscribe(self, target: Subscription | EventHandler | asyncio.Queue[Event]) -> int:
        """Stop a subscription, or every subscription of a callback or queue; return how many.

        Idempotent: an unknown or already removed target returns 0. Events still queued for a
        callback are discarded (counted in ``stats.discarded``); a caller's queue is left as is.
        """
        if isinstance(target, Subscription):
            removed = [s for s in self._subscriptions if s is target]
        elif isinstance(target, asyncio.Queue):
            removed = [s for s in self._subscriptions if s.target is target]
        else:
            removed = [s for s in self._subscriptions if s.target == target]
        if not removed:
            return 0
        self._subscriptions = [s for s in self._subscriptions if s not in removed]
        self._rebuild_routes()
        for subscription in removed:
            subscription._shutdown()
        return len(removed)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Current subscriptions, in subscription order."""
        return tuple(self._subscriptions)

    def stats(self) -> tuple[SubscriptionStats, ...]:
        """A snapshot of every current subscription's counters."""
        return tuple(s.stats for s in self._subscriptions)

    def published(self) -> dict[EventType, int]:
        """Events published so far, per type (those ``try_publish`` declined not counted)."""
        return dict(self._published)

    def _rebuild_routes(self) -> None:
        self._routes = {
            event_type: tuple(
                s
                for s in self._subscriptions
                if event_type in s.event_types or WILDCARD in s.event_types
            )
            for event_type in EventType
        }

    def _start_consumer(self, subscription: Subscription) -> None:
        if subscription._handler is None:
            return  # the caller consumes its own queue
        assert self._tasks is not None
        subscription._task = self._tasks.create_task(
            self._consume(subscription, subscription._handler), name=f"bus:{subscription.name}"
        )

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber of its type, in subscription order.

        Waits only while a ``BLOCK`` subscriber's queue is full (backpressure); other policies never
        wait. Raises :class:`BusClosed` when the bus is not running.
        """
        if self._state is not _State.RUNNING:
            raise BusClosed(_not_running(self._state))
        try:
            subscriptions = self._routes[event.type]
        except (AttributeError, KeyError) as exc:
            raise _not_an_event(event) from exc
        self._published[event.type] += 1
        for subscription in subscriptions:
            if subscription._fast:
                try:
                    subscription._queue.put_nowait(event)
                    continue
                except asyncio.QueueFull:
                    pass
            if not subscription._offer(event):
                await subscription._put_blocking(event)

    def publish_nowait(self, event: Event) -> None:
        """Deliver ``event`` without ever waiting (for sync callers on the loop, e.g. IB callbacks).

        A ``BLOCK`` subscriber whose queue is full does not get the event: it is counted in that
        subscription's ``stats.dropped``, every other subscriber still gets it, and then
        :class:`BusFull` is raised naming the full subscribers. Other policies apply as usual.
        """
        if self._state is not _State.RUNNING:
            raise BusClosed(_not_running(self._state))
        full = self._offer_all(event)
        if full:
            raise BusFull(event, full)

    def try_publish(self, event: Event) -> bool:
        """Deliver ``event`` now if no ``BLOCK`` subscriber would have to wait, else to nobody.

        Returns False, having delivered nothing, when a ``BLOCK`` subscriber's queue is full or has
        publishers waiting for room: the caller keeps the event for :meth:`publish`. For a
        synchronous producer that keeps its own backlog (the latest tick per symbol): whenever the
        bus has room, the event goes out from the callback itself, with no hop through a publishing
        task. Raises :class:`BusClosed` when the bus is not running.
        """
        if self._state is not _State.RUNNING:
            raise BusClosed(_not_running(self._state))
        subscriptions = self._route(event)
        for subscription in subscriptions:
            if (
                subscription.overflow is OverflowPolicy.BLOCK
                and subscription._open
                and (subscription._blocked or subscription._queue.full())
            ):
                return False
        self._offer_all(event)  # every BLOCK queue has room: nothing is refused
        return True

    publish_async = publish_nowait
    """The plan's name for the non-blocking publish (``EventBus.publish_async``): same as
    :meth:`publish_nowait`."""

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from a thread that is not running the bus's loop (via ``call_soon_threadsafe``).

        Returns at once; the event is offered on the loop like :meth:`publish_nowait`, except that a
        full ``BLOCK`` subscriber is reported by a warning log (the caller has already returned).
        """
        loop = self._loop
        if self._state is not _State.RUNNING or loop is None:
            raise BusClosed(_not_running(self._state))
        try:
            loop.call_soon_threadsafe(self._publish_from_thread, event)
        except RuntimeError as exc:  # the loop has been closed
            raise BusClosed("the event bus's event loop is closed") from exc

    def _publish_from_thread(self, event: Event) -> None:
        if self._state is not _State.RUNNING:
            log.warning(
                "bus.threadsafe_event_after_close",
                event_type=event.type.value,
                symbol=event.symbol,
            )
            return
        full = self._offer_all(event)
        if full:
            log.warning(
                "bus.threadsafe_event_dropped",
                event_type=event.type.value,
                symbol=event.symbol,
                subscribers=full,
            )

    def _offer_all(self, event: Event) -> list[str]:
        """Offer ``event`` to every subscriber without waiting; return the full BLOCK ones."""
        full: list[str] = []
        subscriptions = self._route(event)
        self._published[event.type] += 1
        for subscription in subscriptions:
            if subscription._fast:
                try:
                    subscription._queue.put_nowait(event)
                    continue
                except asyncio.QueueFull:
                    pass
            if not subscription._offer(event):
                subscription._dropped += 1
                full.append(subscription.name)
        return full

    def _route(self, event: Event) -> tuple[Subscription, ...]:
        try:
            return self._routes[event.type]
        except (AttributeError, KeyError) as exc:
            raise _not_an_event(event) from exc

    # -- consuming -------------------------------------------------------------------------------

    async def _consume(self, subscription: Subscription, handler: EventHandler) -> None:
        """Hand queued events to ``handler`` one at a time, draining in batches.

        A handler that raises is logged and counted; the consumer goes on with the next event.
        """
        queue = subscription._queue
        get = queue.get
        get_nowait = queue.get_nowait
        pending = subscription._pending
        task = asyncio.current_task()
        handled = 0
        try:
            while True:
                item = await get()
                while True:
                    if item is _STOP:
                        return
                    event = item if pending is None else pending.pop((item.type, item.symbol))
                    try:
                        result = handler(event)
                        if result is not None and isawaitable(result):
                            await result
                    except Exception as exc:  # noqa: BLE001  isolating a failing subscriber is the point
                        self._handler_failed(subscription, event, exc)
                    except asyncio.CancelledError as exc:
                        if task is not None and task.cancelling():
                            raise  # we are being stopped
                        self._handler_failed(subscription, event, exc)  # the handler's own affair
                    handled += 1
                    try:
                        item = get_nowait()
                    except asyncio.QueueEmpty:
                        break
                subscription._delivered += handled
                handled = 0
        finally:
            subscription._delivered += handled

    def _handler_failed(self, subscription: Subscription, event: Event, exc: BaseException) -> None:
        subscription._failed += 1
        failures = subscription._failed
        if failures <= _LOG_FIRST_FAILURES or failures % _LOG_EVERY_FAILURES == 0:
            log.error(
                "bus.handler_failed",
                subscriber=subscription.name,
                event_type=event.type.value,
                symbol=event.symbol,
                failures=failures,
                exc_info=exc,
            )


def _parse_event_types(
    event_types: Iterable[EventType | str] | EventType | str,
) -> frozenset[EventType | Literal["*"]]:
    items: Iterable[EventType | str] = (
        [event_types] if isinstance(event_types, str) else event_types
    )
    parsed: set[EventType | Literal["*"]] = set()
    for item in items:
        if item == WILDCARD:
            parsed.add(WILDCARD)
            continue
        try:
            parsed.add(EventType(item))
        except ValueError:
            valid = ", ".join(repr(t.value) for t in EventType)
            raise ValueError(
                f"unknown event type {item!r}; use {WILDCARD!r} or one of {valid}"
            ) from None
    if not parsed:
        raise ValueError("subscribe() needs at least one event type (or '*' for all)")
    return frozenset(parsed)


def _parse_overflow(overflow: OverflowPolicy | str) -> OverflowPolicy:
    try:
        return OverflowPolicy(overflow)
    except ValueError:
        valid = ", ".join(repr(p.value) for p in OverflowPolicy)
        raise ValueError(f"unknown overflow policy {overflow!r}; use one of {valid}") from None


def _callable_name(target: object) -> str:
    name = getattr(target, "__qualname__", None)
    return name if isinstance(name, str) else type(target).__qualname__


def _not_an_event(value: object) -> TypeError:
    return TypeError(f"the bus carries ibbot Events, got {value!r}")


def _not_running(state: _State) -> str:
    if state is _State.NEW:
        return "the event bus is not running yet: enter it with `async with EventBus() as bus`"
    return "the event bus is closed"
