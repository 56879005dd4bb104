"""``ibbot smoke [--place-test-order] [--timeout S] [--out DIR]``: the paper-trading checklist.

Runs the checks of :mod:`ibbot.live.smoke` against the configured gateway (the embedded simulator
by default) and prints one line per check, ``PASS``/``FAIL``/``SKIP`` with its evidence. The run's
log (JSON lines) and a summary to keep as the documented test run go to ``--out`` (default
``<store.path>/smoke/<UTC time>/``), with the run's own data under ``data/`` there, apart from the
service's. Paper accounts only; ``--place-test-order`` buys one share of the first watchlist symbol
and sells it back. Exit code 0 only if every check passed.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ibbot.live.smoke import Check
    from ibbot.settings import Settings

__all__ = ["configure", "run"]

SUMMARY = "summary.md"
LOG = "smoke.log"


def _seconds(text: str) -> float:
    import argparse  # noqa: PLC0415

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """The options."""
    parser.add_argument(
        "--place-test-order",
        action="store_true",
        help="buy one share of the first watchlist symbol and sell it back (paper accounts only)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for market data, fundamentals and fills (default 60)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write smoke.log and summary.md"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the checks; print them; write the log and the summary; 0 only if all passed."""
    from ibbot.clock import utc_now  # noqa: PLC0415 - keeps `ibbot --help` fast
    from ibbot.eventloop import run_async  # noqa: PLC0415
    from ibbot.live.smoke import CheckStatus, run_smoke  # noqa: PLC0415
    from ibbot.logs import configure_logging  # noqa: PLC0415

    started = utc_now()
    out: Path = args.out or settings.store.path / "smoke" / f"{started:%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    chatty = logging.getLogger("ib_async")
    level = chatty.level
    with (out / LOG).open("w", encoding="utf-8") as log_file:
        configure_logging(
            settings.logging.level, "json", stream=log_file, secrets=settings.secret_values()
        )
        chatty.setLevel(logging.WARNING)
        try:
            checks = run_async(
                run_smoke(
                    settings,
                    store=out / "data",
                    place_test_order=args.place_test_order,
                    timeout=args.timeout,
                )
            )
        finally:
            chatty.setLevel(level)
    for check in checks:
        sys.stdout.write(check.line + "\n")
    passed = all(c.status is not CheckStatus.FAIL for c in checks)
    (out / SUMMARY).write_text(_summary(checks, settings, started, passed), encoding="utf-8")
    verdict = "all checks passed" if passed else "some checks FAILED"
    sys.stdout.write(f"{verdict}; log {out / LOG}, summary {out / SUMMARY}\n")
    return 0 if passed else 1


def _summary(checks: list[Check], settings: Settings, started: object, passed: bool) -> str:
    from ibbot import __version__  # noqa: PLC0415

    where = (
        "the embedded simulated gateway"
        if settings.ib.simulate
        else f"IB Gateway at {settings.ib.host}:{settings.ib.port}"
    )
    lines = [
        "# ibbot paper-trading smoke test",
        "",
        f"- started: {started}",
        f"- ibbot {__version__}, against {where}",
        f"- watchlist: {', '.join(settings.collector.watchlist)}",
        f"- result: {'PASS' if passed else 'FAIL'}",
        "",
        "| check | result | evidence |",
        "|---|---|---|",
        *(f"| {c.name} | {c.status.value} | {c.evidence.replace('|', '/')} |" for c in checks),
        "",
        f"The run's log is `{LOG}` beside this file (JSON lines, secrets masked).",
        "",
    ]
    return "\n".join(lines)
