"""The ``ibbot`` command: parse the command line, load the settings, configure logging, run one command.

``ibbot [global options] [COMMAND [options]]``; without a command it runs ``run``, the main job
(and the options given are ``run``'s: ``ibbot --duration 60``).
Global options (accepted before or after the command): ``--config PATH`` (a TOML settings file, or a
YAML one in the plan's schema), ``--set SECTION.KEY=VALUE`` (repeatable), ``--log-level``,
``--log-format``, and ``--version``.

Exit codes: 0 success; 1 runtime failure; 2 invalid settings or command-line usage (one line on
stderr, no traceback); 130 interrupted (Ctrl-C).

Adding a command
    Write its module outside this one, with ``run(args, settings) -> int`` and, if the command has
    options, ``configure(parser) -> None`` (it adds arguments to the command's own parser). Then add
    one entry to :data:`COMMANDS`, which stays sorted by name::

        Command("sim", "run the simulated IB Gateway", run=sim_cli.run, configure=sim_cli.configure)

    ``run`` receives the parsed arguments and the loaded, validated :class:`~ibbot.settings.Settings`;
    logging is configured already. An async command returns ``run_async(its_coroutine)`` (see
    :mod:`ibbot.eventloop`). Raise :class:`~ibbot.errors.ConfigError` for a bad setting (exit 2) and
    another :class:`~ibbot.errors.IbbotError` for a failure (exit 1); both print one line. The
    module is imported on every invocation, ``--help`` included: import heavy libraries inside ``run``
    (``configure`` runs only for the command named on the command line).

The process itself (console script, ``python -m ibbot``) goes through :func:`entry`, which freezes
the heap once :func:`main` returned so the interpreter's exit does not walk it.

This module parses and dispatches; it holds no wiring.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

import ibbot
from ibbot.broker import commands as broker_commands
from ibbot.commands import audit as audit_command
from ibbot.commands import backfill_fundamentals
from ibbot.commands import backtest as backtest_command
from ibbot.commands import config as config_command
from ibbot.commands import import_bars as import_bars_command
from ibbot.commands import kill as kill_command
from ibbot.commands import positions as positions_command
from ibbot.commands import reconcile as reconcile_command
from ibbot.commands import run as run_command
from ibbot.commands import sim as sim_command
from ibbot.commands import smoke as smoke_command
from ibbot.commands import store as store_command
from ibbot.commands import strategies as strategies_command
from ibbot.commands import sweep as sweep_command

if TYPE_CHECKING:
    from collections.abc import Sequence

    # dataclasses never evaluate annotations, and a runtime import would load pydantic on --help
    from ibbot.settings import LogLevel, Settings  # noqa: TC004

__all__ = [
    "COMMANDS",
    "DEFAULT_COMMAND",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "build_parser",
    "entry",
    "main",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, what shells report for Ctrl-C

PROG: Final = "ibbot"
DEFAULT_COMMAND: Final = "run"
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS: Final = ("auto", "console", "json")


@dataclass(frozen=True, slots=True)
class Command:
    """One ``ibbot`` subcommand: its name, one-line help, what it runs, and its own options.

    ``log_level``, when set, is the command's log level unless ``--log-level`` is given, whatever
    the settings say: ``check`` is the container's health probe and must print one line.
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace, Settings], int]
    configure: Callable[[argparse.ArgumentParser], None] | None = None
    log_level: LogLevel | None = None


