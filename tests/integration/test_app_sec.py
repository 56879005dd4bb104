"""value_momentum on SEC EDGAR fundamentals: live on the embedded simulator with a fake SEC server,
and in the backtester, where a value filed after t is invisible at t."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from ibbot.app import Orchestrator
from ibbot.backtest import BacktestConfig, DecisionOutcome, StrategySpec, run_backtest
from ibbot.fundamentals.sec import known_at
from ibbot.fundamentals.sec.fake import FakeSecServer
from ibbot.models import Action, BarSize, EventType
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.store import AuditKind, ParquetStore
from tests.integration.app_support import (
    DEADLINE,
    TRADING_START,
    Watch,
    app_settings,
    fill_of,
    strategy,
)
from tests.integration.test_value_momentum_sec import (
    DAYS,
    FIRST_DAY,
    RESTATED_ON,
    stored_history,
)

if TYPE_CHECKING:
    from pathlib import Path

VALUE_MOMENTUM = "ibbot.strategies.value_momentum.ValueMomentumStrategy"


async def test_value_momentum_trades_live_on_sec_fundamentals(tmp_path: Path) -> None:
    """fundamentals.sources = ["sec"]: the fake SEC server's filings reach value_momentum (which
    asks for SEC records only), it buys, the fill comes back; no IB fundamentals are requested."""
    async with FakeSecServer() as sec:
        sec.add_universe(DEFAULT_UNIVERSE, through=TRADING_START.date() - timedelta(days=1))
        settings = app_settings(
            tmp_path,
            strategies=[strategy("vm", VALUE_MOMENTUM, fundamentals_source="sec")],
            watchlist=("JPM", "XOM"),
            fundamentals={
                "sources": ["sec"],
                "sec_user_agent": "ibbot tests tests@example.com",
                "sec_base_url": sec.url,
                "sec_www_url": sec.url,
                "sec_cache_dir": tmp_path / "sec-cache",
            },
        )
        orchestrator = Orchestrator(settings)
        run = asyncio.ensure_future(orchestrator.run(handle_signals=False))
        async with asyncio.timeout(DEADLINE):
            await orchestrator.started.wait()
        async with Watch(orchestrator.bus, EventType.FILL) as watch:
            fill = await watch.until(fill_of("vm"), what="a value_momentum fill")
        orchestrator.stop()
        async with asyncio.timeout(DEADLINE):
            assert await run == 0
    store = ParquetStore(settings.store.path)
    symbol = fill.symbol
    assert symbol is not None
    records = store.read_fundamentals(symbol)
    assert records
    assert {r.source for r in records} == {"sec"}
    bought = [
        d.record
        for d in store.read_audit(AuditKind.DECISIONS, strategy="vm", symbol=symbol)
        if d.record["outcome"] == "sent"
    ]
    assert bought
    assert "valuation PASS: P/E" in bought[0]["reasoning"]


async def test_value_momentum_in_a_backtest_never_sees_a_filing_before_it_is_filed(
    tmp_path: Path,
) -> None:
    """The backtester replays SEC records as they became known: the cheap restated EPS (filed on
    RESTATED_ON) makes value_momentum buy then, and no decision or fill comes earlier."""
    await stored_history(tmp_path)
    config = BacktestConfig(
        start=FIRST_DAY,
        end=FIRST_DAY + timedelta(days=DAYS),
        strategies=(
            StrategySpec(
                "vm",
                VALUE_MOMENTUM,
                100_000.0,
                {
                    "momentum_window": 3,
                    "volume_window": 3,
                    "min_market_cap": 0,
                    "min_avg_daily_volume": 0,
                    "max_pe": 20,
                    "max_price_to_book": 100,
                    "fundamentals_source": "sec",
                },
            ),
        ),
        starting_cash=100_000.0,
        bar_size=BarSize.DAY_1,
    )
    with ParquetStore(tmp_path / "data") as store:
        result = await asyncio.to_thread(run_backtest, config, store)
    filed = known_at(RESTATED_ON)
    buys = [r for r in result.decisions if r.decision.action is Action.BUY]
    assert buys, "the restated earnings should make ACME cheap"
    assert all(r.decision.timestamp >= filed for r in buys)
    assert buys[0].outcome is DecisionOutcome.SENT
    assert "P/E" in buys[0].decision.reasoning
    assert result.fills
    assert all(f.timestamp > filed for f in result.fills)
    assert result.final_positions.get("ACME", 0) > 0
