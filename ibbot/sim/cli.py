"""``ibbot sim``: run the simulated gateway standalone until SIGINT/SIGTERM.

Prints one line with the listening addresses, then serves any TWS API client (ib_async, IB's own
``ibapi``, ...) on the API port and the control interface on the control port. Binds to loopback
unless ``--allow-remote`` is given: the gateway has no authentication, like TWS with "Allow
connections from localhost only".
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from ibbot.errors import ConfigError
from ibbot.sim.config import SimConfig

if TYPE_CHECKING:
    from collections.abc import Callable

if TYPE_CHECKING:
    import argparse

__all__ = ["add_sim_arguments", "build_config", "run_sim", "serve"]


def add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``ibbot sim`` options to ``parser``."""
    defaults = SimConfig()
    parser.add_argument(
        "--host", default=defaults.host, help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.port,
        help="TWS API port (default: %(default)s; 0 = any free)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=0,
        help="control interface port (default: any free port, printed at start)",
    )
    parser.add_argument(
        "--no-control", action="store_true", help="run without the control interface"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="market seed (default: %(default)s)"
    )
    parser.add_argument(
        "--symbols",
        nargs="*",
        default=[],
        metavar="SYMBOL",
        help="restrict the universe (space- or comma-separated; default: all simulated stocks)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="simulated seconds per wall-clock second (default: %(default)s)",
    )
    parser.add_argument(
        "--start",
        default=None,
        help="simulated start instant, ISO 8601 with a zone, e.g. 2026-03-02T14:30:00+00:00 "
        "(default: now)",
    )
    parser.add_argument(
        "--account", default=defaults.account, help="account code (default: %(default)s)"
    )
    parser.add_argument(
        "--unavailable-fundamentals",
        nargs="*",
        default=[],
        metavar="ENTRY",
        help="SYMBOL, ReportType or SYMBOL:ReportType answered with error 430",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    parser.add_argument(
        "--strict-pacing",
        action="store_true",
        help="apply IB's small-bar historical pacing rules (60 per 10 minutes, ...) to every bar "
        "size, as IB did before lifting them for bars of 1 minute and more",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="open API connections at most; more are closed at once (default: %(default)s, as IB)",
    )
    parser.add_argument(
        "--max-buffered-bytes",
        type=int,
        default=defaults.max_buffered_bytes,
        help="bytes of incomplete requests buffered across all connections; past it the "
        "connections holding the most are dropped (default: %(default)s)",
    )
    parser.add_argument(
        "--frame-timeout",
        type=float,
        default=defaults.frame_timeout,
        help="seconds a started request frame has to arrive whole (default: %(default)s)",
    )


def build_config(args: argparse.Namespace) -> SimConfig:
    """The :class:`SimConfig` the parsed options describe (raises :class:`ConfigError`)."""
    start: datetime | None = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError as exc:
            raise ConfigError("sim.start", args.start, "not an ISO 8601 date-time") from exc
    symbols = tuple(s.upper() for item in args.symbols for s in item.split(",") if s.strip())
    unavailable = tuple(e for item in args.unavailable_fundamentals for e in item.split(",") if e)
    return SimConfig(
        host=args.host,
        port=args.port,
        control_port=None if args.no_control else args.control_port,
        seed=args.seed,
        time_scale=args.time_scale,
        start=start,
        symbols=symbols,
        unavailable_fundamentals=unavailable,
        account=args.account,
        allow_remote=args.allow_remote,
        strict_pacing=args.strict_pacing,
        max_connections=args.max_connections,
        max_buffered_bytes=args.max_buffered_bytes,
        frame_timeout=args.frame_timeout,
        # A restarted gateway is a new session: its execIds must not repeat the last one's.
        session=secrets.token_hex(8),
    )


def run_sim(args: argparse.Namespace) -> int:
    """Run the gateway until SIGINT/SIGTERM; 0 on a clean stop, 2 on a configuration error."""
    try:
        config = build_config(args)
        asyncio.run(_until_signalled(config))
    except ConfigError as exc:
        print(f"ibbot sim: {exc}", file=sys.stderr)  # noqa: T201 - the command's own output
        return 2
    return 0


async def _until_signalled(config: SimConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(sig, stop.set)
    try:
        await serve(config, stop)
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


async def serve(
    config: SimConfig, stop: asyncio.Event, announce: Callable[[str], None] | None = None
) -> None:
    """Run a gateway until ``stop`` is set, announcing its addresses in one line (default: stdout)."""
    from ibbot.sim.gateway import SimulatedGateway  # noqa: PLC0415 - keep `ibbot --help` fast

    async with SimulatedGateway(config) as gateway:
        control = (
            f"http://{gateway.control_host}:{gateway.control_port}/"
            if gateway.control_port is not None
            else "off"
        )
        line = (
            f"ibbot sim: TWS API on {config.host}:{gateway.port}, control {control} "
            f"(account {config.account}, seed {config.seed}, time scale {config.time_scale:g})"
        )
        if announce is None:
            print(line, flush=True)  # noqa: T201 - the one line the command prints
        else:
            announce(line)
        await stop.wait()
