"""The broker's CLI commands: ``ibbot backfill`` and ``ibbot check``.

Each is an ``add_*_arguments(parser)`` and a ``run_*(args, settings) -> int`` for the CLI's command
table. This module stays light (the CLI imports it on every invocation, ``--help`` included); the
work is in :mod:`ibbot.broker.jobs`, imported when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibbot.models import BarSize, WhatToShow

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["add_backfill_arguments", "add_check_arguments", "run_backfill", "run_check"]

# Kept equal to ibbot.broker.jobs.CHECK_CLIENT_ID_OFFSET (a test checks it) without importing it.
_CHECK_OFFSET = 100


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ibbot check``."""
    parser.add_argument(
        "--client-id",
        type=int,
        default=None,
        help=f"client id to probe with (default: ib.client_id + {_CHECK_OFFSET})",
    )


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """Connect to the configured gateway; exit 0 when it is ready, else one line and exit 1."""
    from ibbot.broker.jobs import check  # noqa: PLC0415 - loads ib_async only when run
    from ibbot.eventloop import run_async  # noqa: PLC0415

    return run_async(check(args, settings))


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ibbot backfill``."""
    parser.add_argument("symbols", nargs="+", metavar="SYMBOL", type=str.upper)
    parser.add_argument(
        "--bar-size",
        type=BarSize.parse,
        default=None,
        help="IB bar size, e.g. '1 min', '5 mins', '1 day' (default: collector.bar_size)",
    )
    parser.add_argument(
        "--duration",
        default=None,
        help="how far back, as IB's durationStr, e.g. '5 D', '6 M', '2 Y' "
        "(default: collector.history_duration)",
    )
    parser.add_argument(
        "--what-to-show",
        type=_what_to_show,
        default=None,
        help="TRADES, MIDPOINT, BID, ASK or BID_ASK (default: collector.what_to_show)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (also off when not a terminal)"
    )


def run_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch what the store lacks of the history of each SYMBOL; exit 1 if anything failed."""
    from ibbot.broker.jobs import backfill  # noqa: PLC0415 - loads ib_async only when run
    from ibbot.eventloop import run_async  # noqa: PLC0415

    return run_async(backfill(args, settings))


def _what_to_show(text: str) -> WhatToShow:
    return WhatToShow(text.strip().upper())
