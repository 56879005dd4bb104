"""``ibbot strategies available|new|list|add|remove``: the strategies a user can run, a new one to
write, and those of a running ``ibbot run``.

``available`` lists, offline, every shipped and configured strategy with its parameters
(:mod:`ibbot.commands.strategy_catalogue`); ``new NAME`` writes a documented strategy to start
from and its test, and configures it (:mod:`ibbot.commands.strategy_new`).

``list``, ``add`` and ``remove`` talk to the running service's control endpoint (loopback
HTTP/JSON, see :mod:`ibbot.live.control`), found through ``<store.path>/control.json``, with the
run's token from ``<store.path>/control.token``; run them with the same settings (``store.path``)
as the service, as the user that runs it (the token file is readable by that user only). ``add``
starts a strategy at once (its saved state restored, warmed up on stored history): a configured
strategy by its name alone, with its configured class, capital and params, which ``--param``
overrides (replacing the alternatives it names, e.g. ``quantity`` for the configured ``weight``);
any other with ``--class-path``. The params are validated here first when these settings can load
the class, so a bad one is one line naming it and the strategy's schema (exit 2); otherwise the
service validates them and says why it refuses. ``remove`` stops a strategy and saves its state
(its positions stay with the account). Exit code 1 when no service runs or it refuses the request
(the reason is printed).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Final

from ibbot.commands.control_client import control_request as _request
from ibbot.commands.usage import usage_error

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["configure", "run"]

_DEFAULT_CAPITAL: Final = 10_000.0


def configure(parser: argparse.ArgumentParser) -> None:
    """The actions and their arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "available",
        help="the shipped and configured strategies with their parameters (offline)",
    )
    new = actions.add_parser(
        "new", help="write a documented strategy to start from, its test, and its settings entry"
    )
    new.add_argument("name", help="its name: lowercase letters, digits and '_' (e.g. breakout)")
    new.add_argument(
        "--capital", type=float, default=100_000.0, help="allocated capital in USD (default 100000)"
    )
    new.add_argument(
        "--no-register",
        dest="register",
        action="store_false",
        help="write the files only; leave the settings file alone",
    )
    actions.add_parser("list", help="the running strategies, their state and counters")
    add = actions.add_parser("add", help="start a strategy in the running service")
    add.add_argument(
        "name",
        help="the strategy's name (letters, digits, '_', '-'); a configured one needs nothing more",
    )
    add.add_argument(
        "--class-path",
        help="its class, e.g. ibbot.strategies.sma_cross.SmaCrossStrategy (or a shipped name); "
        "default: the configured strategy's",
    )
    add.add_argument(
        "--capital",
        type=float,
        help=f"allocated capital in USD (default: the configured one, else {_DEFAULT_CAPITAL:g})",
    )
    add.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable), over the configured ones; VALUE is JSON when it parses, "
        "e.g. --param fast=5",
    )
    remove = actions.add_parser("remove", help="stop a running strategy (its state is saved)")
    remove.add_argument("name")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the action: offline for ``available`` and ``new``, against the service otherwise."""
    if args.action == "available":
        from ibbot.commands.output import stdout_console  # noqa: PLC0415 - keeps --help fast
        from ibbot.commands.strategy_catalogue import catalogue, print_catalogue  # noqa: PLC0415

        print_catalogue(catalogue(settings), stdout_console())
        return 0
    if args.action == "new":
        from ibbot.commands.strategy_new import run_new  # noqa: PLC0415

        return run_new(args, settings)
    from ibbot.live.control import read_control_file  # noqa: PLC0415

    if args.action == "add":
        body = _addition(args, settings)
        if isinstance(body, int):
            return body
        answer = _request(read_control_file(settings.store.path), "POST", "/strategies", body)
        sys.stdout.write(f"added {answer['added']}\n")
        return 0
    endpoint = read_control_file(settings.store.path)
    if args.action == "list":
        return _list(_request(endpoint, "GET", "/status"))
    answer = _request(endpoint, "DELETE", f"/strategies/{args.name}")
    sys.stdout.write(f"removed {answer['removed']}\n")
    return 0


def _addition(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | int:
    """The ``[[strategies]]`` entry to add, validated here; or the usage exit code, said why."""
    from ibbot.backtest.errors import BacktestInputError  # noqa: PLC0415 - keeps --help fast
    from ibbot.backtest.inputs import parse_param  # noqa: PLC0415
    from ibbot.errors import ConfigError  # noqa: PLC0415
    from ibbot.strategies import (  # noqa: PLC0415
        override_params,
        params_model,
        resolve_class_path,
        validate_params,
    )

    overrides: dict[str, Any] = {}
    try:
        for text in args.param:
            _, key, value = parse_param(f"{args.name}.{text}")
            overrides[key] = value
    except BacktestInputError:
        return usage_error(f"--param: expected KEY=VALUE (e.g. fast=5), got {text!r}")
    configured = next((s for s in settings.strategies if s.name == args.name), None)
    if args.class_path is not None:
        class_path = resolve_class_path(args.class_path)
    elif configured is not None:
        class_path = resolve_class_path(configured.class_path)
    else:
        names = ", ".join(s.name for s in settings.strategies) or "none"
        return usage_error(
            f"strategies add {args.name}: give --class-path, or the name of a configured "
            f"strategy (configured: {names})"
        )
    same = configured is not None and resolve_class_path(configured.class_path) == class_path
    base = dict(configured.params) if same and configured is not None else {}
    try:
        model = params_model(class_path, sources=settings.app.strategy_sources())
    except ConfigError:
        model = None  # not loadable with these settings: the service decides, and says why
    params = override_params(model, base, overrides)
    if model is not None:
        validate_params(model, params, strategy=args.name)  # a ConfigError: one line, exit 2
    capital = args.capital
    if capital is None:
        capital = configured.allocated_capital if same and configured else _DEFAULT_CAPITAL
    return {
        "name": args.name,
        "class_path": class_path,
        "allocated_capital": capital,
        "params": params,
    }


def _list(status: dict[str, Any]) -> int:
    from rich.table import Table  # noqa: PLC0415

    from ibbot.commands.output import stdout_console  # noqa: PLC0415

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
    stdout_console().print(table)
    return 0
