"""Collectors against the simulated gateway: qualification, streams, backfill, pacing, fundamentals."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from ibbot.broker.backfill import HISTORY_SOURCE, Backfill
from ibbot.broker.backoff import Backoff
from ibbot.broker.collector import CollectorConfig, IBCollector
from ibbot.broker.fundamentals_refresh import FundamentalsRefresher, RefreshConfig
from ibbot.broker.fundamentals_source import IBFundamentalsSource
from ibbot.broker.market_data import MarketDataStreams, StreamConfig
from ibbot.broker.requests import IBRequests, RequestPolicy
from ibbot.clock import SimulatedClock, WallClock
from ibbot.errors import FundamentalsUnavailable, RequestFailed
from ibbot.fundamentals import FundamentalsError, FundamentalsSource, SourceUnavailable
from ibbot.logs import configure_logging, reset_logging
from ibbot.models import BarSize, Event, EventType, FundamentalData, PriceBar
from ibbot.pacing import IBPacer, PacingRule
from tests.integration.broker_support import TRADING_START, background, harness
from tests.integration.log_tap import LogTap

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from ibbot.sim.gateway import SimulatedGateway


async def test_qualify_stores_and_publishes_contracts(tmp_path: Path) -> None:
    """Known symbols become ContractInfo in the store and on the bus; unknown ones error events."""
    async with harness(tmp_path) as h:
        collector = IBCollector(
            h.connection,
            h.requests,
            h.store,
            h.bus,
            config=CollectorConfig(watchlist=("AAPL", "NOPE"), fundamentals=None),
        )
        contracts = await collector.qualify()
        assert list(contracts) == ["AAPL"]
        assert contracts["AAPL"].con_id == 265598
        assert (await h.store.read_contract("AAPL")) == contracts["AAPL"]
        await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.ERROR, "NOPE")))
        assert h.recorder.of(EventType.CONTRACT_INFO, "AAPL")
        assert h.recorder.of(EventType.ERROR, "NOPE")[0].payload.code == 200


async def test_historical_bars_are_utc_and_complete(tmp_path: Path) -> None:
    """A historical request comes back as PriceBars with UTC starts inside the window asked."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("MSFT")
        end = TRADING_START.replace(hour=0) - timedelta(days=3)  # the Friday before, midnight
        bars = await h.requests.historical_bars(
            info, end=end, duration="1 D", bar_size=BarSize.MIN_5
        )
        assert bars
        assert all(b.timestamp.tzinfo is UTC for b in bars)
        assert all(b.bar_size is BarSize.MIN_5 for b in bars)
        assert all(end - timedelta(days=1) <= b.timestamp < end for b in bars)


async def test_backfill_resumes_and_respects_pacing(tmp_path: Path) -> None:
    """A backfill of several symbols makes no pacing violation; interrupted, it resumes the rest."""
    async with harness(tmp_path) as h:
        infos = [await h.requests.qualify(s) for s in ("AAPL", "MSFT", "KO")]
        backfill = Backfill(h.requests, h.store, h.market_clock, workers=4)
        end = datetime(2026, 2, 27, tzinfo=UTC)
        planned = await backfill.plan(
            infos, bar_size=BarSize.MIN_1, start=end - timedelta(days=10), end=end
        )
        assert len(planned) == 30

        done = 0
        interrupted = asyncio.Event()

        class StopHalfway:
            def planned(self, chunks: int) -> None:
                pass

            def chunk_done(self, chunk: object, bars: int, *, ok: bool) -> None:
                nonlocal done
                done += 1
                if done == 12:
                    interrupted.set()

        first = asyncio.create_task(
            backfill.run(
                infos, bar_size=BarSize.MIN_1, duration="10 D", end=end, progress=StopHalfway()
            )
        )
        await interrupted.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        left = await backfill.plan(
            infos, bar_size=BarSize.MIN_1, start=end - timedelta(days=10), end=end
        )
        assert 0 < len(left) <= 30 - 12
        report = await backfill.run(infos, bar_size=BarSize.MIN_1, duration="10 D", end=end)
        assert report.ok
        # A write interrupted by the cancel still completes in its thread, so the resumed run may
        # find even less to do than the plan above; never more.
        assert 0 < report.planned <= len(left)
        assert (
            await backfill.plan(
                infos, bar_size=BarSize.MIN_1, start=end - timedelta(days=10), end=end
            )
            == []
        )
        assert h.requests.pacing_violations == 0
        bars = await h.store.read_bars("KO", end - timedelta(days=10), end, BarSize.MIN_1)
        # Feb 17-26 2026: eight sessions (Feb 16 is Presidents' Day) of 390 regular-hours minutes.
        assert len(bars) == 8 * 390


