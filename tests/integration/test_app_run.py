"""The orchestrator end to end on the simulated gateway: a run, its store, its audit trail, its trades."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING

import pytest
import tomli_w

from ibbot import cli
from ibbot.app import Orchestrator
from ibbot.errors import ConnectionFailed
from ibbot.models import EventType
from ibbot.store import AuditKind, ParquetStore
from tests.data_readme import undocumented
from tests.integration.app_support import (
    DEADLINE,
    TRADING_START,
    Watch,
    app_settings,
    book_totals,
    fill_of,
    sim_positions,
    strategy,
    until_all,
)

if TYPE_CHECKING:
    from pathlib import Path


async def test_a_run_with_a_duration_collects_decides_trades_and_matches_the_simulator(
    tmp_path: Path,
) -> None:
    """--duration: bars stored, decisions audited with reasoning, orders filled, book == broker."""
    settings = app_settings(
        tmp_path,
        strategies=[
            strategy("holder", "HoldQuantity", quantity=10),
            strategy("example_value", "ibbot.strategies.example_value.ExampleValueStrategy"),
        ],
    )
    orchestrator = Orchestrator(settings)
    run = asyncio.ensure_future(orchestrator.run(duration=60.0, handle_signals=False))
    async with asyncio.timeout(DEADLINE):
        await orchestrator.started.wait()
    gateway = orchestrator.simulator
    assert gateway is not None
    async with Watch(orchestrator.bus, EventType.FILL) as fills:
        # Both orders filled before the stop: an order still in flight at a stop is booked by the
        # next run (by design), which this test does not make.
        await until_all(fills, fill_of("holder", "AAPL"), fill_of("holder", "MSFT"))
    orchestrator.stop("test: both holdings filled")
    async with asyncio.timeout(DEADLINE):
        assert await run == 0

    store = ParquetStore(settings.store.path)
    bars = store.read_bars("AAPL", TRADING_START.replace(hour=0), TRADING_START.replace(hour=23))
    assert len(bars) > 30  # the backfilled history and the live bars
    assert any(bar.timestamp >= TRADING_START for bar in bars)
    decisions = store.read_audit(AuditKind.DECISIONS)
    sent = [d for d in decisions if d.record["outcome"] == "sent"]
    assert sent
    assert all("hold" in d.record["reasoning"] for d in sent)
    holds = [d for d in decisions if d.strategy == "example_value"]
    assert any("liquidity PASS: market cap" in d.record["reasoning"] for d in holds)
    orders = store.read_orders(strategy="holder")
    assert any(result.status.value == "filled" for _, result in orders)
    saved = store.load_strategy_state("ibbot-position-book")
    assert saved is not None
    book = saved["book"]["positions"]
    quantities = {name: {p["symbol"]: p["quantity"] for p in held} for name, held in book.items()}
    assert book_totals(quantities) == sim_positions(gateway) == {"AAPL": 10.0, "MSFT": 10.0}
    lifecycle = [e.record["event"] for e in store.read_audit(AuditKind.LIFECYCLE)]
    assert lifecycle == ["app.starting", "app.started", "app.stopping", "app.stopped"]
    assert undocumented(settings.store.path) == []  # data/README.md describes all of it


async def test_an_unreachable_gateway_fails_the_start_with_one_clear_error(tmp_path: Path) -> None:
    """No gateway at ib.host:ib.port: the run ends with ConnectionFailed, nothing half-started."""
    settings = app_settings(tmp_path, strategies=[], port=1)
    with pytest.raises(ConnectionFailed, match="refused the connection"):
        await Orchestrator(settings).run(handle_signals=False)


def test_ibbot_run_with_a_duration_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot --duration N` (the default command): runs the embedded simulator, trades, exits 0."""
    settings = app_settings(tmp_path, strategies=[strategy("holder", "HoldQuantity")])
    document = settings.model_dump(mode="json", exclude_none=True)
    document["sim"]["control_port"] = document["app"]["control_port"] = "off"
    config = tmp_path / "settings.toml"
    config.write_text(tomli_w.dumps(document))
    code = cli.main(["--config", str(config), "--log-format", "json", "--duration", "3"])
    out, err = capsys.readouterr()
    assert (code, out) == (0, "")
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "trade.fill" in events
    assert events.index("app.started") < events.index("app.stopping") < events.index("app.stopped")
    assert logging.getLogger("ib_async").level == logging.NOTSET  # restored after the run


def test_ibbot_run_on_the_console_reads_like_a_trader_s_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot --log-format console --duration N`: the banner first (SIMULATED, the masked account,
    the data directory, how to stop and audit), then no plumbing, and the decision, the order's
    outcome and the fill of a trade as one line each, starting with the market time (10:0x, New
    York), the strategy, the symbol and the action."""
    settings = app_settings(tmp_path, strategies=[strategy("holder", "HoldQuantity")])
    document = settings.model_dump(mode="json", exclude_none=True)
    document["sim"]["control_port"] = document["app"]["control_port"] = "off"
    config = tmp_path / "settings.toml"
    config.write_text(tomli_w.dumps(document))
    code = cli.main(["--config", str(config), "--log-format", "console", "--duration", "3"])
    out, err = capsys.readouterr()
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[1].startswith("ibbot ")
    assert "SIMULATED market" in lines[1]
    assert lines[2].startswith("account DU*****67; strategies: holder")
    assert f"data: {settings.store.path}/" in err
    assert "stops 3 s after the live feed opens" in err
    assert "DU1234567" not in err
    for plumbing in ("executor.", "backfill.planned", "market_data.subscribed", "[ib_async"):
        assert plumbing not in err, plumbing
    trade = re.compile(r"10:\d\d:\d\d  holder\s+(AAPL|MSFT)\s+BUY\s+(sent: |order filled: |fill )")
    seen = {match.groups() for line in lines if (match := trade.match(line))}
    symbol = min(seen)[0]
    assert {kind for sym, kind in seen if sym == symbol} == {"sent: ", "order filled: ", "fill "}
