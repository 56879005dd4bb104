"""Scripted chaos: schedules of gateway faults, then ibbot's audit and book against the truth.

Every test runs ibbot against a simulated gateway (see :mod:`tests.chaos.driver`), applies its
schedule, lets trading go on, stops ibbot gracefully and checks: each reconnect within the
backoff bound, no orderRef twice at the gateway, every execution audited once with its
commission, the book equal to the account, no long-only position below zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.chaos.driver import chaos_run

if TYPE_CHECKING:
    from pathlib import Path

    from tests.chaos.driver import Reconnect


async def test_drops_restarts_and_link_notices_with_fills_while_away(
    tmp_path: Path, chaos_reconnects: list[Reconnect]
) -> None:
    """Drops, gateway restarts of 0.5 and 1 s with resting bids filled while ibbot is away, and
    IB's link lost and back with data kept (1100, 1102), with data lost (1100, 1101), a lone 1101."""
    async with chaos_run(tmp_path, record=chaos_reconnects) as chaos:
        await chaos.drop()
        await chaos.drop(fill_away=True)
        await chaos.restart(1.0, fill_away=True)
        await chaos.restart(0.5)
        await chaos.notices(1100, 1102)
        await chaos.notices(1100, 1101)
        await chaos.notices(1101)
    assert len(chaos.filled_away) == 2
    assert len(chaos.reconnects) == 4  # the notices kept the socket


async def test_flaps_and_a_burst_of_catch_up_bars(
    tmp_path: Path, chaos_reconnects: list[Reconnect]
) -> None:
    """A drop right after a reconnect and within a second of it; a drop while each session hook
    (resubscribe, reconcile, positions) runs, the last the issue's deadlock (a bid filled while
    away, then a drop while the book is reconciled); then a 3 s restart, 3 minutes of bars at 60x
    arriving in a burst, through which the long-only flipper never sells more than it holds."""
    async with chaos_run(tmp_path, record=chaos_reconnects) as chaos:
        await chaos.flap_after_reconnect(0.0)
        await chaos.flap_after_reconnect(0.6)
        await chaos.flap_in_hook("resubscribe")
        await chaos.flap_in_hook("reconcile")
        await chaos.flap_in_hook("positions", fill_away=True)
        await chaos.restart(3.0, kind="burst")
    assert len(chaos.interrupted) == 3
    assert len(chaos.filled_away) == 1
