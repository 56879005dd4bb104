"""``ibbot run`` (and plain ``ibbot``): the main job, until a signal or ``--duration SECONDS``.

The work is :class:`ibbot.app.Orchestrator`'s: start the embedded simulator or connect to the
configured gateway, collect, run the strategies, trade. SIGINT/SIGTERM (or ``--duration``) stop it
gracefully: exit code 0 once its state is saved; a second signal forces it (exit code 130).
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ibbot.settings import Settings

__all__ = ["configure", "run"]

_CHATTY = ("ib_async", "ibbot.sim")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """``--duration``."""
    parser.add_argument(
        "--duration",
        type=_seconds,
        metavar="SECONDS",
        help=(
            "stop gracefully this long after the live feed opens (start-up not counted; exit 0),"
            " e.g. for a demo; default: until a signal"
        ),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the orchestrator; return its exit code."""
    from ibbot.app import Orchestrator  # noqa: PLC0415 - keeps `ibbot --help` fast
    from ibbot.eventloop import run_async  # noqa: PLC0415

    # ib_async narrates every message at INFO (positions, order states), and so does the embedded
    # simulator from the exchange's side; ibbot logs what matters in its own words. Their warnings
    # and errors still come through, and --log-level DEBUG shows everything.
    quieted = [logging.getLogger(name) for name in _CHATTY]
    levels = [logger.level for logger in quieted]
    if settings.logging.level != "DEBUG":
        for logger in quieted:
            logger.setLevel(logging.WARNING)
    try:
        return run_async(Orchestrator(settings).run(duration=getattr(args, "duration", None)))
    finally:
        for logger, level in zip(quieted, levels, strict=True):
            logger.setLevel(level)
