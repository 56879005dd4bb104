"""Event bus: routing, overflow policies, isolation of failing or slow subscribers, shutdown."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ibbot.bus import (
    DEFAULT_MAXSIZE,
    BusClosed,
    BusFull,
    EventBus,
    OverflowPolicy,
    Subscription,
)
from ibbot.clock import SimulatedClock
from ibbot.models import Event, EventType, PriceBar, Tick

if TYPE_CHECKING:
    from collections.abc import Callable

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def tick(symbol: str = "AAPL", bid: float = 100.0) -> Event:
    return Event(EventType.TICK, symbol, T0, Tick(symbol, T0, bid=bid, ask=bid + 0.01))


def bar(symbol: str = "AAPL", close: float = 100.0) -> Event:
    payload = PriceBar(symbol, T0, close, close, close, close, 1000)
    return Event(EventType.PRICE_BAR, symbol, T0, payload)


def bid_of(event: Event) -> float | None:
    assert isinstance(event.payload, Tick)
    return event.payload.bid


class Collector:
    """A sync callback that records events and signals when it has `expected` of them."""

    def __init__(self, expected: int = 0) -> None:
        self.events: list[Event] = []
        self.expected = expected
        self.done = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if len(self.events) >= self.expected:
            self.done.set()

    async def wait(self, count: int) -> None:
        self.expected = count
        if len(self.events) >= count:
            return
        self.done.clear()
        await self.done.wait()


class Gated:
    """An async callback that blocks on a gate before recording each event."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.entered.set()
        await self.gate.wait()
        self.events.append(event)


# -- routing -------------------------------------------------------------------------------------


async def test_type_and_wildcard_subscriptions_route_by_event_type() -> None:
    """A typed subscriber gets only its types; '*' gets everything, in publish order."""
    bars, everything = Collector(), Collector()
    async with EventBus() as bus:
        bus.subscribe([EventType.PRICE_BAR], bars)
        bus.subscribe("*", everything)
        for event in (tick("A"), bar("B"), tick("C"), bar("D")):
            await bus.publish(event)
        await everything.wait(4)
        await bars.wait(2)
    assert [e.symbol for e in bars.events] == ["B", "D"]
    assert [e.symbol for e in everything.events] == ["A", "B", "C", "D"]


async def test_string_and_enum_event_types_are_the_same() -> None:
    """'price_bar', EventType.PRICE_BAR and a single string all subscribe to the same events."""
    by_string, by_enum, by_single = Collector(), Collector(), Collector()
    async with EventBus() as bus:
        bus.subscribe(["price_bar", "fill"], by_string)
        bus.subscribe([EventType.PRICE_BAR], by_enum)
        single = bus.subscribe("price_bar", by_single)
        await bus.publish(bar())
        await bus.publish(tick())
        for collector in (by_string, by_enum, by_single):
            await collector.wait(1)
    assert single.event_types == frozenset({EventType.PRICE_BAR})
    assert len(by_string.events) == len(by_enum.events) == len(by_single.events) == 1


async def test_async_callbacks_are_awaited_in_order() -> None:
    """An async def subscriber is awaited for each event, one at a time, in order."""
    seen: list[str | None] = []
    done = asyncio.Event()

    async def on_event(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event.symbol)
        if len(seen) == 3:
            done.set()

    async with EventBus() as bus:
        bus.subscribe("*", on_event)
        for symbol in ("A", "B", "C"):
            await bus.publish(tick(symbol))
        await done.wait()
    assert seen == ["A", "B", "C"]


async def test_callback_return_values_are_ignored() -> None:
    """A sync callback that returns a value (say, a decision) is not mistaken for an awaitable."""
    results: list[int] = []

    def returns_a_value(event: Event) -> int:
        results.append(1)
        return 42

    async with EventBus() as bus:
        sub = bus.subscribe("*", returns_a_value)
        await bus.publish(tick())
    assert results == [1]
    assert sub.stats.failed == 0
    assert sub.stats.delivered == 1


@pytest.mark.parametrize(
    ("types", "message"),
    [
        (["no_such_type"], "unknown event type 'no_such_type'"),
        ([], "at least one event type"),
    ],
)
async def test_bad_event_types_are_refused(types: list[str], message: str) -> None:
    """Unknown or missing event types get a clear error naming the valid ones."""
    bus = EventBus()
    with pytest.raises(ValueError, match=message):
        bus.subscribe(types, Collector())


