"""Lifecycle events: logged at once, audited in order by one writer task.

Starting, stopping, strategies added, removed or disabled, the kill switch engaged: each is a log
line and a record in ``audit/lifecycle/``. Callers may be synchronous or on the way out (a strategy
being disabled from inside its own consumer, which is cancelled next), so :meth:`LifecycleLog.note`
never awaits: it logs and queues; :meth:`LifecycleLog.run` writes the queue to the store.

Listeners (:meth:`LifecycleLog.listen`: the notifier, the dashboard) hear of each event as it is
noted; they must be quick and never raise (a listener that does is logged and skipped).

Overflow policy: the queue holds 1,000 records (lifecycle events come a few per minute); should a
stuck store fill it, a record is refused with an error log line carrying its content, never lost
silently.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.errors import IbbotError
from ibbot.store import AuditKind

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibbot.clock import Clock
    from ibbot.store import AsyncStore

__all__ = ["LifecycleLog"]

log = structlog.get_logger(__name__)

_MAXSIZE: Final = 1_000


class LifecycleLog:
    """Logs lifecycle events and audits them (``clock`` stamps them in market time)."""

    def __init__(self, store: AsyncStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], str | None]] = asyncio.Queue(_MAXSIZE)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with each record noted from now on (``{"event": ..., "at": ...}``)."""
        self._listeners.append(listener)

    def note(
        self, event: str, *, strategy: str | None = None, warning: bool = False, **fields: Any
    ) -> None:
        """Log ``event`` (``"app.started"``...) with ``fields`` and queue its audit record."""
        logger = log.warning if warning else log.info
        if strategy is not None:
            logger(event, strategy=strategy, **fields)
        else:
            logger(event, **fields)
        record = {"event": event, "at": self._clock.now().isoformat(), **fields}
        heard = record if strategy is None else {**record, "strategy": strategy}
        for listener in self._listeners:
            try:
                listener(heard)
            except Exception:  # a listener's bug must not lose the audit record
                log.exception("app.lifecycle_listener_failed", event=event)
        if self._queue.full():
            log.error("app.lifecycle_not_audited", reason="audit queue full", record=record)
            return
        self._queue.put_nowait((event, record, strategy))

    async def run(self) -> None:
        """Write queued records to the lifecycle audit log, until cancelled."""
        while True:
            _, record, strategy = await self._queue.get()
            failure: IbbotError | None = None
            try:
                await self._store.log_audit(AuditKind.LIFECYCLE, record, strategy=strategy)
            except IbbotError as exc:
                failure = exc
            finally:
                self._queue.task_done()
            if failure is not None:
                log.error("app.lifecycle_not_audited", reason=str(failure), record=record)

    async def flush(self) -> None:
        """Wait until every record queued so far is written (needs :meth:`run` running)."""
        await self._queue.join()
