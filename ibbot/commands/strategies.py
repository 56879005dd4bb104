"""``ibbot strategies list|add|remove``: look at and change the strategies of a running ``ibbot run``.

It talks to the running service's control endpoint (loopback HTTP/JSON, see
:mod:`ibbot.live.control`), found through ``<store.path>/control.json``, with the run's token from
``<store.path>/control.token``; run it with the same settings (``store.path``) as the service, as
the user that runs it (the token file is readable by that user only). ``add`` starts a strategy at
once (its saved state restored, warmed up on stored history), ``remove`` stops one and saves its
state (its positions stay with the account). Exit code 1 when no service runs or it refuses the
request (the reason is printed).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ibbot.commands.control_client import control_request as _request
from ibbot.commands.usage import usage_error

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """The actions and their arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the running strategies, their state and counters")
    add = actions.add_parser("add", help="start a strategy in the running service")
    add.add_argument("name", help="the new strategy's name (letters, digits, '_', '-')")
    add.add_argument(
        "--class-path",
        required=True,
        help="its class, e.g. ibbot.strategies.sma_cross.SmaCrossStrategy (or a shipped name)",
    )
    add.add_argument(
        "--capital", type=float, default=10_000.0, help="allocated capital in USD (default 10000)"
    )
    add.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable); VALUE is JSON when it parses, e.g. --param fast=5",
    )
    remove = actions.add_parser("remove", help="stop a running strategy (its state is saved)")
    remove.add_argument("name")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Send the request and print the answer."""
    from ibbot.backtest.errors import BacktestInputError  # noqa: PLC0415 - keeps --help fast
    from ibbot.backtest.inputs import parse_param  # noqa: PLC0415
    from ibbot.live.control import read_control_file  # noqa: PLC0415
    from ibbot.strategies import resolve_class_path  # noqa: PLC0415

    endpoint = read_control_file(settings.store.path)
    if args.action == "list":
        return _list(_request(endpoint, "GET", "/status"))
    if args.action == "remove":
        answer = _request(endpoint, "DELETE", f"/strategies/{args.name}")
        sys.stdout.write(f"removed {answer['removed']}\n")
        return 0
    params: dict[str, Any] = {}
    try:
        for text in args.param:
            _, key, value = parse_param(f"{args.name}.{text}")
            params[key] = value
    except BacktestInputError:
        return usage_error(f"--param: expected KEY=VALUE (e.g. fast=5), got {text!r}")
    body = {
        "name": args.name,
        "class_path": resolve_class_path(args.class_path),
        "allocated_capital": args.capital,
        "params": params,
    }
    answer = _request(endpoint, "POST", "/strategies", body)
    sys.stdout.write(f"added {answer['added']}\n")
    return 0


def _list(status: dict[str, Any]) -> int:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"strategies ({status.get('state', '?')})")
    for column in ("name", "state", "class", "events", "decisions", "failures", "positions"):
        table.add_column(column)
    positions = status.get("positions", {})
    for name, info in sorted(status.get("strategies", {}).items()):
        held = ", ".join(f"{s} {q:+g}" for s, q in sorted(positions.get(name, {}).items()))
        table.add_row(
            name,
            info["state"],
            info["class_path"].rpartition(".")[2],
            str(info["events"]),
            str(info["decisions"]),
            str(info["failures"]),
            held or "-",
        )
    Console().print(table)
    return 0