async def test_bad_subscription_arguments_are_refused() -> None:
    """Bad overflow names, targets, bounds and queue/policy combinations get clear errors."""
    bus = EventBus()
    with pytest.raises(ValueError, match="unknown overflow policy 'sometimes'"):
        bus.subscribe("*", Collector(), overflow="sometimes")
    with pytest.raises(TypeError, match=r"callable or an asyncio\.Queue"):
        bus.subscribe("*", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive bound"):
        bus.subscribe("*", Collector(), maxsize=0)
    with pytest.raises(ValueError, match="must be bounded"):
        bus.subscribe("*", asyncio.Queue())
    with pytest.raises(ValueError, match="keeps its own maxsize"):
        bus.subscribe("*", asyncio.Queue(5), maxsize=5)
    with pytest.raises(ValueError, match="CONFLATE needs a callback"):
        bus.subscribe("*", asyncio.Queue(5), overflow=OverflowPolicy.CONFLATE)
    assert bus.subscriptions == ()


async def test_publishing_something_that_is_not_an_event_is_a_type_error() -> None:
    """publish() of a non-Event says what the bus carries."""
    async with EventBus() as bus:
        with pytest.raises(TypeError, match="ibbot Events"):
            await bus.publish("tick")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="ibbot Events"):
            bus.publish_nowait(object())  # type: ignore[arg-type]


async def test_subscription_names_defaults_and_repr() -> None:
    """Names default to the callback's qualified name (or 'queue'); repr shows the settings."""

    def on_tick(event: Event) -> None:
        return None

    bus = EventBus()
    by_function = bus.subscribe("tick", on_tick)
    by_queue = bus.subscribe("*", asyncio.Queue(3))
    named = bus.subscribe("*", Collector(), name="strategy.sma", maxsize=7)
    assert by_function.name.endswith("on_tick")
    assert by_queue.name == "queue"
    assert by_queue.maxsize == 3
    assert named.maxsize == 7
    assert by_function.maxsize == DEFAULT_MAXSIZE
    assert "strategy.sma" in repr(named)
    assert "overflow=block" in repr(named)
    assert [s.name for s in bus.stats()] == [by_function.name, "queue", "strategy.sma"]


# -- unsubscribe ---------------------------------------------------------------------------------


async def test_unsubscribe_by_subscription_stops_delivery() -> None:
    """After unsubscribe(subscription) no further events arrive; it is idempotent."""
    kept, removed = Collector(), Collector()
    async with EventBus() as bus:
        bus.subscribe("*", kept)
        sub = bus.subscribe("*", removed)
        await bus.publish(tick("A"))
        await removed.wait(1)
        assert bus.unsubscribe(sub) == 1
        assert bus.unsubscribe(sub) == 0
        assert not sub.active
        await bus.publish(tick("B"))
        await kept.wait(2)
    assert [e.symbol for e in removed.events] == ["A"]
    assert [e.symbol for e in kept.events] == ["A", "B"]


async def test_unsubscribe_by_callback_removes_all_its_subscriptions() -> None:
    """unsubscribe(callback) removes every subscription of that callback, as in the plan."""
    collector, other = Collector(), Collector()
    async with EventBus() as bus:
        bus.subscribe(["tick"], collector)
        bus.subscribe(["price_bar"], collector)
        bus.subscribe("*", other)
        assert bus.unsubscribe(collector) == 2
        assert bus.unsubscribe(collector) == 0
        await bus.publish(tick())
        await bus.publish(bar())
        await other.wait(2)
    assert collector.events == []


