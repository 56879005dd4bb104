"""Fundamentals from the configured sources in order: the first that answers for a symbol wins.

The setting ``fundamentals.sources`` lists the sources by priority (``["ib", "sec"]``). For each
symbol the service asks them in turn; the first that answers has its records stored (the source is
on every record) and the newest published as a ``FUNDAMENTAL_DATA`` event. A source that has
nothing for the symbol (:class:`~ibbot.fundamentals.errors.SourceUnavailable`: IB's error 430 since
reqFundamentalData was de-supported, a ticker the SEC does not list) is skipped quietly: one info
line per source and symbol, not one per refresh, and that source is not asked again for that
symbol before ``unavailable_retry`` seconds. A failing source (HTTP errors, malformed answers, a
bug) is logged as a warning and skipped too. Nothing a source does stops the service: each symbol
ends with a :class:`FundamentalsOutcome` saying what happened.

The source is asked for what is newer than the latest record stored from it *as of now* (market
time), and what it returns is written unless a record with the same time and report is stored
already (a point-in-time history only grows: a restatement arrives with its own, later, filing
date), or always with ``rewrite``. A stored record later than now is not "the latest": the
embedded simulator starts every run at the same simulated instant, and the records an earlier run
stored later in its simulated day must not hide this run's. Whenever a source answers, the newest record
known as of now (just stored, or stored before; never one from the future) is published, so the
strategies that decide on fundamentals hear of them on every run, also when the source had nothing
new.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final

import structlog

from ibbot.errors import IbbotError
from ibbot.fundamentals.errors import FundamentalsError, SourceUnavailable
from ibbot.models import Event, EventType, FundamentalData

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from datetime import datetime

    from ibbot.clock import Clock
    from ibbot.fundamentals.source import FundamentalsSource
    from ibbot.store import AsyncStore

__all__ = [
    "FundamentalsOutcome",
    "FundamentalsService",
    "OutcomeStatus",
    "SourceAttempt",
]

log = structlog.get_logger(__name__)

_DAY: Final = 86_400.0
_MICROSECOND: Final = timedelta(microseconds=1)


class OutcomeStatus(enum.StrEnum):
    """What asking a source (or all of them) for a symbol came to."""

    FETCHED = "fetched"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SourceAttempt:
    """One source's answer for a symbol."""

    source: str
    status: OutcomeStatus
    reason: str = ""
    records: int = 0


@dataclass(frozen=True, slots=True)
class FundamentalsOutcome:
    """The per-symbol result: which source answered, how many records were stored, and why not.

    ``latest`` is the newest record of the answering source known as of now, the one published
    (just fetched or stored before; None when there is none).
    """

    symbol: str
    status: OutcomeStatus
    source: str | None
    stored: int
    latest: FundamentalData | None
    attempts: tuple[SourceAttempt, ...]

    @property
    def reason(self) -> str:
        """Why each source did not answer, in order ("" when the first one did)."""
        return "; ".join(
            f"{a.source}: {a.reason}"
            for a in self.attempts
            if a.status is not OutcomeStatus.FETCHED
        )


