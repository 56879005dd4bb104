"""The hand-off from ib_async's synchronous callbacks to asynchronous publishing and storing.

ib_async calls its event handlers synchronously on the loop; they must not await (and an ``async``
handler's exceptions would vanish). So handlers only :meth:`Outbox.put` an event; the outbox's
:meth:`~Outbox.run` task persists it (when the owner gives a ``persist`` step) and publishes it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from ibbot.errors import IbbotError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ibbot.broker.ports import EventPublisher
    from ibbot.models import Event

__all__ = ["Outbox"]

log = structlog.get_logger(__name__)


class Outbox:
    """A bounded FIFO of events on their way to the store and the bus.

    Overflow policy: the queue holds ``maxsize`` events (10,000 by default, minutes of IB traffic);
    when it is full the consumer has been stuck that long, and a new event is refused with an
    error log line naming it and counted in :attr:`dropped`, never lost silently. A failing
    ``persist`` or ``publish`` is logged and the event still goes on to the next step.
    """

    def __init__(
        self,
        publisher: EventPublisher | None,
        *,
        name: str,
        persist: Callable[[Event], Awaitable[None]] | None = None,
        maxsize: int = 10_000,
    ) -> None:
        self._publisher = publisher
        self._persist = persist
        self._name = name
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def put(self, event: Event) -> bool:
        """Queue ``event`` without waiting; False (and an error log line) when the queue is full."""
        if self._queue.full():
            self.dropped += 1
            log.error(
                "broker.outbox_overflow",
                outbox=self._name,
                event_type=event.type.value,
                symbol=event.symbol,
                dropped=self.dropped,
            )
            return False
        self._queue.put_nowait(event)
        return True

    @property
    def pending(self) -> int:
        """Events queued and not yet handled."""
        return self._queue.qsize()

    async def run(self) -> None:
        """Persist and publish queued events, in order, until cancelled."""
        while True:
            event = await self._queue.get()
            try:
                await self._deliver(event)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every event queued so far has been handled (needs :meth:`run` running)."""
        await self._queue.join()

    async def _deliver(self, event: Event) -> None:
        if self._persist is not None:
            failure: IbbotError | None = None
            try:
                await self._persist(event)
            except IbbotError as exc:
                failure = exc
            if failure is not None:
                log.error(
                    "broker.persist_failed",
                    outbox=self._name,
                    event_type=event.type.value,
                    symbol=event.symbol,
                    error=str(failure),
                )
        if self._publisher is not None:
            try:
                await self._publisher.publish(event)
            except IbbotError as exc:  # e.g. the bus is closing during shutdown
                log.warning(
                    "broker.publish_failed",
                    outbox=self._name,
                    event_type=event.type.value,
                    symbol=event.symbol,
                    error=str(exc),
                )
