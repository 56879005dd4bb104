"""value_momentum on SEC-sourced fundamentals replayed from the store: nothing filed after t is seen at t.

The store is filled the way ``ibbot backfill-fundamentals`` fills it (the SEC source against the
fake SEC server); bars and stored fundamentals are then replayed in time order through the
strategy, each delivered when it became known (a bar at its end, a filing at its known time).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot.clock import SimulatedClock
from ibbot.errors import ConfigError
from ibbot.fundamentals import FundamentalsService, StorePrices
from ibbot.fundamentals.sec import SecSource, known_at
from ibbot.fundamentals.sec.fake import FakeSecServer
from ibbot.models import Action, BarSize, Decision, Event, EventType, FundamentalData, PriceBar
from ibbot.store import AsyncStore, ParquetStore
from ibbot.strategies.value_momentum import ValueMomentumStrategy
from tests.integration.sec_helpers import ACME_CIK, acme_facts, edgar_client

if TYPE_CHECKING:
    from pathlib import Path

RESTATED_ON = date(2026, 4, 15)
FIRST_DAY = datetime(2026, 1, 2, tzinfo=UTC)
DAYS = 140


def bars() -> list[PriceBar]:
    """Daily ACME bars drifting up from 20, so momentum always passes."""
    return [
        PriceBar("ACME", FIRST_DAY + timedelta(days=i), p, p, p, p, 1e6, BarSize.DAY_1)
        for i in range(DAYS)
        for p in [20.0 + 0.01 * i]
    ]


async def stored_history(tmp_path: Path) -> list[FundamentalData]:
    """ACME with TTM EPS 0.4 (P/E ~50), then a 10-K/A restating FY2025 EPS to 4.0 (P/E ~5)."""
    facts = acme_facts(eps=0.1)
    amendment = facts.filing(RESTATED_ON, "10-K/A", fiscal_year=2025, fiscal_period="FY")
    facts.add(
        "us-gaap:EarningsPerShareDiluted",
        4.0,
        filing=amendment,
        start=date(2025, 1, 1),
        end=date(2025, 12, 31),
        unit="USD/shares",
    )
    async with (
        FakeSecServer() as sec,
        AsyncStore(ParquetStore(tmp_path / "data")) as store,
        edgar_client(sec, tmp_path / "cache") as client,
    ):
        sec.add_company("ACME", ACME_CIK, "ACME CORP", facts)
        await store.write_bars("ACME", bars())
        source = SecSource(client, prices=StorePrices(store))
        await FundamentalsService([source], store, clock=SimulatedClock()).refresh("ACME")
        return await store.read_fundamentals("ACME", source="sec")


def replay(strategy: ValueMomentumStrategy, records: list[FundamentalData]) -> list[Decision]:
    """Bars at their end and records at their timestamp, in time order (fundamentals first on ties)."""
    events = [
        Event(EventType.PRICE_BAR, "ACME", bar.end, bar, ingested_at=bar.end) for bar in bars()
    ] + [
        Event(
            EventType.FUNDAMENTAL_DATA,
            "ACME",
            r.timestamp,
            r,
            source=r.source,
            ingested_at=r.timestamp,
        )
        for r in records
    ]
    events.sort(key=lambda e: (e.timestamp, e.type is EventType.PRICE_BAR))
    decisions: list[Decision] = []
    for event in events:
        state = strategy.symbol_state("ACME")
        seen = None if state is None else state.fundamentals
        assert seen is None or seen.timestamp <= event.timestamp  # never a record from the future
        decisions.extend(strategy.on_event(event))
    return decisions


def strategy(**params: object) -> ValueMomentumStrategy:
    return ValueMomentumStrategy(
        name="vm",
        allocated_capital=100_000,
        params={
            "momentum_window": 3,
            "volume_window": 3,
            "min_market_cap": 0,
            "min_avg_daily_volume": 0,
            "max_pe": 20,
            "max_price_to_book": 100,
            **params,
        },
    )


async def test_buys_only_once_the_restatement_is_filed(tmp_path: Path) -> None:
    """The cheap P/E exists only from the 10-K/A's filing: the BUY comes then, never earlier."""
    records = await stored_history(tmp_path)
    assert [r.timestamp for r in records][-1] == known_at(RESTATED_ON)
    decisions = replay(strategy(fundamentals_source="sec"), records)
    assert decisions, "the restated earnings should make ACME cheap"
    first = decisions[0]
    assert first.action is Action.BUY
    assert first.timestamp == known_at(RESTATED_ON)
    assert "P/E" in first.reasoning
    assert first.data["pe"] == pytest.approx(first.price / 4.0)


async def test_a_strategy_asking_for_ib_ignores_sec_records(tmp_path: Path) -> None:
    """With ``fundamentals_source="ib"`` SEC records are not used: no fundamentals, no decision."""
    records = await stored_history(tmp_path)
    vm = strategy(fundamentals_source="ib")
    assert replay(vm, records) == []
    state = vm.symbol_state("ACME")
    assert state is not None
    assert state.fundamentals is None


def test_fundamentals_source_param_is_validated() -> None:
    """Only known sources (or none) are accepted."""
    with pytest.raises(ConfigError, match="fundamentals_source"):
        strategy(fundamentals_source="yahoo")