class FundamentalsService:
    """Asks ``sources`` in order for each symbol; stores and publishes what the first answers.

    ``publish`` (e.g. ``EventBus.publish``) receives the newest stored record as an event.
    """

    def __init__(
        self,
        sources: Sequence[FundamentalsSource],
        store: AsyncStore,
        *,
        clock: Clock,
        publish: Callable[[Event], Awaitable[None]] | None = None,
        unavailable_retry: float = _DAY,
    ) -> None:
        names = [source.name for source in sources]
        if not names:
            raise ValueError("a fundamentals service needs at least one source")
        if len(set(names)) != len(names):
            raise ValueError(f"fundamentals sources must have distinct names, got {names}")
        self._sources = {source.name: source for source in sources}
        self._store = store
        self._clock = clock
        self._publish = publish
        self._unavailable_retry = unavailable_retry
        self._announced: set[tuple[str, str]] = set()
        self._resting: dict[tuple[str, str], float] = {}

    @property
    def source_names(self) -> list[str]:
        """The sources in priority order."""
        return list(self._sources)

    async def refresh(
        self, symbol: str, *, source: str | None = None, rewrite: bool = False
    ) -> FundamentalsOutcome:
        """Fetch ``symbol`` from the first source that answers (only ``source`` when given).

        A source named explicitly is asked even while it rests after an "unavailable".
        """
        if source is not None and source not in self._sources:
            raise ValueError(
                f"fundamentals source {source!r} is not configured (configured: {self.source_names})"
            )
        order = [source] if source is not None else list(self._sources)
        attempts: list[SourceAttempt] = []
        for name in order:
            key = (name, symbol)
            resting_until = self._resting.get(key)
            if source is None and resting_until is not None:
                if self._clock.monotonic() < resting_until:
                    attempts.append(
                        SourceAttempt(name, OutcomeStatus.UNAVAILABLE, "unavailable (resting)")
                    )
                    continue
                del self._resting[key]
            attempt, stored, latest = await self._ask(name, symbol, rewrite=rewrite)
            attempts.append(attempt)
            if attempt.status is OutcomeStatus.FETCHED:
                return FundamentalsOutcome(
                    symbol, OutcomeStatus.FETCHED, name, stored, latest, tuple(attempts)
                )
        status = (
            OutcomeStatus.FAILED
            if any(a.status is OutcomeStatus.FAILED for a in attempts)
            else OutcomeStatus.UNAVAILABLE
        )
        outcome = FundamentalsOutcome(symbol, status, None, 0, None, tuple(attempts))
        if status is OutcomeStatus.FAILED:
            log.warning("fundamentals.no_source_answered", symbol=symbol, reason=outcome.reason)
        return outcome

    async def refresh_all(
        self,
        symbols: Iterable[str],
        *,
        source: str | None = None,
        rewrite: bool = False,
        on_outcome: Callable[[FundamentalsOutcome], None] | None = None,
    ) -> list[FundamentalsOutcome]:
        """:meth:`refresh` each symbol in turn; ``on_outcome`` hears of each as it completes."""
        outcomes = []
        for symbol in symbols:
            outcome = await self.refresh(symbol, source=source, rewrite=rewrite)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        return outcomes

    async def run(
        self,
        symbols: Sequence[str],
        *,
        interval: float,
        on_outcome: Callable[[FundamentalsOutcome], None] | None = None,
    ) -> None:
        """Refresh every symbol, then wait ``interval`` seconds, forever (until cancelled).

        The long-lived collector of fundamentals: its owner runs it in a TaskGroup, and hears of
        each symbol's outcome through ``on_outcome``.
        """
        while True:
            await self.refresh_all(symbols, on_outcome=on_outcome)
            await self._clock.sleep(interval)

    async def _ask(
        self, name: str, symbol: str, *, rewrite: bool
    ) -> tuple[SourceAttempt, int, FundamentalData | None]:
        source = self._sources[name]
        key = (name, symbol)
        try:
            known = await self._store.read_fundamental(symbol, as_of=self._clock.now(), source=name)
            since = None if rewrite or known is None else known.timestamp
            records = await source.fetch(symbol, since=since)
            fresh = self._accept(name, symbol, records, since)
            if fresh and not rewrite:
                fresh = await self._unstored(name, symbol, fresh)
            for record in fresh:
                await self._store.write_fundamental(symbol, record)
        except SourceUnavailable as exc:
            self._resting[key] = self._clock.monotonic() + self._unavailable_retry
            if key in self._announced:
                log.debug("fundamentals.source_unavailable", symbol=symbol, source=name)
            else:
                self._announced.add(key)
                log.info(
                    "fundamentals.source_unavailable",
                    symbol=symbol,
                    source=name,
                    reason=str(exc),
                    retry_in_hours=round(self._unavailable_retry / 3600, 2),
                )
            return SourceAttempt(name, OutcomeStatus.UNAVAILABLE, str(exc)), 0, None
        except IbbotError as exc:  # the source's failures, and the store's
            log.warning("fundamentals.source_failed", symbol=symbol, source=name, error=str(exc))
            return SourceAttempt(name, OutcomeStatus.FAILED, str(exc)), 0, None
        except Exception as exc:  # a bug in one source must not stop the collector
            log.exception("fundamentals.source_crashed", symbol=symbol, source=name)
            reason = f"{type(exc).__name__}: {exc}"
            return SourceAttempt(name, OutcomeStatus.FAILED, reason), 0, None
        if key in self._announced:
            self._announced.discard(key)
            log.info("fundamentals.source_available_again", symbol=symbol, source=name)
        latest = self._newest_known([*fresh, *([] if known is None else [known])])
        if latest is not None and self._publish is not None:
            await self._publish(
                Event(
                    EventType.FUNDAMENTAL_DATA,
                    symbol,
                    latest.timestamp,
                    latest,
                    source=name,
                    ingested_at=self._clock.now(),
                )
            )
        log.info(
            "fundamentals.fetched",
            symbol=symbol,
            source=name,
            returned=len(records),
            stored=len(fresh),
            latest=None if latest is None else latest.timestamp.isoformat(),
        )
        return SourceAttempt(name, OutcomeStatus.FETCHED, "", len(fresh)), len(fresh), latest

    def _newest_known(self, records: list[FundamentalData]) -> FundamentalData | None:
        """The newest of ``records`` known by now: a record from the future is not published."""
        now = self._clock.now()
        known = [r for r in records if r.timestamp <= now]
        return max(known, key=lambda r: r.timestamp) if known else None

    async def _unstored(
        self, name: str, symbol: str, records: list[FundamentalData]
    ) -> list[FundamentalData]:
        """``records`` (in time order) less those stored already (same time and report type)."""
        end = records[-1].timestamp + _MICROSECOND
        stored = await self._store.read_fundamentals(symbol, records[0].timestamp, end, source=name)
        keys = {(r.timestamp, r.report_type) for r in stored}
        return [r for r in records if (r.timestamp, r.report_type) not in keys]

    @staticmethod
    def _accept(
        name: str, symbol: str, records: list[FundamentalData], since: datetime | None
    ) -> list[FundamentalData]:
        """The records to store: this symbol's, newer than ``since``, stamped with the source."""
        stray = next((r for r in records if r.symbol != symbol), None)
        if stray is not None:
            raise FundamentalsError(
                f"source {name!r} answered {symbol} with a record of {stray.symbol!r}"
            )
        fresh = sorted(
            (r if r.source == name else dataclasses.replace(r, source=name) for r in records),
            key=lambda r: r.timestamp,
        )
        if since is not None:
            fresh = [r for r in fresh if r.timestamp > since]
        return fresh
