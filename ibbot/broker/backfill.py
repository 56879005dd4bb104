"""Resumable historical backfill: ask IB only for what the store lacks, as fast as pacing allows.

The store records which time ranges it holds completely for each symbol and bar size. A backfill
subtracts those from the wanted window, cuts what is left into requests IB accepts, and writes each
answer with the window it covers; an interrupted run therefore resumes where it stopped. Requests
from all symbols are interleaved, newest first, and several are in flight at once, so the
:class:`~ibbot.pacing.IBPacer` is the only brake: IB's hard rules (60 requests per 10 minutes and
friends) for bars of 30 s or less, 50 in flight and an adaptive backoff for larger ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

import structlog

from ibbot.broker.bars import floor_time, parse_duration, request_span
from ibbot.broker.errors import error_info
from ibbot.broker.requests import NO_DATA
from ibbot.errors import IbbotError, PacingViolation, RequestFailed
from ibbot.models import BarSize, ContractInfo, Event, EventType, PriceBar, WhatToShow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ibbot.broker.ports import BrokerStore, EventPublisher
    from ibbot.broker.requests import IBRequests
    from ibbot.clock import Clock

__all__ = ["HISTORY_SOURCE", "Backfill", "BackfillChunk", "BackfillProgress", "BackfillReport"]

log = structlog.get_logger(__name__)

# Requests in flight at once: enough that the pacer, not round trips, sets the pace (IB allows 50
# simultaneous historical requests; the pacer's in-flight limit enforces that).
DEFAULT_WORKERS: Final = 8

# ``Event.source`` of the bars a backfill publishes: history fetched from IB, not a live stream, so a
# consumer (a strategy, the smoke check) can tell the two apart.
HISTORY_SOURCE: Final = "ib-history"


@dataclass(frozen=True, slots=True)
class BackfillChunk:
    """One historical request: ``[start, end)`` of ``symbol``, asked as ``duration`` ending at ``end``."""

    symbol: str
    start: datetime
    end: datetime
    duration: str


@dataclass(slots=True)
class BackfillReport:
    """What a backfill did. ``failed`` chunks stay uncovered: the next run asks for them again."""

    symbols: int = 0
    planned: int = 0
    fetched: int = 0
    empty: int = 0
    failed: int = 0
    bars: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every planned chunk was fetched (or IB said it holds no data for it)."""
        return self.failed == 0


@dataclass(frozen=True, slots=True)
class _Job:
    """What every request of one backfill run shares."""

    bar_size: BarSize
    what_to_show: WhatToShow
    use_rth: bool
    report: BackfillReport
    progress: BackfillProgress | None


class BackfillProgress(Protocol):
    """Told how much there is to do and when each chunk is done (a progress bar, or nothing)."""

    def planned(self, chunks: int) -> None:
        """The number of requests the backfill will make."""
        ...

    def chunk_done(self, chunk: BackfillChunk, bars: int, *, ok: bool) -> None:
        """One request finished with ``bars`` bars (``ok`` False when it failed)."""
        ...


