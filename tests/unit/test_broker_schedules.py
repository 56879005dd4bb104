"""Fundamentals schedule and backfill bookkeeping, with a scripted fake of ibbot's own request layer.

The fake stands in for :class:`~ibbot.broker.requests.IBRequests` (ibbot's class, not ib_async), so
these tests drive the failure paths a live gateway rarely produces: garbage documents, errors,
recoveries. The store is the real ParquetStore; time is a SimulatedClock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from ibbot.broker import ports
from ibbot.broker.backfill import Backfill, BackfillChunk
from ibbot.broker.fundamentals_refresh import FundamentalsRefresher, RefreshConfig
from ibbot.broker.fundamentals_source import IBFundamentalsSource
from ibbot.broker.requests import NO_DATA
from ibbot.clock import SimulatedClock
from ibbot.errors import FundamentalsUnavailable, PacingViolation, RequestFailed, StoreError
from ibbot.fundamentals import FundamentalsError
from ibbot.models import BarSize, ContractInfo, Event, EventType, PriceBar
from ibbot.store import AsyncStore, ParquetStore

if TYPE_CHECKING:
    from collections.abc import Collection
    from pathlib import Path

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
INFO = ContractInfo("NWG", 4242, "NORTHWIND GADGETS", "Tech", "Computers", "Hw", "SMART", "USD")

SNAPSHOT = (
    "<ReportSnapshot><CoIDs><CoID Type='CompanyName'>Northwind</CoID></CoIDs>"
    "<Ratios PriceCurrency='USD'><Group ID='x'><Ratio FieldName='NPRICE' Type='N'>10.0</Ratio>"
    "</Group></Ratios></ReportSnapshot>"
)
SUMMARY = (
    "<FinancialSummary><EPSs currency='USD'><EPS asofDate='2025-12-31' reportType='A' "
    "period='12M'>2.5</EPS></EPSs></FinancialSummary>"
)


class ScriptedRequests:
    """Answers ``fundamental_xml`` and ``historical_bars`` from scripts (a value or an exception)."""

    def __init__(
        self, fundamentals: list[Any] | None = None, bars: list[Any] | None = None
    ) -> None:
        self.fundamentals = deque(fundamentals or [])
        self.bars = deque(bars or [])
        self.asked: list[tuple[str, str]] = []

    async def fundamental_xml(
        self, info: ContractInfo, report_type: str, *, expected_codes: Collection[int] = ()
    ) -> str:
        self.asked.append((info.symbol, report_type))
        answer = self.fundamentals.popleft()
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)

    async def historical_bars(self, info: ContractInfo, **kwargs: Any) -> list[PriceBar]:
        answer = self.bars.popleft()
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)


class Published:
    """A publisher that keeps events; ``fail`` makes it refuse them like a closed bus."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.type is kind]


def refresher(
    requests: ScriptedRequests, store: AsyncStore, clock: SimulatedClock, *reports: str
) -> tuple[FundamentalsRefresher, Published]:
    published = Published()
    config = RefreshConfig(report_types=reports or ("ReportSnapshot",), refresh=timedelta(hours=24))
    return (
        FundamentalsRefresher(requests, store, published, clock, config=config),  # type: ignore[arg-type]
        published,
    )


async def test_snapshot_summary_and_raw_reports_are_stored_point_in_time(tmp_path: Path) -> None:
    """Each report is stored with the time it arrived; unparsed report types are kept raw."""
    clock = SimulatedClock(T0)
    # Due reports are asked in (symbol, report) order: RESC, ReportSnapshot, ReportsFinSummary.
    requests = ScriptedRequests(["<REarnEstCons/>", SNAPSHOT, SUMMARY])
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        refresh, published = refresher(
            requests, store, clock, "ReportSnapshot", "ReportsFinSummary", "RESC"
        )
        await refresh.prepare([INFO])
        assert await refresh.refresh_due() == 3
        snapshot = await store.read_fundamental("NWG", report_type="ReportSnapshot")
        summary = await store.read_fundamental("NWG", report_type="ReportsFinSummary")
        raw = await store.read_fundamental("NWG", report_type="RESC")
    assert snapshot is not None
    assert snapshot.timestamp == T0
    assert snapshot.price == 10.0
    assert summary is not None
    assert summary.details["series"]["EPS"]["rows"][0]["value"] == 2.5
    assert summary.company_name == "NORTHWIND GADGETS"
    assert raw is not None
    assert raw.raw == "<REarnEstCons/>"
    assert len(published.of(EventType.FUNDAMENTAL_DATA)) == 1
    assert len(published.of(EventType.FINANCIAL_STATEMENTS)) == 2


