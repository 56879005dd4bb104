"""The work behind ``ibbot check`` and ``ibbot backfill`` (see :mod:`ibbot.broker.commands`).

Both talk to the configured Gateway, or, with ``ib.simulate`` on (the default), to a simulated
gateway started in-process for the command on a private loopback port (:mod:`ibbot.gateway`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from ibbot.broker.backfill import Backfill, BackfillChunk
from ibbot.broker.connection import ConnectionConfig, IBConnection
from ibbot.broker.requests import IBRequests, RequestPolicy, safe_pacing_rules
from ibbot.clock import Clock, WallClock
from ibbot.errors import ConnectionFailed, RequestFailed
from ibbot.gateway import open_gateway
from ibbot.runs import new_run_id

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator

    from rich.progress import Progress, TaskID

    from ibbot.broker.ports import BrokerStore
    from ibbot.models import BarSize, ContractInfo, WhatToShow
    from ibbot.settings import Settings

__all__ = ["CHECK_CLIENT_ID_OFFSET", "backfill", "check", "paced_requests"]

# `ibbot check` connects with its own client id (ib.client_id + this), so probing a Gateway the
# service is connected to does not collide with the service's id (IB error 326).
CHECK_CLIENT_ID_OFFSET: Final = 100


# ---------------------------------------------------------------------- ibbot check


async def check(args: argparse.Namespace, settings: Settings) -> int:
    """Connect to the gateway; 0 and a summary line when ready, else 1 and one line why."""
    # A probe's failure is the one line below; ib_async's own error records would repeat it.
    ib_logger = logging.getLogger("ib_async")
    level = ib_logger.level
    ib_logger.setLevel(logging.CRITICAL)
    try:
        return await _check(args, settings)
    finally:
        ib_logger.setLevel(level)


async def _check(args: argparse.Namespace, settings: Settings) -> int:
    client_id = args.client_id
    if client_id is None:
        client_id = settings.ib.client_id + CHECK_CLIENT_ID_OFFSET
    async with open_gateway(settings) as target:
        config = replace(  # a probe never touches orders
            ConnectionConfig.from_settings(
                settings.ib, host=target.host, port=target.port, client_id=client_id
            ),
            readonly=True,
        )
        connection = IBConnection(config, clock=WallClock(), market_clock=target.market_clock)
        try:
            async with connection:
                summary = _ready_line(connection, settings, simulated=target.embedded)
        except ConnectionFailed as exc:
            sys.stderr.write(f"ibbot check: not ready: {exc}\n")
            return 1
    sys.stdout.write(summary + "\n")
    return 0


def _ready_line(connection: IBConnection, settings: Settings, *, simulated: bool) -> str:
    cfg = connection.config
    kind = "paper" if connection.is_paper else "LIVE"
    trading = ""
    if not connection.is_paper:
        trading = (
            "; live trading enabled"
            if settings.ib.allow_live_trading
            else "; orders will be refused (ib.allow_live_trading is false)"
        )
    where = "simulated gateway" if simulated else "IB Gateway"
    return (
        f"ready: {where} at {cfg.host}:{cfg.port}, server version "
        f"{connection.ib.client.serverVersion()}, {len(connection.accounts)} {kind} account(s), "
        f"state {connection.state.value}{trading}"
    )


# ---------------------------------------------------------------------- ibbot backfill


async def backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch what the store lacks of each symbol's history; 1 if anything failed."""
    from ibbot.store import AsyncStore  # noqa: PLC0415 - keeps --help fast
    from ibbot.store.factory import open_store  # noqa: PLC0415

    run_id = new_run_id(WallClock().now())
    async with (
        paced_requests(settings, run_id=run_id) as (requests, market),
        AsyncStore(open_store(settings.store, clock=market, run_id=run_id)) as store,
    ):
        return await _backfill_symbols(args, settings, requests, store, market)


