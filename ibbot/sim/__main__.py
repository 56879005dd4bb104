"""``python -m ibbot.sim``: the simulated gateway as a standalone program (same as ``ibbot sim``)."""

from __future__ import annotations

import argparse

from ibbot.logs import configure_logging, reset_logging
from ibbot.sim.cli import add_sim_arguments, run_sim


def main(argv: list[str] | None = None) -> int:
    """Parse the ``ibbot sim`` options and run the gateway; logs go to stderr at INFO.

    Logging is ibbot's own (:func:`ibbot.logs.configure_logging`: secrets masked, JSON lines
    unless stderr is a terminal, ib_async routed through it) and is undone on the way out, so a
    caller in the same process (a test) gets its logging back as it was.
    """
    parser = argparse.ArgumentParser(
        prog="python -m ibbot.sim",
        description="Run the simulated IB Gateway (a TWS API server) until SIGINT or SIGTERM.",
    )
    add_sim_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging("INFO", "auto")
    try:
        return run_sim(args)
    finally:
        reset_logging()


if __name__ == "__main__":
    raise SystemExit(main())