async def test_a_backfill_ending_mid_session_leaves_no_hole(tmp_path: Path) -> None:
    """Two days of minute bars ending at 11:00 New York: every regular-hours minute arrives, and
    the store marks nothing covered that it does not hold (IB's "1 D" would start at the open)."""

    class Published:
        def __init__(self) -> None:
            self.events: list[Event] = []

        async def publish(self, event: Event) -> None:
            self.events.append(event)

    async with harness(tmp_path) as h:
        info = await h.requests.qualify("KO")
        published = Published()
        backfill = Backfill(h.requests, h.store, h.market_clock, publisher=published, workers=2)
        end = datetime(2026, 2, 26, 16, tzinfo=UTC)  # Thursday 11:00 in New York
        report = await backfill.run([info], bar_size=BarSize.MIN_1, duration="2 D", end=end)
        assert report.ok
        start = end - timedelta(days=2)
        bars = await h.store.read_bars("KO", start, end, BarSize.MIN_1)
        # Tuesday 11:00-16:00 (300 minutes), all of Wednesday (390), Thursday 09:30-11:00 (90).
        assert len(bars) == 300 + 390 + 90
        assert len({bar.timestamp for bar in bars}) == len(bars)
        assert await h.store.bar_gaps("KO", BarSize.MIN_1, start, end) == []
        assert h.requests.pacing_violations == 0
        assert len(published.events) == len(bars)
        assert {event.source for event in published.events} == {HISTORY_SOURCE}
        assert HISTORY_SOURCE == "ib-history"


async def test_backfill_of_a_weekend_is_empty_without_warnings(tmp_path: Path) -> None:
    """Hours without trading come back as IB's 162 "no data": counted empty, logged at debug only."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("KO")
        backfill = Backfill(h.requests, h.store, h.market_clock, workers=2)
        with structlog.testing.capture_logs() as logs:
            report = await backfill.run(
                [info],
                bar_size=BarSize.SEC_5,
                duration="7200 S",
                end=datetime(2026, 3, 1, 14, tzinfo=UTC),  # a Sunday
            )
        assert report.ok
        assert report.empty == report.planned > 0
        assert report.bars == 0
        assert [e for e in logs if e["log_level"] not in ("debug", "info")] == []
        assert {e["code"] for e in logs if e["event"] == "requests.failed"} == {162}


async def test_injected_pacing_violation_backs_off_and_succeeds(tmp_path: Path) -> None:
    """The gateway refuses a request for pacing: the request waits, is sent again and succeeds."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        h.gateway.force_pacing_violations(2)
        bars = await h.requests.historical_bars(
            info, end=datetime(2026, 2, 27, tzinfo=UTC), duration="1 D", bar_size=BarSize.MIN_1
        )
        assert bars
        assert h.requests.pacing_violations == 2
        assert h.pacer.stats().historical_backoffs == 2  # the pacer slowed down for each


