"""Seeds, the long mode and the reconnect-time summary of the chaos tests.

``uv run pytest`` runs the chaos tests that are not marked ``chaos``, each randomized one with
the fixed seed :data:`FIXED_SEED`. ``uv run pytest -m chaos`` runs the tests marked ``chaos``
(deselected otherwise): longer schedules, each with a fresh random seed, ``IBBOT_CHAOS_RUNS``
runs (default 3), or exactly the seed ``IBBOT_CHAOS_SEED`` to replay a failure. After a run that
timed reconnects, the terminal summary gives their p50/p99.
"""

from __future__ import annotations

import os
import random
import statistics
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.chaos.driver import Reconnect

FIXED_SEED = 20260304
LONG_DISRUPTIONS = 40
LONG_TIMEOUT = 600
_RECONNECTS = pytest.StashKey[list["Reconnect"]]()


def _long_mode(config: pytest.Config) -> bool:
    return "chaos" in str(config.getoption("markexpr") or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the long chaos runs out unless ``-m`` names them."""
    if _long_mode(config):
        return
    long_runs = [item for item in items if item.get_closest_marker("chaos") is not None]
    if long_runs:
        config.hook.pytest_deselected(items=long_runs)
        items[:] = [item for item in items if item.get_closest_marker("chaos") is None]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``chaos_seed``: the fixed seed, or (for a test marked ``chaos``) random ones."""
    if "chaos_seed" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("chaos") is None:
        seeds = [FIXED_SEED]
    elif os.environ.get("IBBOT_CHAOS_SEED"):
        seeds = [int(os.environ["IBBOT_CHAOS_SEED"])]
    else:
        runs = int(os.environ.get("IBBOT_CHAOS_RUNS", "3"))
        seeds = [random.SystemRandom().randrange(2**31) for _ in range(runs)]
    metafunc.parametrize("chaos_seed", seeds, ids=[f"seed={seed}" for seed in seeds])


@pytest.fixture
def chaos_reconnects(request: pytest.FixtureRequest) -> list[Reconnect]:
    """Where a chaos run adds its timed reconnects, for the session's summary."""
    return request.config.stash.setdefault(_RECONNECTS, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Reconnect times after a drop (and after a restart's refusal ended), p50 and p99."""
    reconnects = config.stash.get(_RECONNECTS, [])
    if not reconnects:
        return
    terminalreporter.section("chaos: reconnect times")
    drops = [r.seconds for r in reconnects if not r.refused]
    restarts = [r.seconds - r.refused for r in reconnects if r.refused]
    for what, times in (("after a drop", drops), ("after a restart's refusal", restarts)):
        if times:
            terminalreporter.write_line(
                f"{what}: {len(times)} reconnects, p50 {_quantile(times, 0.5):.3f} s, "
                f"p99 {_quantile(times, 0.99):.3f} s, max {max(times):.3f} s"
            )


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]
