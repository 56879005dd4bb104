"""``ibbot backfill-fundamentals SYMBOL... [--source sec] [--rewrite]``: fill the fundamentals history.

For each symbol the configured sources (``fundamentals.sources``, or only ``--source``) are asked in
order; the first that answers has its point-in-time records stored under ``data/fundamentals/``,
where backtests read them without look-ahead. Asking IB (``ib`` among the sources) connects to the
configured gateway, or to the embedded simulator with ``ib.simulate``, as ``ibbot backfill`` does;
an unreachable gateway is one line and exit code 1. A progress bar runs on stderr; a table of per-symbol
results follows on stdout. Exit code 0 when every symbol got fundamentals, 1 when some did not
(each with its reason), 2 for bad settings (e.g. the SEC source without ``sec_user_agent``).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from rich.console import Console

    from ibbot.fundamentals import FundamentalsOutcome, FundamentalsSource
    from ibbot.settings import Settings

__all__ = ["configure", "run"]

IB_SOURCE: Final = "ib"
_SOURCES = (IB_SOURCE, "sec")


def configure(parser: argparse.ArgumentParser) -> None:
    """Symbols, and which source to ask."""
    parser.add_argument("symbols", nargs="+", metavar="SYMBOL", help="symbols to backfill")
    parser.add_argument(
        "--source",
        choices=_SOURCES,
        help="ask only this source (default: fundamentals.sources, in order)",
    )
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="store the whole history again, not only records newer than those stored "
        "(e.g. to add ratios after prices were backfilled)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Backfill the symbols; see the module docstring for the exit codes."""
    from ibbot.commands.output import stdout_console  # noqa: PLC0415 - keeps `ibbot --help` fast
    from ibbot.eventloop import run_async  # noqa: PLC0415
    from ibbot.logs import log_console  # noqa: PLC0415

    symbols = list(dict.fromkeys(symbol.strip().upper() for symbol in args.symbols))
    return run_async(
        backfill(
            symbols,
            settings,
            source=args.source,
            rewrite=args.rewrite,
            console=stdout_console(),
            progress_console=log_console(),
        )
    )


async def backfill(
    symbols: Sequence[str],
    settings: Settings,
    *,
    source: str | None,
    rewrite: bool,
    console: Console,
    progress_console: Console,
) -> int:
    """Refresh every symbol from the sources, with a progress bar; print the results."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ibbot.clock import WallClock  # noqa: PLC0415
    from ibbot.fundamentals import FundamentalsService, open_sources  # noqa: PLC0415
    from ibbot.runs import new_run_id  # noqa: PLC0415
    from ibbot.store import AsyncStore  # noqa: PLC0415
    from ibbot.store.factory import open_store  # noqa: PLC0415

    clock = WallClock()
    run_id = new_run_id(clock.now())
    names = [source] if source is not None else list(settings.fundamentals.sources)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(
            AsyncStore(open_store(settings.store, clock=clock, run_id=run_id))
        )
        provided: dict[str, FundamentalsSource] = {}
        if IB_SOURCE in names:  # IB's snapshot needs a gateway connection; SEC only HTTP
            from ibbot.broker.fundamentals_source import IBFundamentalsSource  # noqa: PLC0415
            from ibbot.broker.jobs import paced_requests  # noqa: PLC0415

            requests, market = await stack.enter_async_context(
                paced_requests(settings, run_id=run_id)
            )
            provided[IB_SOURCE] = IBFundamentalsSource(requests, store, market)
        sources = await stack.enter_async_context(
            open_sources(
                settings.fundamentals, store=store, clock=clock, names=names, provided=provided
            )
        )
        service = FundamentalsService(sources, store, clock=clock)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=progress_console,
        ) as progress:
            task = progress.add_task("fundamentals", total=len(symbols))

            def advance(outcome: FundamentalsOutcome) -> None:
                progress.update(task, advance=1, description=f"{outcome.symbol}: {outcome.status}")

            outcomes = await service.refresh_all(symbols, rewrite=rewrite, on_outcome=advance)
    _report(outcomes, console)
    return 0 if all(outcome.source is not None for outcome in outcomes) else 1


def _report(outcomes: Sequence[FundamentalsOutcome], console: Console) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="fundamentals backfill")
    for column in ("symbol", "result", "source", "stored", "latest known", "reason"):
        table.add_column(column)
    for outcome in outcomes:
        latest = outcome.latest
        table.add_row(
            outcome.symbol,
            outcome.status.value,
            outcome.source or "-",
            str(outcome.stored),
            "-" if latest is None else latest.timestamp.strftime("%Y-%m-%d %H:%M UTC"),
            outcome.reason,
        )
    console.print(table)