async def test_a_burst_of_daily_bar_requests_is_not_paced_to_the_small_bar_rules(
    tmp_path: Path,
) -> None:
    """70 different daily-bar requests for one contract at once: all answered, no pacing
    violation, none held by the 60-per-10-minutes window or the 5-per-2-s rule."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        end = datetime(2026, 2, 27, tzinfo=UTC)
        answers = await asyncio.gather(
            *(
                h.requests.historical_bars(
                    info, end=end - timedelta(days=i), duration="1 Y", bar_size=BarSize.DAY_1
                )
                for i in range(70)
            )
        )
        assert all(answers)
        assert h.requests.pacing_violations == 0
        stats = h.pacer.stats()
        assert stats.historical_requests == 70
        assert stats.waits[PacingRule.HISTORICAL_WINDOW] == 0
        assert stats.waits[PacingRule.HISTORICAL_SAME_CONTRACT] == 0


async def test_no_data_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    """A window without trading is reported as code 162, never as an empty result."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        sunday = datetime(2026, 3, 1, 12, tzinfo=UTC)
        with pytest.raises(RequestFailed) as failure:
            await h.requests.historical_bars(
                info, end=sunday, duration="3600 S", bar_size=BarSize.SEC_5
            )
        assert failure.value.code == 162


async def test_streams_ticks_and_minute_bars(tmp_path: Path) -> None:
    """Ticks reach the bus; 1-minute bars built from 5-second bars reach the bus and the store."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        streams = MarketDataStreams(
            h.connection, h.requests, h.store, h.bus, config=StreamConfig(history_duration="1 D")
        )
        async with background(streams.run([info])):
            await h.recorder.wait_for(lambda: len(_live_bars(h)) >= 2, seconds=15)
            await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.TICK, "AAPL")))
            await streams.flush()
        live = _live_bars(h)
        assert all(b.bar_size is BarSize.MIN_1 for b in live)
        # Live bars and the history filled in before them (arriving in any order) join up.
        starts = sorted({b.timestamp for b in live})
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(starts))
        stored = await h.store.read_bars("AAPL", starts[0], starts[-1] + timedelta(minutes=1))
        assert [b.timestamp for b in stored] == starts


async def test_ticks_for_a_slow_subscriber_keep_their_order_and_catch_up(tmp_path: Path) -> None:
    """A subscriber too slow for the tick stream (its queue full) gets, once it has room, the same
    ticks as everyone else in the same order, none twice, up to the latest: ticks handed to the
    bus from IB's callback and those the tick task publishes after waiting do not overtake."""
    entered = asyncio.Event()
    gate = asyncio.Event()
    slow: list[Event] = []

    async def hold(event: Event) -> None:
        entered.set()
        await gate.wait()
        slow.append(event)

    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        h.bus.subscribe([EventType.TICK], hold, name="slow", maxsize=1)
        streams = MarketDataStreams(
            h.connection, h.requests, h.store, h.bus, config=StreamConfig(history_duration="1 D")
        )
        async with background(streams.run([info])):
            async with asyncio.timeout(30):
                await entered.wait()
            # One tick in the handler, one queued, one more taken by the tick task: it waits.
            await h.recorder.wait_for(lambda: len(h.recorder.of(EventType.TICK)) >= 3)
            opened = datetime.now(UTC)
            gate.set()
            await h.recorder.wait_for(
                lambda: any(e.payload.timestamp > opened for e in slow), seconds=30
            )
            seen = h.recorder.of(EventType.TICK)
        assert [id(e) for e in slow] == [id(e) for e in seen[: len(slow)]]
        assert len({id(e) for e in slow}) == len(slow)


def _live_bars(h: object) -> list[PriceBar]:
    recorder = h.recorder  # type: ignore[attr-defined]
    start = TRADING_START
    return [
        e.payload
        for e in recorder.of(EventType.PRICE_BAR, "AAPL")
        if isinstance(e.payload, PriceBar) and e.payload.timestamp >= start
    ]


async def _drop(gateway: SimulatedGateway) -> None:
    gateway.drop_connections()


async def _restart(gateway: SimulatedGateway) -> None:
    # Sockets dropped, connections refused for 1.5 s: 90 simulated seconds, so at least one whole
    # minute bar is missed and must come from history.
    await gateway.restart(1.5)


