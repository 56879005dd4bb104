"""A tap on ibbot's structured log: wait for a line, or act at the very moment it is logged.

Some moments have no bus event, only a log line: a session hook starting, a reconciliation being
done. :class:`LogTap` is a structlog processor put in front of the configured ones (the autouse
fixture restores structlog's defaults after each test). It keeps the lines a test cares about and
runs a test's action synchronously inside the logging call, in the task that logs, so "drop the
connection while this hook runs" needs no sleep: the hook is running when its line is made.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

Line = dict[str, Any]


@dataclass(slots=True)
class _Action:
    predicate: Callable[[Line], bool]
    action: Callable[[Line], None]
    times: int


class LogTap:
    """Keeps the lines whose event starts with one of ``prefixes``; runs actions on lines."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self._prefixes = tuple(prefixes)
        self.lines: list[Line] = []
        self._actions: list[_Action] = []
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def install(self) -> LogTap:
        """Put the tap in front of structlog's processors (until the test's end)."""
        structlog.configure(processors=[self, *structlog.get_config()["processors"]])
        return self

    def __call__(self, logger: object, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        """The structlog processor: note the line (with its monotonic time ``t``), pass it on."""
        event = str(event_dict.get("event", ""))
        if event.startswith(self._prefixes):
            line = {**event_dict, "level": method, "t": time.monotonic()}
            if threading.get_ident() == self._thread:
                self._note(line)
            else:  # a line from a worker thread (the store's): noted on the loop, no actions
                self._loop.call_soon_threadsafe(self.lines.append, line)
        return event_dict

    def _note(self, line: Line) -> None:
        self.lines.append(line)
        self._changed.set()
        for action in list(self._actions):
            if action.times and action.predicate(line):
                action.times -= 1
                action.action(line)
        self._actions = [a for a in self._actions if a.times]

    def on(
        self, predicate: Callable[[Line], bool], action: Callable[[Line], None], *, times: int = 1
    ) -> None:
        """Run ``action(line)`` inside the logging call of the next ``times`` matching lines."""
        self._actions.append(_Action(predicate, action, times))

    def of(self, event: str, **fields: Any) -> list[Line]:
        """The kept lines of ``event`` whose fields have the values given."""
        return [
            line
            for line in self.lines
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        ]

    async def wait_for(self, predicate: Callable[[], bool], *, seconds: float, what: str) -> None:
        """Return once ``predicate()`` holds (checked on every kept line); fail after ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            last = [line.get("event") for line in self.lines[-15:]]
            raise AssertionError(f"not within {seconds:g} s: {what} (last lines: {last})") from None


def event_is(event: str, **fields: Any) -> Callable[[Line], bool]:
    """A predicate: a line of ``event`` with these field values."""

    def matches(line: Line) -> bool:
        return line.get("event") == event and all(line.get(k) == v for k, v in fields.items())

    return matches
