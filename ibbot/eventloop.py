"""The event loop ibbot runs on: uvloop where it is installed (Linux, macOS), asyncio's otherwise."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Coroutine

__all__ = ["new_event_loop", "run_async"]

_T = TypeVar("_T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop loop when uvloop is available (faster I/O and callbacks), else asyncio's default."""
    try:
        import uvloop  # noqa: PLC0415 - optional, and only commands that run a loop need it
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_async(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """Run ``main`` to completion on a fresh loop from :func:`new_event_loop`, then close the loop.

    The helper for commands: ``run(args, settings)`` returns ``run_async(serve(settings))``. Ctrl-C
    cancels ``main`` and then raises ``KeyboardInterrupt`` here (the CLI turns it into exit code 130).
    """
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)
