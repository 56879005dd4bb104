"""``ibbot reconcile [--adopt SYMBOL ...]``: see the halted symbols of a running ``ibbot run``, and
resolve them.

A reconciliation that finds the book and the broker apart in a symbol halts new orders in it
(``risk.on_reconciliation_mismatch = "halt_symbol"``, the default): ibbot no longer knows its
exposure there. Without options this prints the halted symbols and why. ``--adopt SYMBOL``
(repeatable) tells the running service the broker is right: its position in the symbol is taken
into the book (see :meth:`~ibbot.trading.PositionBook.adopt`: the strategies keep the shares the
broker's position covers, the rest is booked unattributed; no strategy is left believing in shares
the broker does not hold, so no exit sells them twice), the halt is lifted, and each symbol gets
a line in ``audit/reconciliation/`` ("adopted by hand", the book before and after). A symbol with
an order at work is refused until the order is done. It talks to the service's control endpoint, like
``ibbot strategies``: run it with the same settings, as the same user. Exit code 1 when no service
runs, it refuses, or a symbol was refused.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ibbot.commands.control_client import control_request

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """``--adopt SYMBOL``."""
    parser.add_argument(
        "--adopt",
        action="append",
        type=str.upper,
        default=[],
        metavar="SYMBOL",
        help="take the broker's position in SYMBOL into the book and lift its halt (repeatable)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the halted symbols, or adopt the broker's positions in the symbols given."""
    from ibbot.live.control import read_control_file  # noqa: PLC0415 - keeps --help fast

    endpoint = read_control_file(settings.store.path)
    if not args.adopt:
        halted = control_request(endpoint, "GET", "/status").get("halted") or {}
        if not halted:
            sys.stdout.write("no symbol is halted\n")
            return 0
        for symbol, reason in sorted(halted.items()):
            sys.stdout.write(f"{symbol} halted: {reason}\n")
        sys.stdout.write(
            "to take the broker's position as the truth: ibbot reconcile --adopt "
            + " --adopt ".join(sorted(halted))
            + "\n"
        )
        return 0
    answers = control_request(endpoint, "POST", "/reconcile", {"adopt": args.adopt})["adopted"]
    refused = 0
    for answer in answers:
        sys.stdout.write(f"{answer['outcome']}: {answer['message']}\n")
        refused += answer["outcome"] != "adopted"
    return 1 if refused else 0