async def test_unsubscribe_discards_queued_events_and_counts_them() -> None:
    """Events still queued for a removed callback are discarded and counted."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=10)
        for i in range(4):
            await bus.publish(tick(bid=i))
        await slow.entered.wait()
        bus.unsubscribe(sub)
        await bus.publish(tick())  # after unsubscribe: not routed to it at all
    assert sub.stats.discarded == 3  # the one in the handler was cancelled, three were queued
    assert slow.events == []


async def test_unsubscribe_by_queue_leaves_the_callers_queue_alone() -> None:
    """unsubscribe(queue) stops delivery into it; what it holds stays for the caller."""
    queue: asyncio.Queue[Event] = asyncio.Queue(5)
    async with EventBus() as bus:
        bus.subscribe("*", queue)
        await bus.publish(tick("A"))
        assert bus.unsubscribe(queue) == 1
        await bus.publish(tick("B"))
    assert queue.qsize() == 1
    assert queue.get_nowait().symbol == "A"


async def test_unsubscribe_releases_a_publisher_blocked_on_that_subscriber() -> None:
    """A publisher waiting for room in a BLOCK queue is released (its event counted as discarded)."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=1)
        await bus.publish(tick(bid=1))  # taken by the handler, which blocks
        await slow.entered.wait()
        await bus.publish(tick(bid=2))  # fills the queue
        blocked = asyncio.create_task(bus.publish(tick(bid=3)))
        await asyncio.sleep(0)
        assert not blocked.done()
        bus.unsubscribe(sub)
        await blocked
    assert sub.stats.dropped == 0
    assert sub.stats.discarded == 2  # the queued event and the blocked publisher's


async def test_unsubscribe_releases_a_publisher_blocked_on_a_callers_queue() -> None:
    """A publisher waiting for room in a caller's full queue is released when it unsubscribes."""
    queue: asyncio.Queue[Event] = asyncio.Queue(1)
    async with EventBus() as bus:
        sub = bus.subscribe("*", queue)
        await bus.publish(tick(bid=1))
        blocked = asyncio.create_task(bus.publish(tick(bid=2)))
        await asyncio.sleep(0)
        assert not blocked.done()
        bus.unsubscribe(queue)
        await blocked
    assert sub.stats.discarded == 1
    assert sub.stats.delivered == 1
    assert bid_of(queue.get_nowait()) == 1


async def test_publish_under_way_when_a_subscription_ends_counts_it_as_discarded() -> None:
    """A publish waiting on one subscriber skips (and counts) another removed meanwhile."""
    slow = Gated()
    later = Collector()
    async with EventBus() as bus:
        bus.subscribe("*", slow, maxsize=1)
        removed = bus.subscribe("*", later)
        await bus.publish(tick(bid=1))
        await slow.entered.wait()
        await bus.publish(tick(bid=2))
        blocked = asyncio.create_task(bus.publish(tick(bid=3)))  # waits on `slow`, then `later`
        await asyncio.sleep(0)
        bus.unsubscribe(removed)
        slow.gate.set()
        await blocked
    assert [bid_of(e) for e in later.events] == [1, 2]
    assert removed.stats.discarded == 1
    assert [bid_of(e) for e in slow.events] == [1, 2, 3]


async def test_handler_may_unsubscribe_itself() -> None:
    """A callback that unsubscribes itself gets nothing more, even from its current batch."""
    bus = EventBus()
    seen: list[Event] = []
    subscription: list[Subscription] = []

    def once(event: Event) -> None:
        seen.append(event)
        bus.unsubscribe(subscription[0])

    witness = Collector()
    async with bus:
        subscription.append(bus.subscribe("*", once))
        bus.subscribe("*", witness)
        for _ in range(5):
            await bus.publish(tick())
        await witness.wait(5)
    assert len(seen) == 1


# -- overflow policies ---------------------------------------------------------------------------


async def test_drop_oldest_keeps_the_newest_and_counts_drops() -> None:
    """DROP_OLDEST: a full queue loses its oldest event for each new one; drops are counted."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=3, overflow=OverflowPolicy.DROP_OLDEST)
        await bus.publish(tick(bid=0))
        await slow.entered.wait()  # event 0 is in the handler; the queue is empty
        for i in range(1, 10):
            await bus.publish(tick(bid=i))
        assert sub.stats.dropped == 6
        assert sub.stats.pending == 3
        slow.gate.set()
    assert [bid_of(e) for e in slow.events] == [0, 7, 8, 9]
    assert sub.stats.delivered == 4


async def test_drop_newest_keeps_the_oldest_and_counts_drops() -> None:
    """DROP_NEWEST: a full queue refuses new events; refusals are counted."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=3, overflow="drop_newest")
        await bus.publish(tick(bid=0))
        await slow.entered.wait()
        for i in range(1, 10):
            await bus.publish(tick(bid=i))
        slow.gate.set()
    assert [bid_of(e) for e in slow.events] == [0, 1, 2, 3]
    assert sub.stats.dropped == 6


