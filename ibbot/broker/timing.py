"""Deadlines measured on an injected :class:`~ibbot.clock.Clock` instead of the loop's own time."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ibbot.clock import Clock

__all__ = ["wait_event", "within"]

T = TypeVar("T")


async def within(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, or :class:`TimeoutError` once ``seconds`` pass on ``clock``.

    The awaitable is cancelled on timeout (and when the caller is cancelled), like
    ``asyncio.wait_for``, but time is whatever ``clock`` says, so a ``SimulatedClock`` drives it.
    """
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        done, _ = await asyncio.wait((work, timer), return_when=asyncio.FIRST_COMPLETED)
        timed_out = work not in done
    finally:
        timer.cancel()
        if not work.done():
            work.cancel()
        await asyncio.wait((work, timer))
    if timed_out:
        raise TimeoutError(f"no result within {seconds:g} s")
    return work.result()


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass on ``clock``; True if it was set."""
    if event.is_set():
        return True
    try:
        await within(clock, seconds, event.wait())
    except TimeoutError:
        return event.is_set()
    return True
