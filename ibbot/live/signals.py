"""SIGINT and SIGTERM for a long-running service: the first asks for a graceful stop, the second forces it.

``docker stop`` sends SIGTERM (then SIGKILL after the grace period); Ctrl-C sends SIGINT. The first
of either starts the two-phase shutdown; a second one means "now": the caller cancels what is
still running. Handlers are installed on the running loop and removed on exit, so nothing outlives
the service (and platforms without loop signal handlers simply run without them).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Final

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["SIGNALS", "shutdown_signals"]

log = structlog.get_logger(__name__)

SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def shutdown_signals(
    graceful: Callable[[str], None], forced: Callable[[str], None]
) -> Iterator[None]:
    """While the block runs, the first SIGINT/SIGTERM calls ``graceful``, any later one ``forced``."""
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def on_signal(name: str) -> None:
        received.append(name)
        if len(received) == 1:
            log.warning("app.signal", signal=name, action="graceful shutdown (again to force)")
            graceful(name)
        else:
            log.warning("app.signal", signal=name, action="forced exit")
            forced(name)

    installed = []
    for sig in SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
        except (NotImplementedError, RuntimeError):  # no loop signal handlers here (Windows)
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