async def test_stored_reports_are_not_asked_again_until_due(tmp_path: Path) -> None:
    """A report stored less than a refresh period ago is due only when the period is over."""
    clock = SimulatedClock(T0)
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        first, _ = refresher(ScriptedRequests([SNAPSHOT]), store, clock)
        await first.prepare([INFO])
        await first.refresh_due()
        clock.advance(3600)
        requests = ScriptedRequests([SNAPSHOT])
        second, _ = refresher(requests, store, clock)
        await second.prepare([INFO])
        assert second.status()[("NWG", "ReportSnapshot")] == T0 + timedelta(hours=24)
        assert await second.refresh_due() == 0
        assert requests.asked == []


async def test_garbage_and_errors_become_error_events_and_retry_next_period(
    tmp_path: Path,
) -> None:
    """A garbled document or a failed request is an error event; the report is tried next period."""
    clock = SimulatedClock(T0)
    requests = ScriptedRequests(
        ["this is not xml", RequestFailed("boom", code=322), TimeoutError(), SNAPSHOT]
    )
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        refresh, published = refresher(requests, store, clock)
        await refresh.prepare([INFO])
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                assert await refresh.refresh_due() == 0
                assert refresh.status()[("NWG", "ReportSnapshot")] == clock.now() + timedelta(
                    hours=24
                )
                clock.advance(24 * 3600)
            assert await refresh.refresh_due() == 1
    errors = published.of(EventType.ERROR)
    assert len(errors) == 3
    assert "NWG" in errors[0].payload.message
    assert "this is not xml" in errors[0].payload.message  # the excerpt
    assert errors[1].payload.code == 322
    assert [e["event"] for e in logs].count("fundamentals.failed") == 3


async def test_unavailable_backs_off_says_once_and_recovers(tmp_path: Path) -> None:
    """430/empty/timeout: said once, the wait doubles up to a cap, a success says it is back."""
    clock = SimulatedClock(T0)
    unavailable = [FundamentalsUnavailable("430") for _ in range(5)]
    requests = ScriptedRequests([*unavailable, SNAPSHOT])
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        refresh, _ = refresher(requests, store, clock)
        refresh._config = RefreshConfig(
            report_types=("ReportSnapshot",),
            refresh=timedelta(hours=24),
            max_backoff=timedelta(days=3),
        )
        await refresh.prepare([INFO])
        waits = []
        with structlog.testing.capture_logs() as logs:
            for _ in range(5):
                await refresh.refresh_due()
                due = refresh.status()[("NWG", "ReportSnapshot")]
                waits.append(due - clock.now())
                clock.advance((due - clock.now()).total_seconds())
            assert await refresh.refresh_due() == 1
    assert waits == [
        timedelta(hours=24),
        timedelta(hours=48),
        timedelta(days=3),
        timedelta(days=3),
        timedelta(days=3),
    ]
    events = [e["event"] for e in logs]
    assert events.count("fundamentals.unavailable") == 1
    assert events.count("fundamentals.available_again") == 1