COMMANDS: Final[tuple[Command, ...]] = (
    Command(
        "audit",
        "print the audit trail: decisions (with reasoning), orders, fills, blocked orders",
        run=audit_command.run,
        configure=audit_command.configure,
    ),
    Command(
        "backfill",
        "fetch the history the store lacks for SYMBOL... (resumable, paced)",
        run=broker_commands.run_backfill,
        configure=broker_commands.add_backfill_arguments,
    ),
    Command(
        "backfill-fundamentals",
        "fill the point-in-time fundamentals history of symbols (SEC EDGAR or IB)",
        run=backfill_fundamentals.run,
        configure=backfill_fundamentals.configure,
    ),
    Command(
        "backtest",
        "replay stored bars through the strategies and write a report",
        run=backtest_command.run,
        configure=backtest_command.configure,
    ),
    Command(
        "check",
        "connect to the configured gateway: exit 0 when it is ready, else say why and exit 1",
        run=broker_commands.run_check,
        configure=broker_commands.add_check_arguments,
        log_level="WARNING",
    ),
    Command(
        "config",
        "show the effective settings (secrets redacted) or check that they are valid",
        run=config_command.run,
        configure=config_command.configure,
    ),
    Command(
        "import-bars",
        "load OHLCV bars from a CSV file into the store",
        run=import_bars_command.run,
        configure=import_bars_command.configure,
    ),
    Command(
        "kill",
        "engage the kill switch (no new orders; open ones cancelled), or --release it",
        run=kill_command.run,
        configure=kill_command.configure,
    ),
    Command(
        "positions",
        "each strategy's positions, average cost, realized and unrealized P&L, equity (offline)",
        run=positions_command.run,
        configure=positions_command.configure,
    ),
    Command(
        "reconcile",
        "show the halted symbols of a running `ibbot run`, or --adopt the broker's position in one",
        run=reconcile_command.run,
        configure=reconcile_command.configure,
    ),
    Command(
        DEFAULT_COMMAND,
        "run the main job: collect, run the strategies, trade (the default command)",
        run=run_command.run,
        configure=run_command.configure,
    ),
    Command(
        "sim",
        "run the simulated IB Gateway (TWS API) standalone, for any TWS API client",
        run=sim_command.run,
        configure=sim_command.configure,
    ),
    Command(
        "smoke",
        "the paper-trading checklist against the configured gateway: PASS/FAIL per check",
        run=smoke_command.run,
        configure=smoke_command.configure,
    ),
    Command(
        "store",
        "the store: migrate a legacy bar layout, show files per bar size, or copy it between a "
        "directory and PostgreSQL",
        run=store_command.run,
        configure=store_command.configure,
    ),
    Command(
        "strategies",
        "the strategies available (offline), a new one to write, or list/add/remove those of a "
        "running `ibbot run`",
        run=strategies_command.run,
        configure=strategies_command.configure,
    ),
    Command(
        "sweep",
        "backtest a strategy over a grid or a random sample of its parameters, on Ray",
        run=sweep_command.run,
        configure=sweep_command.configure,
    ),
)


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        sys.stdout.write(f"{PROG} {ibbot.__version__}\n")  # where argparse's version goes
        parser.exit()


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The parser for the whole command line, with one subparser per entry of :data:`COMMANDS`.

    With ``only``, that command alone gets its options (:func:`main` names the one on the command
    line): the others are listed with their help, and what their options need (the simulator's
    for ``sim``) is not imported by a run of another command.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="An asyncio-native trading service for Interactive Brokers.",
        epilog=f"Without a command, {PROG} runs '{DEFAULT_COMMAND}'.",
    )
    parser.add_argument("--version", action=_VersionAction)
    _add_global_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        _add_global_options(sub, top_level=False)
        if command.configure is not None and only in (None, command.name):
            command.configure(sub)
        sub.set_defaults(handler=command.run, command_log_level=command.log_level)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    # On a command's parser the defaults are suppressed, so an option given before the command is
    # not reset by the command's parser; `--set` collects into its own list there (argparse would
    # otherwise replace the top-level list with the command's).
    default = None if top_level else argparse.SUPPRESS
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=default,
        help="settings file: TOML, or YAML in the plan's schema (default: ./settings.toml if present)",
    )
    group.add_argument(
        "--set",
        dest="overrides" if top_level else "command_overrides",
        action="append",
        type=_override,
        default=[] if top_level else argparse.SUPPRESS,
        metavar="SECTION.KEY=VALUE",
        help="override one setting, above env vars and files (repeatable), e.g. --set ib.port=4002",
    )
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LOG_LEVELS,
        default=default,
        help="log level (overrides logging.level)",
    )
    group.add_argument(
        "--log-format",
        choices=_LOG_FORMATS,
        default=default,
        help="log rendering: auto (console on a terminal, JSON otherwise), console or json",
    )