@pytest.mark.parametrize("outage", [_drop, _restart], ids=["drop", "restart"])
async def test_bars_continue_after_reconnect_without_holes(
    tmp_path: Path, outage: Callable[[SimulatedGateway], Awaitable[None]]
) -> None:
    """After a drop or a gateway restart, streams come back and the missed minutes are filled."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        streams = MarketDataStreams(
            h.connection, h.requests, h.store, h.bus, config=StreamConfig(history_duration="1 D")
        )
        async with background(streams.run([info])):
            await h.recorder.wait_for(lambda: len(_live_bars(h)) >= 1, seconds=15)
            await h.recorder.wait_for(lambda: streams.subscriptions == 1)
            await outage(h.gateway)
            await h.recorder.wait_for(lambda: h.connection.session == 2)
            await h.recorder.wait_for(lambda: streams.subscriptions == 2)
            # Only the re-established real-time bar stream delivers bars from after this point.
            resumed = h.market_clock.now()
            await h.recorder.wait_for(
                lambda: sum(b.timestamp >= resumed for b in _live_bars(h)) >= 2, seconds=20
            )
            await streams.flush()
        starts = sorted({b.timestamp for b in _live_bars(h)})
        gaps = [b - a for a, b in itertools.pairwise(starts) if b - a != timedelta(minutes=1)]
        assert gaps == []


async def test_1101_resubscribes(tmp_path: Path) -> None:
    """IB's "data lost" makes the streams subscribe again; ticks and bars flow again after it."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        streams = MarketDataStreams(
            h.connection, h.requests, h.store, h.bus, config=StreamConfig(history_duration="1 D")
        )
        async with background(streams.run([info])):
            await h.recorder.wait_for(lambda: streams.subscriptions == 1)
            await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.TICK, "AAPL")))
            # The gateway stops every stream on 1101; only a new subscription brings data back.
            h.gateway.send_notice(1101)
            await h.recorder.wait_for(lambda: streams.subscriptions == 2)
            # Ticks carry their arrival time (wall clock), bars their start (market clock): only
            # the new subscriptions can deliver either from after this point.
            arrived_after = datetime.now(UTC)
            started_after = h.market_clock.now()
            await h.recorder.wait_for(
                lambda: any(
                    e.payload.timestamp > arrived_after
                    for e in h.recorder.of(EventType.TICK, "AAPL")
                )
            )
            await h.recorder.wait_for(
                lambda: any(b.timestamp >= started_after for b in _live_bars(h)), seconds=15
            )


async def test_cancels_ib_answers_with_300_after_1101_are_expected_not_errors(
    tmp_path: Path,
) -> None:
    """After a 1101 the streams' cancels are answered with IB's 300 (IB dropped them): said once
    at debug by ibbot, ib_async's error line demoted, nothing logged as a warning or error."""
    out = io.StringIO()
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        streams = MarketDataStreams(
            h.connection, h.requests, h.store, h.bus, config=StreamConfig(history_duration="1 D")
        )
        async with background(streams.run([info])):
            await h.recorder.wait_for(lambda: streams.subscriptions == 1)
            await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.TICK, "AAPL")))
            configure_logging("DEBUG", "json", stream=out)
            try:
                h.gateway.send_notice(1101)
                await h.recorder.wait_for(lambda: streams.subscriptions == 2)
                arrived_after = datetime.now(UTC)
                # The 300 answers the cancel, sent before the new request: it came before any tick
                # of the new subscription.
                await h.recorder.wait_for(
                    lambda: any(
                        e.payload.timestamp > arrived_after
                        for e in h.recorder.of(EventType.TICK, "AAPL")
                    )
                )
            finally:
                reset_logging()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    dropped = [line for line in lines if line["event"] == "market_data.cancel_of_dropped_stream"]
    assert [(line["code"], line["symbol"]) for line in dropped] == [(300, "AAPL")]
    loud = [line for line in lines if line["level"] not in ("debug", "info")]
    assert [line["event"] for line in loud] == ["connection.restored"]  # the 1101 itself


