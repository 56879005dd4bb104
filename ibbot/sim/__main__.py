"""``python -m ibbot.sim``: the simulated gateway as a standalone program (same as ``ibbot sim``)."""

from __future__ import annotations

import argparse
import logging
import sys

import structlog

from ibbot.sim.cli import add_sim_arguments, run_sim


def main(argv: list[str] | None = None) -> int:
    """Parse the ``ibbot sim`` options and run the gateway; logs go to stderr at INFO."""
    parser = argparse.ArgumentParser(
        prog="python -m ibbot.sim",
        description="Run the simulated IB Gateway (a TWS API server) until SIGINT or SIGTERM.",
    )
    add_sim_arguments(parser)
    args = parser.parse_args(argv)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    return run_sim(args)


if __name__ == "__main__":
    raise SystemExit(main())