class Backfill:
    """Fetches missing history into the store (and onto the bus when given a publisher)."""

    def __init__(
        self,
        requests: IBRequests,
        store: BrokerStore,
        clock: Clock,
        *,
        publisher: EventPublisher | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a backfill needs at least one worker, got {workers}")
        self._requests = requests
        self._store = store
        self._clock = clock
        self._publisher = publisher
        self._workers = workers

    async def plan(
        self,
        infos: Sequence[ContractInfo],
        *,
        bar_size: BarSize,
        start: datetime,
        end: datetime,
    ) -> list[BackfillChunk]:
        """The requests needed to cover ``[start, end)`` for every symbol, interleaved newest first."""
        span = request_span(bar_size)
        per_symbol: list[list[BackfillChunk]] = []
        for info in infos:
            chunks: list[BackfillChunk] = []
            gaps = await self._store.bar_gaps(info.symbol, bar_size, start, end)
            for gap_start, gap_end in reversed(gaps):
                cursor = gap_end
                while cursor > gap_start:
                    chunk_start = max(gap_start, cursor - span.length)
                    chunks.append(
                        BackfillChunk(
                            info.symbol,
                            chunk_start,
                            cursor,
                            span.duration_for(cursor - chunk_start),
                        )
                    )
                    cursor = chunk_start
            per_symbol.append(chunks)
        interleaved: list[BackfillChunk] = []
        for rank in range(max((len(c) for c in per_symbol), default=0)):
            interleaved.extend(chunks[rank] for chunks in per_symbol if rank < len(chunks))
        return interleaved

    async def run(
        self,
        infos: Sequence[ContractInfo],
        *,
        bar_size: BarSize,
        duration: str,
        end: datetime | None = None,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
        progress: BackfillProgress | None = None,
    ) -> BackfillReport:
        """Backfill ``duration`` of ``bar_size`` bars up to ``end`` (default: the last complete bar).

        Only complete bars are kept: a bar still forming at ``end`` is left for a later run.
        """
        window_end = floor_time(end if end is not None else self._clock.now(), bar_size)
        window_start = window_end - parse_duration(duration)
        return await self.fill(
            infos,
            bar_size=bar_size,
            start=window_start,
            end=window_end,
            what_to_show=what_to_show,
            use_rth=use_rth,
            progress=progress,
        )

    async def fill(
        self,
        infos: Sequence[ContractInfo],
        *,
        bar_size: BarSize,
        start: datetime,
        end: datetime,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
        progress: BackfillProgress | None = None,
    ) -> BackfillReport:
        """Fetch whatever the store lacks of ``[start, end)`` for every symbol."""
        by_symbol = {info.symbol: info for info in infos}
        chunks = await self.plan(infos, bar_size=bar_size, start=start, end=end)
        report = BackfillReport(symbols=len(by_symbol), planned=len(chunks))
        if progress is not None:
            progress.planned(len(chunks))
        log.info(
            "backfill.planned",
            symbols=len(by_symbol),
            chunks=len(chunks),
            bar_size=bar_size.value,
            start=start.isoformat(),
            end=end.isoformat(),
        )
        queue = deque(chunks)
        job = _Job(bar_size, what_to_show, use_rth, report, progress)

        async def worker() -> None:
            while queue:
                chunk = queue.popleft()
                await self._fetch(by_symbol[chunk.symbol], chunk, job)

        async with asyncio.TaskGroup() as tasks:
            for _ in range(min(self._workers, len(chunks))):
                tasks.create_task(worker())
        log.info(
            "backfill.done",
            planned=report.planned,
            fetched=report.fetched,
            empty=report.empty,
            failed=report.failed,
            bars=report.bars,
        )
        return report

    async def _fetch(self, info: ContractInfo, chunk: BackfillChunk, job: _Job) -> None:
        bars: list[PriceBar] = []
        try:
            bars = await self._requests.historical_bars(
                info,
                end=chunk.end,
                duration=chunk.duration,
                bar_size=job.bar_size,
                what_to_show=job.what_to_show,
                use_rth=job.use_rth,
                expected_codes=(NO_DATA,),
            )
        except RequestFailed as exc:
            if exc.code != NO_DATA or isinstance(exc, PacingViolation):
                await self._failed(chunk, exc, job)
                return
            # IB holds no bars for this window (a weekend, a holiday): that is the whole truth.
            job.report.empty += 1
        except TimeoutError as exc:
            await self._failed(chunk, exc, job)
            return
        inside = [b for b in bars if chunk.start <= b.timestamp < chunk.end and b.end <= chunk.end]
        try:
            await self._store.write_bars(
                info.symbol, inside, covering=(chunk.start, chunk.end), bar_size=job.bar_size
            )
        except IbbotError as exc:
            await self._failed(chunk, exc, job)
            return
        if bars:
            job.report.fetched += 1
        job.report.bars += len(inside)
        if job.progress is not None:
            job.progress.chunk_done(chunk, len(inside), ok=True)
        if self._publisher is not None:
            for bar in inside:
                await self._publisher.publish(
                    Event(
                        EventType.PRICE_BAR,
                        bar.symbol,
                        bar.timestamp,
                        bar,
                        source=HISTORY_SOURCE,
                        ingested_at=self._clock.now(),
                    )
                )

    async def _failed(self, chunk: BackfillChunk, exc: Exception, job: _Job) -> None:
        message = str(exc) or f"{type(exc).__name__} fetching {chunk.symbol}"
        job.report.failed += 1
        job.report.errors.append(message)
        log.error(
            "backfill.chunk_failed",
            symbol=chunk.symbol,
            start=chunk.start.isoformat(),
            end=chunk.end.isoformat(),
            error=message,
        )
        if job.progress is not None:
            job.progress.chunk_done(chunk, 0, ok=False)
        if self._publisher is not None:
            code = exc.code if isinstance(exc, RequestFailed) else None
            await self._publisher.publish(
                Event(
                    EventType.ERROR,
                    chunk.symbol,
                    self._clock.now(),
                    error_info(code, message, request="historical", symbol=chunk.symbol),
                    source="ib",
                    ingested_at=self._clock.now(),
                )
            )