async def test_streams_held_back_by_pacing_after_a_reconnect_are_not_cancelled_on_the_new_socket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After a reconnect, streams IB's real-time bar pacing has not let through yet belong to the
    old socket: stopping sends no cancel for them (ib_async knows no such request on the new one)."""
    async with harness(tmp_path) as h:
        infos = [await h.requests.qualify(symbol) for symbol in ("AAPL", "MSFT")]
        # Two real-time bar requests per ten minutes: the first subscriptions use them up.
        rules = dataclasses.replace(
            h.pacer.rules, realtime_bar_requests=2, realtime_bar_window=600.0
        )
        requests = IBRequests(h.connection, IBPacer(h.clock, rules), policy=h.requests.policy)
        streams = MarketDataStreams(
            h.connection, requests, h.store, h.bus, config=StreamConfig(history_duration="1 D")
        )
        tap = LogTap(["pacing.waiting", "connection.hook_started"]).install()
        async with background(streams.run(infos)):
            await h.recorder.wait_for(lambda: streams.subscriptions == 2)
            h.gateway.drop_connections()
            await tap.wait_for(
                lambda: bool(tap.of("pacing.waiting", rule="realtime_bars_window", symbol="AAPL")),
                seconds=15,
                what="the resubscription held back by the real-time bar pacing",
            )
            assert h.connection.session == 2
    assert [r.getMessage() for r in caplog.records if "No reqId found" in r.getMessage()] == []


async def test_fundamentals_parsed_stored_published(tmp_path: Path) -> None:
    """The sim's ReportSnapshot and statements are parsed, stored point-in-time and published."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        refresher = FundamentalsRefresher(
            h.requests, h.store, h.bus, h.market_clock, config=RefreshConfig()
        )
        await refresher.prepare([info])
        assert await refresher.refresh_due() == 2
        snapshot = await h.store.read_fundamental("AAPL", report_type="ReportSnapshot")
        assert isinstance(snapshot, FundamentalData)
        assert snapshot.cik == "0000320193"
        assert snapshot.market_cap is not None
        assert snapshot.market_cap > 1e9
        assert snapshot.pe_ratio is not None
        assert snapshot.pe_ratio > 0
        statements = await h.store.read_fundamental("AAPL", report_type="ReportsFinStatements")
        assert statements is not None
        assert statements.details["statements"]
        await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.FINANCIAL_STATEMENTS)))
        assert h.recorder.of(EventType.FUNDAMENTAL_DATA, "AAPL")
        # Not due again within the refresh period.
        assert await refresher.refresh_due() == 0


async def test_fundamentals_430_is_unavailable_said_once(tmp_path: Path) -> None:
    """Error 430 means unavailable: logged once per symbol and report, backed off, no crash."""
    async with harness(tmp_path, sim={"unavailable_fundamentals": ("MSFT",)}) as h:
        info = await h.requests.qualify("MSFT")
        with pytest.raises(FundamentalsUnavailable):
            await h.requests.fundamental_xml(info, "ReportSnapshot")
        schedule = SimulatedClock(datetime.now(UTC))
        refresher = FundamentalsRefresher(
            h.requests,
            h.store,
            h.bus,
            schedule,
            config=RefreshConfig(report_types=("ReportSnapshot",), refresh=timedelta(hours=1)),
        )
        await refresher.prepare([info])
        with structlog.testing.capture_logs() as logs:
            assert await refresher.refresh_due() == 0
            first_due = refresher.status()[("MSFT", "ReportSnapshot")]
            assert first_due == schedule.now() + timedelta(hours=1)
            schedule.advance(3600)
            assert await refresher.refresh_due() == 0
        said = [e for e in logs if e["event"] == "fundamentals.unavailable"]
        assert len(said) == 1
        # Backed off: the second failure waits twice as long.
        assert refresher.status()[("MSFT", "ReportSnapshot")] == schedule.now() + timedelta(hours=2)
        assert await h.store.read_fundamental("MSFT") is None


