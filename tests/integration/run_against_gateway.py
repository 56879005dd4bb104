"""``python -m tests.integration.run_against_gateway CONFIG SIM_NOW MONOTONIC SCALE``: ``ibbot run``
against a simulated gateway the test runs in its own process.

Exactly what ``python -m ibbot run --config CONFIG --log-format json`` does, with one difference a
real gateway never needs: the market clock. The test's gateway trades in simulated time (``SIM_NOW``
at the system-wide monotonic instant ``MONOTONIC``, running ``SCALE`` times faster), so this process
runs its orchestrator on the same clock, or every bar would look like history to it.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from ibbot.app import Orchestrator
from ibbot.clock import ScaledClock
from ibbot.eventloop import run_async
from ibbot.logs import configure_logging
from ibbot.settings import load_settings


def main(argv: list[str]) -> int:
    """Run until a signal; the orchestrator's exit code."""
    config, sim_now, origin, scale = argv
    settings = load_settings(config_file=Path(config), env_file=None)
    configure_logging(settings.logging.level, "json", secrets=settings.secret_values())
    elapsed = (time.monotonic() - float(origin)) * float(scale)
    clock = ScaledClock(datetime.fromisoformat(sim_now) + timedelta(seconds=elapsed), float(scale))
    return run_async(Orchestrator(settings, market_clock=clock).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