def _override(text: str) -> tuple[str, str]:
    from ibbot.settings import parse_override  # noqa: PLC0415 - keeps `ibbot --help` fast

    try:
        return parse_override(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    pairs: list[tuple[str, str]] = [*args.overrides, *getattr(args, "command_overrides", [])]
    overrides = dict(pairs)
    if args.log_level is not None:
        overrides["logging.level"] = args.log_level
    if args.log_format is not None:
        overrides["logging.format"] = args.log_format
    return overrides


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    if _named_command(argv) is None and not _TOP_LEVEL_ONLY.intersection(argv):
        # No command: what was given belongs to the default command (global options are accepted
        # after a command too), so `ibbot --duration 60` is `ibbot run --duration 60`.
        argv = [DEFAULT_COMMAND, *argv]
    return parser.parse_args(argv)


# Global options that take a value (the value is never a command name), and the options that only
# the top level answers.
_VALUED_OPTIONS: Final = frozenset({"--config", "--set", "--log-level", "--log-format"})
_TOP_LEVEL_ONLY: Final = frozenset({"-h", "--help", "--version"})


def _named_command(argv: list[str]) -> str | None:
    """The first positional word of ``argv`` when it is a command's name, else None."""
    names = {command.name for command in COMMANDS}
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _VALUED_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            return token if token in names else None
    return None


def _detach_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout replaced by an object without a descriptor (tests)
        pass


def _say(message: str) -> None:
    """One line on stderr, for the user (logging may not be configured yet)."""
    sys.stderr.write(f"{PROG}: {message}\n")


def entry() -> NoReturn:
    """The ``ibbot`` process (console script and ``python -m ibbot``): :func:`main`, then exit.

    The command is done when :func:`main` returns: its files are closed (written through
    ``atomic_write``), logging is reset and flushed. What is left is the interpreter's
    finalisation, whose full collections would walk every object the imports and the command left
    (about 0.1 s after a backtest) to find nothing that needs finalising; frozen, they are skipped,
    and the memory goes back with the process. In-process callers (tests) use :func:`main`, so
    their heap is never frozen.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``ibbot`` command line; returns the exit code, never raises SystemExit."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_named_command(arguments) or DEFAULT_COMMAND)
    try:
        args = _parse(parser, arguments)
    except SystemExit as exc:  # argparse's --help and --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _run(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `ibbot audit | head`: the reader has what it wanted; end quietly, as other tools do.
        _detach_stdout()
        return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    # Imported here, not at the top, so `ibbot --help` and `--version` do not load pydantic and pyarrow.
    import structlog  # noqa: PLC0415

    from ibbot.errors import ConfigError, IbbotError  # noqa: PLC0415
    from ibbot.logs import configure_logging, reset_logging  # noqa: PLC0415
    from ibbot.settings import load_settings  # noqa: PLC0415

    try:
        settings = load_settings(config_file=args.config, overrides=_overrides(args))
    except ConfigError as exc:
        _say(str(exc))
        return EXIT_USAGE
    level = settings.logging.level
    if args.log_level is None and args.command_log_level is not None:
        level = args.command_log_level
    configure_logging(level, settings.logging.format, secrets=settings.secret_values())
    try:
        code: int = args.handler(args, settings)
    except ConfigError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except IbbotError as exc:
        _say(f"error: {exc}")
        return EXIT_FAILURE
    except BrokenPipeError:
        raise  # the reader of stdout went away: not a crash (see main)
    except Exception:  # noqa: BLE001 - the last resort: log any crash and exit 1
        # A bug, not a known failure: keep the traceback (the log redactor masks secrets in it).
        structlog.get_logger(__name__).exception("cli.command_crashed", command=args.command)
        return EXIT_FAILURE
    finally:
        reset_logging()
    return code
