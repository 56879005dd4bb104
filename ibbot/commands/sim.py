"""``ibbot sim``: the simulated IB Gateway, standalone (see :mod:`ibbot.sim.cli` for the options).

The simulator is its own peer with its own options (``--port``, ``--seed``, ``--time-scale`` ...), so
it does not read ibbot's settings: it is the same program any TWS API client can be pointed at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """The simulator's own options."""
    from ibbot.sim.cli import add_sim_arguments  # noqa: PLC0415 - imported only when needed

    add_sim_arguments(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; exit 0."""
    del settings
    from ibbot.sim.cli import run_sim  # noqa: PLC0415

    return run_sim(args)