async def test_run_sleeps_until_the_next_due_report(tmp_path: Path) -> None:
    """run() refreshes, then sleeps on the clock until something is due (at most an hour)."""
    clock = SimulatedClock(T0)
    requests = ScriptedRequests([SNAPSHOT, SNAPSHOT])
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        refresh, _ = refresher(requests, store, clock)
        task = asyncio.create_task(refresh.run([INFO]))
        await clock.wait_for_sleepers(1)
        assert clock.next_deadline() == 3600  # capped nap
        for _ in range(24):
            await clock.wait_for_sleepers(1)
            clock.advance(3600)
        await clock.wait_for_sleepers(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(requests.asked) == 2


class BrokenStore:
    """A store whose writes fail, as a full disk does."""

    async def bar_gaps(self, *args: Any) -> list[tuple[datetime, datetime]]:
        return [(T0 - timedelta(days=1), T0)]

    async def write_bars(self, *args: Any, **kwargs: Any) -> None:
        raise StoreError("disk full")


def _bar(start: datetime) -> PriceBar:
    return PriceBar("NWG", start, 1, 2, 0.5, 1.5, 100, BarSize.MIN_1)


async def test_backfill_failures_are_reported_published_and_left_uncovered(tmp_path: Path) -> None:
    """Errors, timeouts and pacing give-ups fail their chunk (error events); no data covers it."""
    clock = SimulatedClock(T0)
    end = datetime(2026, 2, 27, tzinfo=UTC)
    requests = ScriptedRequests(
        bars=[
            [_bar(end - timedelta(minutes=5)), _bar(end + timedelta(minutes=5))],
            RequestFailed("no data", code=NO_DATA),
            RequestFailed("server error", code=322),
            PacingViolation("still pacing", code=162),
            TimeoutError(),
        ]
    )
    published = Published()
    done: list[tuple[BackfillChunk, int, bool]] = []

    class Progress:
        def planned(self, chunks: int) -> None:
            done.append((BackfillChunk("", end, end, ""), chunks, True))

        def chunk_done(self, chunk: BackfillChunk, bars: int, *, ok: bool) -> None:
            done.append((chunk, bars, ok))

    async with AsyncStore(ParquetStore(tmp_path)) as store:
        backfill = Backfill(requests, store, clock, publisher=published, workers=1)  # type: ignore[arg-type]
        report = await backfill.run(
            [INFO], bar_size=BarSize.MIN_1, duration="5 D", end=end, progress=Progress()
        )
        left = await backfill.plan(
            [INFO], bar_size=BarSize.MIN_1, start=end - timedelta(days=5), end=end
        )
    assert (report.planned, report.fetched, report.empty, report.failed) == (5, 1, 1, 3)
    assert report.bars == 1  # the bar after the window end was not kept
    assert not report.ok
    assert len(left) == 3
    assert [ok for _, _, ok in done[1:]] == [True, True, False, False, False]
    assert len(published.of(EventType.PRICE_BAR)) == 1
    assert [e.payload.code for e in published.of(EventType.ERROR)] == [322, 162, None]


async def test_backfill_store_failure_fails_the_chunk() -> None:
    """A chunk whose bars cannot be written is a failure, not a covered window."""
    requests = ScriptedRequests(bars=[[_bar(T0 - timedelta(hours=1))]])
    backfill = Backfill(requests, BrokenStore(), SimulatedClock(T0))  # type: ignore[arg-type]
    report = await backfill.fill(
        [INFO], bar_size=BarSize.MIN_1, start=T0 - timedelta(days=1), end=T0
    )
    assert (report.failed, report.errors) == (1, ["disk full"])


def test_ports_name_what_the_broker_needs() -> None:
    """The ports module declares the publisher and store protocols the broker codes against."""
    assert ports.__all__ == ["AuditRecord", "BrokerStore", "EventPublisher", "TickPublisher"]
    assert hasattr(ports.BrokerStore, "write_bars")
    assert hasattr(ports.EventPublisher, "publish")
    assert hasattr(ports.TickPublisher, "try_publish")


async def test_ib_source_turns_garbage_and_errors_into_fundamentals_errors(tmp_path: Path) -> None:
    """A garbled report or a failed request is a FundamentalsError naming the symbol."""
    requests = ScriptedRequests(["<<garbage", RequestFailed("server error", code=322), SNAPSHOT])
    async with AsyncStore(ParquetStore(tmp_path)) as store:
        await store.write_contract(INFO)
        source = IBFundamentalsSource(requests, store, SimulatedClock(T0))  # type: ignore[arg-type]
        with pytest.raises(FundamentalsError, match="ReportSnapshot for NWG: malformed XML"):
            await source.fetch("NWG")
        with pytest.raises(FundamentalsError, match="IB fundamentals for NWG failed"):
            await source.fetch("NWG")
        (data,) = await source.fetch("NWG", since=T0)
    assert (data.timestamp, data.price, data.industry) == (T0, 10.0, "Tech")