async def test_conflate_keeps_the_latest_per_type_and_symbol() -> None:
    """CONFLATE: queued ticks of a symbol collapse to its latest; symbols keep first-arrival order."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=8, overflow=OverflowPolicy.CONFLATE)
        await bus.publish(tick("AAPL", 1))
        await slow.entered.wait()
        for i in range(2, 7):
            await bus.publish(tick("AAPL", i))
            await bus.publish(tick("MSFT", 100 + i))
        await bus.publish(bar("AAPL", 50))  # another type: its own slot
        slow.gate.set()
    got = [(e.type, e.symbol, bid_of(e) if e.type is EventType.TICK else None) for e in slow.events]
    assert got == [
        (EventType.TICK, "AAPL", 1),
        (EventType.TICK, "AAPL", 6),
        (EventType.TICK, "MSFT", 106),
        (EventType.PRICE_BAR, "AAPL", None),
    ]
    assert sub.stats.conflated == 8
    assert sub.stats.dropped == 0


async def test_conflate_drops_the_oldest_symbol_when_full_of_distinct_ones() -> None:
    """CONFLATE with more distinct symbols than room drops the oldest symbol's event, counted."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=2, overflow=OverflowPolicy.CONFLATE)
        await bus.publish(tick("A"))
        await slow.entered.wait()
        for symbol in ("B", "C", "D", "C"):
            await bus.publish(tick(symbol))
        assert sub.stats.dropped == 1
        assert sub.stats.conflated == 1
        slow.gate.set()
    assert [e.symbol for e in slow.events] == ["A", "C", "D"]


async def test_block_applies_backpressure_and_loses_nothing() -> None:
    """BLOCK: publish() waits while the queue is full, then every event arrives in order."""
    slow = Gated()
    published: list[int] = []

    async def publisher(bus: EventBus) -> None:
        for i in range(6):
            await bus.publish(tick(bid=i))
            published.append(i)

    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=2)
        task = asyncio.create_task(publisher(bus))
        await slow.entered.wait()
        for _ in range(5):
            await asyncio.sleep(0)
        assert published == [0, 1, 2]  # 0 in the handler, 1 and 2 queued, 3 waiting for room
        assert not task.done()
        slow.gate.set()
        await task
    assert [bid_of(e) for e in slow.events] == [0, 1, 2, 3, 4, 5]
    assert sub.stats.dropped == 0


async def test_publish_nowait_reports_full_block_subscribers_after_serving_the_rest() -> None:
    """publish_nowait never waits: a full BLOCK subscriber misses the event (counted, BusFull)."""
    slow = Gated()
    fast = Collector()
    async with EventBus() as bus:
        full = bus.subscribe("*", slow, maxsize=1, name="slow")
        bus.subscribe("*", fast, name="fast")
        bus.publish_nowait(tick(bid=1))
        await slow.entered.wait()
        bus.publish_nowait(tick(bid=2))
        with pytest.raises(BusFull, match="slow") as caught:
            bus.publish_async(tick(bid=3))  # the plan's name for publish_nowait
        assert caught.value.subscribers == ["slow"]
        await fast.wait(3)
        assert full.stats.dropped == 1
        slow.gate.set()
    assert [bid_of(e) for e in slow.events] == [1, 2]


async def test_publish_nowait_applies_every_policy_without_waiting() -> None:
    """publish_nowait drops for DROP policies and fills queue targets, never raising for them."""
    slow = Gated()
    queue: asyncio.Queue[Event] = asyncio.Queue(2)
    async with EventBus() as bus:
        dropping = bus.subscribe("*", slow, maxsize=1, overflow=OverflowPolicy.DROP_NEWEST)
        queued = bus.subscribe("*", queue, overflow=OverflowPolicy.DROP_OLDEST)
        bus.publish_nowait(tick(bid=0))
        await slow.entered.wait()
        for i in range(1, 4):
            bus.publish_nowait(tick(bid=i))
        slow.gate.set()
    assert [bid_of(e) for e in slow.events] == [0, 1]
    assert dropping.stats.dropped == 2
    assert [bid_of(queue.get_nowait()) for _ in range(2)] == [2, 3]
    assert queued.stats.dropped == 2