@asynccontextmanager
async def paced_requests(
    settings: Settings, *, run_id: str | None = None
) -> AsyncIterator[tuple[IBRequests, Clock]]:
    """Paced requests over a connection to the configured gateway (or an embedded simulator), and
    the market's clock: what one-off commands (``backfill``, ``backfill-fundamentals``) ask through.

    A command that writes to the store passes its ``run_id``: once connected, the world it talks to
    is claimed for the configured store (see :mod:`ibbot.store.world`), so a store of another
    world raises :class:`~ibbot.store.WorldMismatch` before the command writes into it, and an
    embedded simulator numbers its executions for this run. Raises
    :class:`~ibbot.errors.ConnectionFailed` (one line for the CLI) when it is not reachable.
    """
    from ibbot.pacing import IBPacer  # noqa: PLC0415 - command-time imports keep --help fast
    from ibbot.store.factory import claim_store_world  # noqa: PLC0415

    async with open_gateway(settings, session=run_id or "") as target:
        market = target.market_clock
        config = ConnectionConfig.from_settings(settings.ib, host=target.host, port=target.port)
        async with IBConnection(config, clock=WallClock(), market_clock=market) as connection:
            if run_id is not None:
                await asyncio.to_thread(
                    claim_store_world,
                    settings,
                    simulated=target.embedded,
                    seed=settings.sim.seed,
                    account=connection.account,
                    run_id=run_id,
                    now=market.now(),
                )
            requests = IBRequests(
                connection,
                IBPacer(
                    WallClock(),
                    safe_pacing_rules(scale=target.time_scale, strict=settings.ib.strict_pacing),
                ),
                policy=RequestPolicy.from_settings(settings.ib),
            )
            yield requests, market


async def _backfill_symbols(
    args: argparse.Namespace,
    settings: Settings,
    requests: IBRequests,
    store: BrokerStore,
    market: Clock,
) -> int:
    collector = settings.collector
    bar_size: BarSize = args.bar_size or collector.bar_size
    duration: str = args.duration or collector.history_duration
    what_to_show: WhatToShow = args.what_to_show or collector.what_to_show
    infos: list[ContractInfo] = []
    for symbol in dict.fromkeys(args.symbols):
        try:
            info = await requests.qualify(symbol)
        except (RequestFailed, TimeoutError) as exc:
            sys.stderr.write(f"ibbot backfill: skipping {symbol}: {str(exc) or 'no answer'}\n")
            continue
        await store.write_contract(info)
        infos.append(info)
    if not infos:
        sys.stderr.write("ibbot backfill: no symbol could be qualified; nothing fetched\n")
        return 1
    show = not args.no_progress and sys.stderr.isatty()
    async with _progress(show) as progress:
        report = await Backfill(requests, store, market).run(
            infos,
            bar_size=bar_size,
            duration=duration,
            what_to_show=what_to_show,
            use_rth=collector.use_rth,
            progress=progress,
        )
    sys.stdout.write(
        f"backfilled {report.bars} {bar_size.value} bars for {len(infos)} symbol(s): "
        f"{report.planned} request(s), {report.empty} without data, {report.failed} failed"
        + ("" if report.ok else " (run again to retry the failed ones)")
        + "\n"
    )
    for error in report.errors[:5]:
        sys.stderr.write(f"ibbot backfill: {error}\n")
    return 0 if report.ok else 1


class _RichProgress:
    """A rich progress bar on stderr, advanced per request."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def planned(self, chunks: int) -> None:
        self._task = self._progress.add_task("backfill", total=chunks, bars=0)

    def chunk_done(self, chunk: BackfillChunk, bars: int, *, ok: bool) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            total_bars = int(task.fields.get("bars", 0)) + bars
            label = f"{chunk.symbol} {chunk.end:%Y-%m-%d}" + ("" if ok else " failed")
            self._progress.update(
                self._task, advance=1, bars=total_bars, description=f"backfill {label}"
            )


@asynccontextmanager
async def _progress(show: bool) -> AsyncIterator[_RichProgress | None]:
    if not show:
        yield None
        return
    from rich.progress import (  # noqa: PLC0415 - only with a terminal
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ibbot.logs import log_console  # noqa: PLC0415

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bars]} bars"),
        TimeElapsedColumn(),
        console=log_console(),  # log lines scroll above the bar instead of overwriting it
        transient=False,
    )
    with progress:
        yield _RichProgress(progress)
