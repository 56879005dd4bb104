"""The run's heap: what start-up built is kept out of the garbage collector's sight while trading."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

from ibbot.app import Orchestrator
from tests.integration.app_support import DEADLINE, app_settings, strategy

if TYPE_CHECKING:
    from pathlib import Path


async def test_the_start_up_heap_is_frozen_while_live_and_released_when_the_run_ends(
    tmp_path: Path,
) -> None:
    """Once the live feed is open, start-up's objects are frozen (a full collection while trading
    scans only what trading made); the run unfreezes them when it ends."""
    settings = app_settings(tmp_path, strategies=[strategy("holder", "HoldQuantity", quantity=1)])
    orchestrator = Orchestrator(settings)
    run = asyncio.ensure_future(orchestrator.run(handle_signals=False))
    try:
        async with asyncio.timeout(DEADLINE):
            await orchestrator.started.wait()
        assert gc.get_freeze_count() > 0
    finally:
        orchestrator.stop("test: heap checked")
        async with asyncio.timeout(DEADLINE):
            assert await run == 0
    assert gc.get_freeze_count() == 0
