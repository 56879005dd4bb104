"""``ibbot kill [--reason TEXT]`` and ``ibbot kill --release``: the global kill switch, from a shell.

Engaging creates ``risk.kill_switch_file`` (the reason and the time inside, for whoever looks); a
running ``ibbot run`` notices within a second, refuses every new order (each refusal audited with
the rule ``kill_switch``) and, when ``risk.cancel_open_orders_on_kill`` is true, cancels the orders
still open. The file works without a running service too: anything that starts while it exists
sends nothing. ``--release`` removes it; trading resumes with the next decision.

It works on the file, not through the control endpoint, so it needs no token: who may engage or
release the switch is who may write ``risk.kill_switch_file``'s directory, and it still works when
the service is hung or not running.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """``--release`` and ``--reason``."""
    parser.add_argument(
        "--release", action="store_true", help="remove the kill switch file: trading may resume"
    )
    parser.add_argument(
        "--reason", default="engaged with `ibbot kill`", help="written into the file"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create or remove the kill switch file; say what that does."""
    from ibbot.clock import utc_now  # noqa: PLC0415 - keeps `ibbot --help` fast
    from ibbot.errors import IbbotError  # noqa: PLC0415

    path = settings.risk.kill_switch_file
    try:
        if args.release:
            if not path.exists():
                sys.stdout.write(f"kill switch not engaged ({path} does not exist)\n")
                return 0
            path.unlink()
            sys.stdout.write(f"kill switch released: removed {path}; new orders may be sent\n")
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{utc_now().isoformat()} {args.reason}\n", encoding="utf-8")
    except OSError as exc:
        raise IbbotError(f"cannot change the kill switch file {path}: {exc}") from exc
    cancels = (
        "open orders are cancelled"
        if settings.risk.cancel_open_orders_on_kill
        else "open orders are left working (risk.cancel_open_orders_on_kill is false)"
    )
    if settings.risk.cancel_open_orders_on_kill and settings.risk.keep_protective_orders_on_kill:
        cancels += " (protective stop-loss, take-profit and trailing orders stay working)"
    sys.stdout.write(
        f"kill switch engaged: {path} exists; no new order is sent and {cancels}. "
        "Release with `ibbot kill --release`.\n"
    )
    return 0
