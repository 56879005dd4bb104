"""The event loop helper: uvloop when installed, results and exceptions passed through."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest

from ibbot.eventloop import new_event_loop, run_async


def test_run_async_returns_the_result_on_uvloop_when_installed() -> None:
    """run_async runs the coroutine on uvloop (where installed) and returns its result."""

    async def loop_module() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    expected = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    assert run_async(loop_module()).split(".")[0] == expected


def test_run_async_propagates_exceptions_and_closes_the_loop() -> None:
    """An exception leaves run_async unchanged, and the loop it made is closed."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def fail() -> None:
        loops.append(asyncio.get_running_loop())
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        run_async(fail())
    assert loops[0].is_closed()


def test_new_event_loop_falls_back_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvloop, the standard asyncio loop is used."""
    monkeypatch.setitem(sys.modules, "uvloop", None)
    loop = new_event_loop()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