async def test_fundamentals_430_is_one_line_in_the_log(tmp_path: Path) -> None:
    """A 430 run logs one fundamentals.unavailable line and nothing else at WARNING or above."""
    out = io.StringIO()
    async with harness(tmp_path, sim={"unavailable_fundamentals": ("MSFT",)}) as h:
        info = await h.requests.qualify("MSFT")
        schedule = SimulatedClock(datetime.now(UTC))
        refresher = FundamentalsRefresher(
            h.requests,
            h.store,
            h.bus,
            schedule,
            config=RefreshConfig(report_types=("ReportSnapshot",), refresh=timedelta(hours=1)),
        )
        await refresher.prepare([info])
        configure_logging("INFO", "json", stream=out)
        try:
            for _ in range(3):
                assert await refresher.refresh_due() == 0
                schedule.advance(4 * 3600)
        finally:
            reset_logging()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    loud = [line for line in lines if line["level"] not in ("debug", "info")]
    assert [line["event"] for line in loud] == ["fundamentals.unavailable"]
    assert [line for line in lines if line["event"] == "fundamentals.unavailable"] == loud


async def test_collector_runs_everything_until_stopped(tmp_path: Path) -> None:
    """IBCollector qualifies, streams and refreshes fundamentals, then stops when asked."""
    async with harness(tmp_path) as h:
        collector = IBCollector(
            h.connection,
            h.requests,
            h.store,
            h.bus,
            config=CollectorConfig(
                watchlist=("AAPL", "KO"),
                streams=StreamConfig(history_duration="1 D"),
                fundamentals=RefreshConfig(report_types=("ReportSnapshot",)),
            ),
        )
        run = asyncio.create_task(collector.run())
        await h.recorder.wait_for(
            lambda: (
                {e.symbol for e in h.recorder.of(EventType.TICK)} == {"AAPL", "KO"}
                and len(h.recorder.of(EventType.FUNDAMENTAL_DATA)) == 2
            ),
            seconds=15,
        )
        collector.stop()
        async with asyncio.timeout(5):
            await run
        assert set(collector.contracts) == {"AAPL", "KO"}
        assert await h.store.read_fundamental("KO", report_type="ReportSnapshot") is not None


async def test_qualify_uses_the_stored_contract_when_ib_does_not_answer(tmp_path: Path) -> None:
    """A timeout (not an unknown symbol) falls back to the description stored by an earlier run."""
    async with harness(tmp_path, policy=RequestPolicy(timeout=0.3)) as h:
        known = await h.requests.qualify("AAPL")
        await h.store.write_contract(known)
        h.gateway.delay_replies(1_000)
        collector = IBCollector(
            h.connection,
            h.requests,
            h.store,
            h.bus,
            config=CollectorConfig(watchlist=("AAPL",), fundamentals=None),
        )
        assert await collector.qualify() == {"AAPL": known}
        h.gateway.delay_replies(0)
        await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.ERROR, "AAPL")))


