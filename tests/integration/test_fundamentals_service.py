"""The fundamentals service with the SEC source on a fake SEC server: order, storage, bad input."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ibbot.clock import SimulatedClock
from ibbot.errors import ConfigError
from ibbot.fundamentals import (
    FundamentalsService,
    OutcomeStatus,
    SourceUnavailable,
    StorePrices,
    open_sources,
)
from ibbot.fundamentals.sec import SecSource, known_at
from ibbot.fundamentals.sec.fake import FakeSecServer, Fault, company_facts_path
from ibbot.models import BarSize, Event, EventType, FundamentalData, PriceBar
from ibbot.settings import FundamentalsSettings
from ibbot.store import AsyncStore, ParquetStore
from tests.integration.sec_helpers import (
    ACME_CIK,
    USER_AGENT,
    acme_facts,
    edgar_client,
    restate,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

RESTATED_ON = date(2026, 4, 15)


@dataclass
class UnavailableIb:
    """An IB adapter whose gateway answers 430 (reqFundamentalData de-supported) for everything."""

    name: str = "ib"
    calls: list[str] = field(default_factory=list)

    async def fetch(self, symbol: str, *, since: datetime | None = None) -> list[FundamentalData]:
        self.calls.append(symbol)
        raise SourceUnavailable(f"{symbol}: IB error 430, fundamentals not available")


@dataclass
class CrashingSource:
    """A source with a bug."""

    name: str = "buggy"

    async def fetch(self, symbol: str, *, since: datetime | None = None) -> list[FundamentalData]:
        raise RuntimeError("index out of range")


@pytest.fixture
async def sec() -> AsyncIterator[FakeSecServer]:
    async with FakeSecServer() as server:
        facts = acme_facts()
        restate(facts, RESTATED_ON, 350.0)
        server.add_company("ACME", ACME_CIK, "ACME CORP", facts)
        server.add_company("NOFACTS", 77, "SOME FUND TRUST", None)
        server.add_company(
            "BROKEN", 78, "BROKEN INC", b'{"cik": 78, "entityName": "B", "facts": {"us'
        )
        server.add_company("DOWN", 79, "DOWN INC", acme_facts())
        server.fail(company_facts_path(79), *[Fault(503)] * 10)
        yield server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    async with AsyncStore(ParquetStore(tmp_path / "data")) as opened:
        yield opened


def daily_bars(symbol: str, first: date, days: int, close: float = 20.0) -> list[PriceBar]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return [
        PriceBar(symbol, start + timedelta(days=i), close, close, close, close, 1e6, BarSize.DAY_1)
        for i in range(days)
    ]


async def test_history_is_stored_and_read_back_without_look_ahead(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """Stored records answer as_of(t) exactly like the source: a restatement only from its date."""
    async with edgar_client(sec, tmp_path / "cache") as client:
        source = SecSource(client, prices=StorePrices(store))
        service = FundamentalsService([source], store, clock=SimulatedClock())
        outcome = await service.refresh("ACME")
        assert outcome.status is OutcomeStatus.FETCHED
        assert outcome.source == "sec"
        assert outcome.stored == 9  # eight quarterly filings and the 10-K/A
        restated_at = known_at(RESTATED_ON)
        moments = [
            datetime(2024, 5, 5, 12, tzinfo=UTC),  # before the first filing was public
            known_at(date(2024, 5, 5)),
            datetime(2025, 3, 1, tzinfo=UTC),
            restated_at - timedelta(seconds=1),
            restated_at,
            datetime(2027, 1, 1, tzinfo=UTC),
        ]
        for moment in moments:
            stored = await store.read_fundamental("ACME", as_of=moment, source="sec")
            assert stored == await source.as_of("ACME", moment), moment
        before = await store.read_fundamental("ACME", as_of=restated_at - timedelta(seconds=1))
        after = await store.read_fundamental("ACME", as_of=restated_at, source="sec")
    assert await store.read_fundamental("ACME", as_of=moments[0], source="sec") is None
    assert before is not None
    assert after is not None
    assert before.revenue == pytest.approx(400.0)
    assert after.revenue == pytest.approx(350.0)
    assert after.details["revenue_ttm"]["form"] == "10-K/A"


async def test_ratios_use_the_last_price_stored_before_the_record(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """Market cap, P/E and P/B use the last bar that had closed when the filing became known."""
    await store.write_bars("ACME", daily_bars("ACME", date(2026, 2, 1), 40))
    async with edgar_client(sec, tmp_path / "cache") as client:
        service = FundamentalsService(
            [SecSource(client, prices=StorePrices(store))], store, clock=SimulatedClock()
        )
        await service.refresh("ACME")
    record = await store.read_fundamental("ACME", as_of=known_at(date(2026, 2, 24)), source="sec")
    assert record is not None
    assert record.price == 20.0
    assert (
        record.details["price"]["basis"] == "close of the '1 day' bar of 2026-02-23T00:00:00+00:00"
    )
    assert record.market_cap == pytest.approx(10 * 20.0)
    assert record.eps == pytest.approx(4.0)
    assert record.pe_ratio == pytest.approx(5.0)
    assert record.price_to_book == pytest.approx(20.0 / 40.0)
    early = await store.read_fundamental("ACME", as_of=known_at(date(2025, 2, 24)), source="sec")
    assert early is not None
    assert early.price is None  # no bar stored then: no ratio at a price


async def test_ib_unavailable_hands_over_to_sec_quietly(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """IB's 430 makes the SEC answer; "unavailable" is logged once per symbol, IB then rests;
    each answer publishes the newest record known by then, also when nothing new was stored."""
    ib = UnavailableIb()
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    clock = SimulatedClock(known_at(RESTATED_ON) + timedelta(days=1))
    async with edgar_client(sec, tmp_path / "cache") as client:
        service = FundamentalsService([ib, SecSource(client)], store, clock=clock, publish=publish)
        with capture_logs() as logs:
            first = await service.refresh("ACME")
            second = await service.refresh("ACME")
    assert first.source == second.source == "sec"
    assert first.attempts[0].status is OutcomeStatus.UNAVAILABLE
    assert "430" in first.reason
    assert ib.calls == ["ACME"]  # resting after the 430: not asked again within the day
    unavailable = [e for e in logs if e["event"] == "fundamentals.source_unavailable"]
    assert len(unavailable) == 1
    assert unavailable[0]["log_level"] == "info"
    assert not [e for e in logs if e["log_level"] in {"warning", "error"}]
    assert second.stored == 0  # nothing new: the history is already stored
    assert len(published) == 2
    for event in published:
        assert event.type is EventType.FUNDAMENTAL_DATA
        assert event.source == "sec"
        assert isinstance(event.payload, FundamentalData)
        assert event.payload.timestamp == known_at(RESTATED_ON)


async def test_unavailable_source_is_asked_again_after_its_rest(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """After ``unavailable_retry`` seconds IB is asked again (and is not announced again)."""
    ib = UnavailableIb()
    clock = SimulatedClock()
    async with edgar_client(sec, tmp_path / "cache") as client:
        service = FundamentalsService(
            [ib, SecSource(client)], store, clock=clock, unavailable_retry=3600
        )
        await service.refresh("ACME")
        clock.advance(3601)
        with capture_logs() as logs:
            await service.refresh("ACME")
    assert ib.calls == ["ACME", "ACME"]
    assert [e["log_level"] for e in logs if e["event"] == "fundamentals.source_unavailable"] == [
        "debug"
    ]


async def test_bad_input_gives_a_result_per_symbol_and_never_stops(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """Unknown ticker, no XBRL, malformed JSON and HTTP errors: each symbol has its own outcome."""
    seen: list[str] = []
    async with edgar_client(sec, tmp_path / "cache", max_attempts=2) as client:
        service = FundamentalsService([SecSource(client)], store, clock=SimulatedClock())
        outcomes = await service.refresh_all(
            ["ZZZZ", "NOFACTS", "BROKEN", "DOWN", "ACME"],
            on_outcome=lambda outcome: seen.append(outcome.symbol),
        )
    by_symbol = {o.symbol: o for o in outcomes}
    assert seen == ["ZZZZ", "NOFACTS", "BROKEN", "DOWN", "ACME"]
    assert by_symbol["ZZZZ"].status is OutcomeStatus.UNAVAILABLE
    assert "not in the SEC's ticker map" in by_symbol["ZZZZ"].reason
    assert by_symbol["NOFACTS"].status is OutcomeStatus.UNAVAILABLE
    assert "no XBRL company facts" in by_symbol["NOFACTS"].reason
    assert by_symbol["BROKEN"].status is OutcomeStatus.FAILED
    assert "not valid JSON" in by_symbol["BROKEN"].reason
    assert by_symbol["DOWN"].status is OutcomeStatus.FAILED
    assert "HTTP 503 after 2 attempts" in by_symbol["DOWN"].reason
    assert by_symbol["ACME"].status is OutcomeStatus.FETCHED
    assert await store.read_fundamental("BROKEN") is None


async def test_company_without_mapped_concepts_is_unavailable(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """XBRL facts but none of the concepts ibbot reads: unavailable, with that reason."""
    sec.add_company(
        "ODD",
        80,
        "ODD LLC",
        b'{"cik": 80, "entityName": "ODD", "facts": {"us-gaap": {"Other": {"units": {}}}}}',
    )
    async with edgar_client(sec, tmp_path / "cache") as client:
        service = FundamentalsService([SecSource(client)], store, clock=SimulatedClock())
        outcome = await service.refresh("ODD")
    assert outcome.status is OutcomeStatus.UNAVAILABLE
    assert "none of the financial concepts" in outcome.reason


async def test_a_crashing_source_is_contained(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """A bug in one source is logged with its traceback; the next source answers."""
    async with edgar_client(sec, tmp_path / "cache") as client:
        service = FundamentalsService(
            [CrashingSource(), SecSource(client)], store, clock=SimulatedClock()
        )
        with capture_logs() as logs:
            outcome = await service.refresh("ACME")
    assert outcome.source == "sec"
    assert outcome.attempts[0].reason == "RuntimeError: index out of range"
    assert any(e["event"] == "fundamentals.source_crashed" for e in logs)


async def test_a_specific_source_can_be_asked(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """``source="sec"`` skips IB; an unconfigured name is refused."""
    ib = UnavailableIb()
    async with edgar_client(sec, tmp_path / "cache") as client:
        service = FundamentalsService([ib, SecSource(client)], store, clock=SimulatedClock())
        outcome = await service.refresh("ACME", source="sec")
        with pytest.raises(ValueError, match="'yahoo' is not configured"):
            await service.refresh("ACME", source="yahoo")
    assert outcome.source == "sec"
    assert ib.calls == []
    assert service.source_names == ["ib", "sec"]


async def test_new_filing_adds_one_record_and_rewrite_rewrites_all(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """After a new filing only the new record is stored; ``rewrite`` stores the history again."""
    clock = SimulatedClock(datetime(2026, 6, 1, tzinfo=UTC))
    async with edgar_client(sec, tmp_path / "cache", clock=clock) as client:
        service = FundamentalsService([SecSource(client)], store, clock=clock)
        assert (await service.refresh("ACME")).stored == 9
        facts = acme_facts(years=3)
        restate(facts, RESTATED_ON, 350.0)
        sec.set_facts(ACME_CIK, facts)
        clock.advance(timedelta(hours=13).total_seconds())
        newer = await service.refresh("ACME")
        again = await service.refresh("ACME", rewrite=True)
    assert newer.stored == 4  # FY2026's quarters, all filed after the restatement
    assert newer.latest is not None  # the newest known on 2026-06-01: the fake files ahead of it
    assert newer.latest.timestamp == known_at(date(2026, 5, 5))
    assert again.stored == 13


async def test_run_refreshes_every_interval(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """``run`` is the collector loop: a round of refreshes, a wait on the clock, again."""
    clock = SimulatedClock()
    rounds = asyncio.Queue[str]()

    async def publish(event: Event) -> None:
        rounds.put_nowait(event.symbol or "")

    async with edgar_client(sec, tmp_path / "cache", clock=clock) as client:
        service = FundamentalsService([SecSource(client)], store, clock=clock, publish=publish)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(service.run(["ACME"], interval=3600))
            assert await rounds.get() == "ACME"
            await clock.wait_for_sleepers(1)
            assert clock.next_deadline() == pytest.approx(3600)
            task.cancel()
    assert task.cancelled()


async def test_open_sources_builds_sec_and_takes_provided_ones(
    sec: FakeSecServer, store: AsyncStore, tmp_path: Path
) -> None:
    """Configured sources in order: 'sec' from the settings, 'ib' as handed in; else an error."""
    settings = FundamentalsSettings(
        sources=["ib", "sec"],
        sec_user_agent=USER_AGENT,
        sec_base_url=sec.url,
        sec_www_url=sec.url,
        sec_cache_dir=tmp_path / "cache",
    )
    ib = UnavailableIb()
    async with open_sources(settings, store=store, clock=SimulatedClock(), provided={"ib": ib}) as (
        first,
        second,
    ):
        assert first is ib
        assert second.name == "sec"
        assert await second.fetch("ACME")
    with pytest.raises(ConfigError, match="'ib' source is provided by the IB adapter"):
        async with open_sources(settings, store=store, clock=SimulatedClock()):
            pass
