"""``ibbot store copy --from DIR_OR_DSN --to DIR_OR_DSN``: move a whole store between backends.

Either side is a store directory or a ``postgresql://`` DSN (a password can also come from
libpq's ``PGPASSWORD`` or ``~/.pgpass``; it is never printed). The copy is resumable (run it again
after an interruption: what the destination holds is skipped, see :mod:`ibbot.store.transfer`),
shows a progress bar, and ends by comparing both stores (counts and SHA-256 checksums of the bars,
every other record): exit 0 when they match, 1 when they do not, 2 for bad arguments.

:func:`add_copy` adds ``copy`` to the ``store`` command group (:mod:`ibbot.commands.store`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ibbot.commands.usage import usage_error

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["add_copy", "run_copy"]


def add_copy(subcommands: Any) -> None:
    """Add ``copy`` to a ``store`` group's subparsers."""
    parser = subcommands.add_parser(
        "copy",
        help="copy a whole store between a directory and a PostgreSQL database (resumable)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--from", dest="source", required=True, metavar="DIR_OR_DSN")
    parser.add_argument("--to", dest="target", required=True, metavar="DIR_OR_DSN")
    parser.set_defaults(store_run=run_copy)


def _describe(location: str) -> str:
    from ibbot.store.postgres.connection import describe_dsn, is_dsn  # noqa: PLC0415

    return describe_dsn(location) if is_dsn(location) else location


def run_copy(args: argparse.Namespace, settings: Settings) -> int:
    """Copy ``--from`` into ``--to``, then verify; 1 when the stores differ afterwards."""
    del settings  # both stores are named on the command line
    from rich.console import Console  # noqa: PLC0415 - keeps `ibbot --help` fast
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: PLC0415

    from ibbot.store.factory import open_store_at  # noqa: PLC0415
    from ibbot.store.transfer import copy_store, plan_copy, verify  # noqa: PLC0415

    source_name, target_name = _describe(args.source), _describe(args.target)
    if args.source.strip() == args.target.strip():
        return usage_error("ibbot store copy: --from and --to name the same store")
    console = Console(stderr=True)
    with open_store_at(args.source) as source, open_store_at(args.target) as target:
        plan = plan_copy(source)
        console.print(f"copying {source_name} -> {target_name}: {plan.total} units")
        with Progress(
            TextColumn("{task.description:<40}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("starting", total=plan.total)

            def advance(what: str) -> None:
                progress.update(task, advance=1, description=what[:40])

            copied = copy_store(source, target, plan, advance=advance)
        target.flush()
        mismatches = verify(source, target)
    skipped = len(plan.pieces) - copied
    sys.stdout.write(
        f"copied {source_name} -> {target_name}: {len(plan.pieces)} pieces of bars "
        f"({skipped} already there), {len(plan.contracts)} contracts, fundamentals of "
        f"{len(plan.fundamentals)} symbols, {len(plan.states)} states, {len(plan.audit)} audit "
        f"kinds, {sum(map(len, plan.event_days.values()))} events\n"
    )
    if mismatches:
        for mismatch in mismatches:
            sys.stdout.write(
                f"  MISMATCH {mismatch.what}: {mismatch.source} != {mismatch.target}\n"
            )
        sys.stdout.write("verification FAILED: the stores differ (see above)\n")
        return 1
    sys.stdout.write("verified: counts and checksums match\n")
    return 0