async def test_daily_bars_keep_up_to_date(tmp_path: Path) -> None:
    """Daily bars come from a keepUpToDate request: the finished days are emitted and stored."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("MSFT")
        streams = MarketDataStreams(
            h.connection,
            h.requests,
            h.store,
            h.bus,
            config=StreamConfig(bar_size=BarSize.DAY_1, history_duration="10 D", ticks=False),
        )
        async with background(streams.run([info])):
            await h.recorder.wait_for(lambda: len(h.recorder.of(EventType.PRICE_BAR, "MSFT")) >= 5)
            await streams.flush()
        days = [e.payload for e in h.recorder.of(EventType.PRICE_BAR, "MSFT")]
        assert all(b.bar_size is BarSize.DAY_1 for b in days)
        assert all(b.timestamp < TRADING_START.replace(hour=0) for b in days)  # today is not done
        stored = await h.store.read_bars(
            "MSFT", TRADING_START - timedelta(days=14), TRADING_START, BarSize.DAY_1
        )
        assert len(stored) >= 5


async def test_refused_stream_is_an_error_event_and_retried(tmp_path: Path) -> None:
    """A real-time bar subscription refused for pacing (420) is reported, retried, and then flows."""
    async with harness(tmp_path) as h:
        info = await h.requests.qualify("AAPL")
        streams = MarketDataStreams(
            h.connection,
            h.requests,
            h.store,
            h.bus,
            config=StreamConfig(
                history_duration="1 D", ticks=False, retry_backoff=Backoff(0.05, 0.2)
            ),
        )
        h.gateway.force_pacing_violations(1)
        async with background(streams.run([info])):
            await h.recorder.wait_for(lambda: bool(h.recorder.of(EventType.ERROR, "AAPL")))
            await h.recorder.wait_for(lambda: len(_live_bars(h)) >= 1, seconds=15)
        assert h.recorder.of(EventType.ERROR, "AAPL")[0].payload.code == 420
        assert streams.subscriptions >= 2


class SignallingPacer(IBPacer):
    """The real pacer, which also says when it has let a historical request go."""

    def __init__(self, pacer: IBPacer) -> None:
        super().__init__(WallClock(), pacer.rules)
        self.released = asyncio.Event()

    @asynccontextmanager
    async def historical(self, *args: Any, **kwargs: Any) -> AsyncIterator[None]:
        async with super().historical(*args, **kwargs):
            self.released.set()
            yield


async def test_request_survives_a_dropped_connection(tmp_path: Path) -> None:
    """A request in flight when the socket drops is sent again after the reconnect."""
    async with harness(tmp_path) as h:
        pacer = SignallingPacer(h.pacer)
        requests = IBRequests(h.connection, pacer, policy=h.requests.policy)
        info = await requests.qualify("AAPL")
        h.gateway.delay_replies(300)
        request = asyncio.create_task(
            requests.historical_bars(
                info, end=datetime(2026, 2, 27, tzinfo=UTC), duration="1 D", bar_size=BarSize.MIN_5
            )
        )
        await pacer.released.wait()
        h.gateway.drop_connections()
        h.gateway.delay_replies(0)
        async with asyncio.timeout(10):
            bars = await request
        assert bars
        assert h.connection.session == 2


async def test_ib_is_a_fundamentals_source(tmp_path: Path) -> None:
    """IB plugs into ibbot.fundamentals: a snapshot now, 430 and unknown symbols as unavailable."""
    async with harness(tmp_path, sim={"unavailable_fundamentals": ("MSFT",)}) as h:
        source = IBFundamentalsSource(h.requests, h.store, h.market_clock)
        assert isinstance(source, FundamentalsSource)
        assert source.name == "ib"
        (snapshot,) = await source.fetch("AAPL")
        assert snapshot.symbol == "AAPL"
        assert snapshot.market_cap is not None
        assert snapshot.industry == "Technology"  # IB's own classification, from the contract
        with (
            structlog.testing.capture_logs() as logs,
            pytest.raises(SourceUnavailable, match="no fundamentals for MSFT"),
        ):
            await source.fetch("MSFT")
        # The fundamentals service says "unavailable" once; the request layer only at debug.
        assert [e["log_level"] for e in logs if e["event"] == "requests.failed"] == ["debug"]
        with pytest.raises(SourceUnavailable, match="knows no stock NOPE"):
            await source.fetch("NOPE")
        h.gateway.delay_replies(1_000)
        slow = IBFundamentalsSource(
            IBRequests(h.connection, h.pacer, policy=RequestPolicy(timeout=0.2)),
            None,
            h.market_clock,
        )
        with pytest.raises(FundamentalsError, match="did not describe KO"):
            await slow.fetch("KO")