async def test_try_publish_delivers_to_all_or_to_nobody() -> None:
    """try_publish hands the event to every subscriber when each BLOCK queue has room; when one is
    full it delivers to nobody, drops nothing and returns False, and the event can be published."""
    slow = Gated()
    fast = Collector()
    conflated = Collector()
    async with EventBus() as bus:
        full = bus.subscribe("*", slow, maxsize=1, name="slow")
        bus.subscribe("*", fast, name="fast")
        bus.subscribe("*", conflated, name="latest", overflow=OverflowPolicy.CONFLATE)
        assert bus.try_publish(tick(bid=1))
        await slow.entered.wait()
        assert bus.try_publish(tick(bid=2))  # the handler holds 1, the queue has room for 2
        await fast.wait(2)
        assert not bus.try_publish(tick(bid=3))
        for _ in range(5):
            await asyncio.sleep(0)
        assert [bid_of(e) for e in fast.events] == [1, 2]
        assert [bid_of(e) for e in conflated.events] == [1, 2]
        assert full.stats.dropped == 0
        slow.gate.set()
        await bus.publish(tick(bid=3))
        await fast.wait(3)
    assert [bid_of(e) for e in slow.events] == [1, 2, 3]
    assert [bid_of(e) for e in fast.events] == [1, 2, 3]
    with pytest.raises(BusClosed):
        bus.try_publish(tick())


async def test_try_publish_never_overtakes_a_publisher_waiting_for_room() -> None:
    """A queue with room but a publisher still waiting for it: try_publish returns False, so the
    waiting event keeps its place."""
    queue: asyncio.Queue[Event] = asyncio.Queue(1)
    async with EventBus() as bus:
        bus.subscribe("*", queue)
        await bus.publish(tick(bid=1))
        waiting = asyncio.ensure_future(bus.publish(tick(bid=2)))
        await asyncio.sleep(0)
        assert bid_of(queue.get_nowait()) == 1  # room now; the waiting publisher has not run yet
        assert not bus.try_publish(tick(bid=3))
        await waiting
        assert bid_of(queue.get_nowait()) == 2
        assert bus.try_publish(tick(bid=3))
        assert bid_of(queue.get_nowait()) == 3


# -- isolation -----------------------------------------------------------------------------------


async def test_failing_subscriber_is_isolated_counted_and_logged() -> None:
    """A callback that raises is logged with context and counted; others still get every event."""

    def broken(event: Event) -> None:
        raise RuntimeError("strategy bug")

    healthy = Collector()
    with capture_logs() as logs:
        async with EventBus() as bus:
            sub = bus.subscribe("*", broken, name="broken")
            bus.subscribe("*", healthy)
            for symbol in ("A", "B", "C"):
                await bus.publish(tick(symbol))
            await healthy.wait(3)
    assert [e.symbol for e in healthy.events] == ["A", "B", "C"]
    assert sub.stats.failed == 3
    assert sub.stats.delivered == 3
    failures = [e for e in logs if e["event"] == "bus.handler_failed"]
    assert [(e["subscriber"], e["event_type"], e["symbol"]) for e in failures] == [
        ("broken", "tick", "A"),
        ("broken", "tick", "B"),
        ("broken", "tick", "C"),
    ]
    assert failures[0]["log_level"] == "error"
    assert isinstance(failures[0]["exc_info"], RuntimeError)


async def test_failing_async_subscriber_keeps_consuming() -> None:
    """An async callback's exception is caught too, and its consumer goes on."""
    calls: list[float | None] = []

    async def flaky(event: Event) -> None:
        calls.append(bid_of(event))
        if len(calls) % 2:
            raise ValueError("odd")

    async with EventBus() as bus:
        sub = bus.subscribe("*", flaky)
        for i in range(4):
            await bus.publish(tick(bid=i))
    assert calls == [0, 1, 2, 3]
    assert sub.stats.failed == 2


async def test_repeated_failures_are_logged_sparingly_but_all_counted() -> None:
    """A subscriber failing on every event logs its first ten failures, but counts all."""

    def broken(event: Event) -> None:
        raise RuntimeError("always")

    with capture_logs() as logs:
        async with EventBus() as bus:
            sub = bus.subscribe("*", broken)
            for _ in range(25):
                await bus.publish(tick())
    assert sub.stats.failed == 25
    assert len([e for e in logs if e["event"] == "bus.handler_failed"]) == 10


