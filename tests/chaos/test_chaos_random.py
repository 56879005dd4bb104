"""Randomized chaos: 20 disruptions of every kind, at random moments, from a seed.

``uv run pytest`` runs one fixed seed; ``uv run pytest -m chaos`` runs random seeds for longer
(see ``tests/chaos/conftest.py`` and the README). The seed is in the test id: a failing seed is
replayed with ``IBBOT_CHAOS_SEED=<seed> uv run pytest -m chaos tests/chaos``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from tests.chaos.conftest import LONG_DISRUPTIONS, LONG_TIMEOUT
from tests.chaos.driver import KINDS, chaos_run, run_schedule

if TYPE_CHECKING:
    from pathlib import Path

    from tests.chaos.driver import Reconnect

DISRUPTIONS = 20


async def test_ibbot_survives_twenty_disruptions_of_every_kind(
    tmp_path: Path, chaos_seed: int, chaos_reconnects: list[Reconnect]
) -> None:
    """20 disruptions, each kind at least once, at random moments: ibbot reconnects after each
    within the backoff bound, and its audit and book equal the gateway's truth."""
    rng = random.Random(chaos_seed)
    async with chaos_run(tmp_path, seed=chaos_seed, record=chaos_reconnects) as chaos:
        await run_schedule(chaos, rng, DISRUPTIONS)
    assert len(chaos.schedule) == DISRUPTIONS
    assert set(chaos.schedule) == set(KINDS)


@pytest.mark.chaos
@pytest.mark.timeout(LONG_TIMEOUT)
async def test_ibbot_survives_long_random_schedules(
    tmp_path: Path, chaos_seed: int, chaos_reconnects: list[Reconnect]
) -> None:
    """The long mode: more disruptions per run, a new random seed per run."""
    rng = random.Random(chaos_seed)
    async with chaos_run(tmp_path, seed=chaos_seed, record=chaos_reconnects) as chaos:
        await run_schedule(chaos, rng, LONG_DISRUPTIONS)
    assert len(chaos.schedule) == LONG_DISRUPTIONS