async def test_a_handlers_own_cancellation_does_not_kill_its_consumer() -> None:
    """A callback raising CancelledError of its own (not a shutdown) counts as a failure."""
    seen: list[float | None] = []

    async def cancels_itself(event: Event) -> None:
        seen.append(bid_of(event))
        if len(seen) == 1:
            raise asyncio.CancelledError

    async with EventBus() as bus:
        sub = bus.subscribe("*", cancels_itself)
        await bus.publish(tick(bid=1))
        await bus.publish(tick(bid=2))
    assert seen == [1, 2]
    assert sub.stats.failed == 1


async def test_slow_subscriber_does_not_delay_a_fast_one() -> None:
    """A stuck DROP_OLDEST subscriber neither blocks the publisher nor the fast subscriber."""
    stuck = Gated()
    fast = Collector()
    async with EventBus() as bus:
        slow_sub = bus.subscribe("*", stuck, maxsize=4, overflow=OverflowPolicy.DROP_OLDEST)
        bus.subscribe("*", fast, maxsize=1000)
        for i in range(500):
            await bus.publish(tick(bid=i))  # never yields: nothing here is BLOCK and full
        await fast.wait(500)
        assert slow_sub.stats.dropped == 500 - 4
        stuck.gate.set()
    assert [bid_of(e) for e in fast.events] == list(range(500))
    assert [bid_of(e) for e in stuck.events] == [496, 497, 498, 499]


# -- queue targets -------------------------------------------------------------------------------


async def test_queue_target_receives_events_for_the_caller_to_consume() -> None:
    """A caller's bounded queue gets its events in order; the caller consumes it itself."""
    queue: asyncio.Queue[Event] = asyncio.Queue(10)
    async with EventBus() as bus:
        sub = bus.subscribe(["tick"], queue)
        await bus.publish(tick("A"))
        await bus.publish(bar("B"))
        await bus.publish(tick("C"))
        assert [queue.get_nowait().symbol for _ in range(queue.qsize())] == ["A", "C"]
    assert sub.stats.delivered == 2


async def test_queue_target_backpressure_and_drop_oldest() -> None:
    """BLOCK waits for the caller to consume; DROP_OLDEST keeps the newest and join() still works."""
    blocking: asyncio.Queue[Event] = asyncio.Queue(1)
    dropping: asyncio.Queue[Event] = asyncio.Queue(2)
    async with EventBus() as bus:
        bus.subscribe("*", blocking)
        dropping_sub = bus.subscribe("*", dropping, overflow=OverflowPolicy.DROP_OLDEST)
        await bus.publish(tick(bid=1))
        second = asyncio.create_task(bus.publish(tick(bid=2)))
        await asyncio.sleep(0)
        assert not second.done()
        assert bid_of(blocking.get_nowait()) == 1
        await second
        assert bid_of(blocking.get_nowait()) == 2
        await bus.publish(tick(bid=3))
        assert [bid_of(dropping.get_nowait()) for _ in range(2)] == [2, 3]
        dropping.task_done()
        dropping.task_done()
        await dropping.join()
    assert dropping_sub.stats.dropped == 1
    assert dropping_sub.stats.delivered == 3


# -- threads -------------------------------------------------------------------------------------


async def test_publish_threadsafe_from_a_real_thread() -> None:
    """Events published from another OS thread arrive on the loop, all of them, in order."""
    received = Collector()
    async with EventBus() as bus:
        bus.subscribe("*", received)

        def produce() -> None:
            assert threading.current_thread() is not threading.main_thread()
            for i in range(200):
                bus.publish_threadsafe(tick(bid=i))

        await asyncio.to_thread(produce)
        await received.wait(200)
    assert [bid_of(e) for e in received.events] == list(range(200))


async def test_publish_threadsafe_logs_a_full_block_subscriber() -> None:
    """A thread's event that finds a BLOCK queue full is dropped, counted and logged."""
    slow = Gated()
    with capture_logs() as logs:
        async with EventBus() as bus:
            sub = bus.subscribe("*", slow, maxsize=1, name="slow")
            await bus.publish(tick(bid=1))
            await slow.entered.wait()
            await bus.publish(tick(bid=2))
            # the thread's call_soon_threadsafe runs before to_thread's own completion callback
            await asyncio.to_thread(bus.publish_threadsafe, tick(bid=3))
            assert sub.stats.dropped == 1
            slow.gate.set()
    dropped = [e for e in logs if e["event"] == "bus.threadsafe_event_dropped"]
    assert dropped[0]["subscribers"] == ["slow"]


async def test_publish_threadsafe_after_close_is_refused_or_logged() -> None:
    """Before start or after close a thread's publish is refused; one already queued is logged."""
    bus = EventBus()
    with pytest.raises(BusClosed, match="not running yet"):
        bus.publish_threadsafe(tick())
    with capture_logs() as logs:
        async with bus:
            bus.publish_threadsafe(tick())  # runs on the loop after close began
        await asyncio.sleep(0)
    with pytest.raises(BusClosed, match="closed"):
        bus.publish_threadsafe(tick())
    assert [e["event"] for e in logs if "threadsafe" in e["event"]] == [
        "bus.threadsafe_event_after_close"
    ]


async def test_publish_threadsafe_on_a_closed_loop_is_bus_closed() -> None:
    """If the bus's loop has been closed, a thread's publish raises BusClosed, not RuntimeError."""
    holder: list[EventBus] = []

    async def run_bus() -> None:
        bus = EventBus()
        await bus.__aenter__()
        holder.append(bus)

    def in_another_thread() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(run_bus())
        finally:
            loop.close()

    await asyncio.to_thread(in_another_thread)
    with pytest.raises(BusClosed, match="loop is closed"):
        await asyncio.to_thread(holder[0].publish_threadsafe, tick())


# -- lifecycle -----------------------------------------------------------------------------------


async def test_subscriptions_made_before_start_are_served_once_running() -> None:
    """Wiring before entering the bus is fine; publishing before it is refused."""
    bus = EventBus()
    early = Collector()
    bus.subscribe("*", early)
    assert not bus.running
    with pytest.raises(BusClosed, match="not running yet"):
        await bus.publish(tick())
    with pytest.raises(BusClosed, match="not running yet"):
        bus.publish_nowait(tick())
    async with bus:
        assert bus.running
        await bus.publish(tick())
        await early.wait(1)


async def test_close_drains_every_accepted_event() -> None:
    """close(drain=True) hands every queued event to its callback before returning."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=10)
        for i in range(5):
            await bus.publish(tick(bid=i))
        await slow.entered.wait()
        closing = asyncio.create_task(bus.close())
        await asyncio.sleep(0)
        assert not closing.done()
        with pytest.raises(BusClosed, match="closed"):
            await bus.publish(tick())
        slow.gate.set()
        await closing
    assert [bid_of(e) for e in slow.events] == [0, 1, 2, 3, 4]
    assert sub.stats.discarded == 0
    assert not sub.active


async def test_close_drain_also_delivers_events_of_blocked_publishers() -> None:
    """Publishers already waiting for room when close() starts get their events delivered."""
    slow = Gated()
    async with EventBus() as bus:
        bus.subscribe("*", slow, maxsize=1)
        await bus.publish(tick(bid=0))
        await slow.entered.wait()
        await bus.publish(tick(bid=1))
        blocked = asyncio.create_task(bus.publish(tick(bid=2)))
        await asyncio.sleep(0)
        closing = asyncio.create_task(bus.close())
        await asyncio.sleep(0)
        slow.gate.set()
        await asyncio.gather(blocked, closing)
    assert [bid_of(e) for e in slow.events] == [0, 1, 2]


async def test_close_gives_up_draining_after_the_timeout_and_cancels() -> None:
    """A stuck subscriber is cancelled once the drain timeout passes on the bus clock."""
    clock = SimulatedClock()
    stuck = Gated()
    healthy = Collector()
    with capture_logs() as logs:
        async with EventBus(clock=clock) as bus:
            sub = bus.subscribe("*", stuck, maxsize=10, name="stuck")
            bus.subscribe("*", healthy)
            for i in range(4):
                await bus.publish(tick(bid=i))
            await stuck.entered.wait()
            closing = asyncio.create_task(bus.close(timeout=5))
            await clock.wait_for_sleepers(1)
            clock.advance(5)
            await closing
    assert stuck.events == []
    assert len(healthy.events) == 4
    assert sub.stats.discarded == 3
    warning = next(e for e in logs if e["event"] == "bus.drain_timeout")
    assert warning["undrained"] == ["stuck"]


async def test_close_without_drain_discards_at_once_and_releases_publishers() -> None:
    """close(drain=False) cancels consumers now; a blocked publisher is released, counted."""
    slow = Gated()
    async with EventBus() as bus:
        sub = bus.subscribe("*", slow, maxsize=1)
        await bus.publish(tick(bid=0))
        await slow.entered.wait()
        await bus.publish(tick(bid=1))
        blocked = asyncio.create_task(bus.publish(tick(bid=2)))
        await asyncio.sleep(0)
        await bus.close(drain=False)
        await blocked
    assert slow.events == []
    assert sub.stats.discarded == 2
    assert sub.stats.dropped == 0


async def test_close_is_idempotent_and_concurrent_calls_wait_for_the_first() -> None:
    """Closing twice, or from two tasks at once, is harmless; the bus cannot be reused."""
    slow = Gated()
    bus = EventBus()
    async with bus:
        bus.subscribe("*", slow)
        await bus.publish(tick())
        await slow.entered.wait()
        first = asyncio.create_task(bus.close())
        second = asyncio.create_task(bus.close())
        await asyncio.sleep(0)
        assert not second.done()
        slow.gate.set()
        await asyncio.gather(first, second)
        await bus.close()
    await bus.close()
    with pytest.raises(BusClosed, match="closed"):
        bus.subscribe("*", Collector())
    with pytest.raises(BusClosed, match="runs once"):
        await bus.__aenter__()


async def test_close_from_inside_a_callback_stops_its_own_subscription() -> None:
    """A callback may close the bus: the others drain, its own subscription just stops."""
    bus = EventBus()
    witness = Collector()
    calls: list[Event] = []

    async def shut_down(event: Event) -> None:
        calls.append(event)
        await bus.close()

    async with bus:
        own = bus.subscribe("*", shut_down, name="closer")
        bus.subscribe("*", witness)
        await bus.publish(tick(bid=1))
        await bus.publish(tick(bid=2))
        await witness.wait(2)
    assert len(calls) == 1
    assert [bid_of(e) for e in witness.events] == [1, 2]
    assert own.stats.discarded == 1
    assert not bus.running


async def test_close_of_a_bus_never_started() -> None:
    """Closing a bus that never ran just marks it closed and ends its subscriptions."""
    bus = EventBus()
    sub = bus.subscribe("*", Collector())
    await bus.close()
    await bus.close()
    assert not sub.active
    with pytest.raises(BusClosed):
        await bus.publish(tick())


async def test_error_in_the_bus_block_closes_without_draining() -> None:
    """Leaving `async with` on an exception cancels consumers at once and re-raises it."""
    slow = Gated()
    subscriptions: list[Subscription] = []

    async def failing_orchestrator() -> None:
        async with EventBus() as bus:
            subscriptions.append(bus.subscribe("*", slow, maxsize=5))
            for i in range(3):
                await bus.publish(tick(bid=i))
            await slow.entered.wait()
            raise LookupError("orchestrator failed")

    with pytest.raises(LookupError, match="orchestrator failed"):
        await failing_orchestrator()
    assert slow.events == []
    assert subscriptions[0].stats.discarded == 2


async def test_subscribing_while_running_starts_a_consumer() -> None:
    """A subscription made while the bus runs is served from then on."""
    late = Collector()
    async with EventBus() as bus:
        await bus.publish(tick("early"))
        bus.subscribe("*", late)
        await bus.publish(tick("late"))
        await late.wait(1)
    assert [e.symbol for e in late.events] == ["late"]


async def test_stats_snapshot_of_all_subscriptions() -> None:
    """bus.stats() lists every subscription's counters."""
    make: Callable[[], Collector] = Collector
    async with EventBus() as bus:
        bus.subscribe("*", make(), name="a")
        bus.subscribe("tick", make(), name="b")
        await bus.publish(bar())
    stats = {s.name: s for s in bus.stats()}
    assert stats["a"].delivered == 1
    assert stats["b"].delivered == 0
