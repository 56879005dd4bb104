"""Hot add and remove of strategies while ibbot runs: the orchestrator's API, the loopback control
endpoint and the `ibbot strategies` command."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx
import pytest

from ibbot import cli
from ibbot.errors import ConfigError
from ibbot.live import CONTROL_FILE, TOKEN_FILE, RunnerState
from ibbot.models import EventType
from ibbot.settings import StrategySettings
from ibbot.store import AuditKind, ParquetStore
from tests.integration.app_support import (
    STRATEGIES,
    Watch,
    app_settings,
    fill_of,
    running,
    running_gateway,
    strategy,
    until_all,
)

if TYPE_CHECKING:
    from pathlib import Path


async def test_strategies_are_added_and_removed_while_running(tmp_path: Path) -> None:
    """add_strategy starts a strategy that trades at once; remove_strategy stops it, saves its
    state and leaves its positions in the book; both are audited."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[strategy("first", "HoldQuantity")]
        )
        async with running(settings, gateway) as orchestrator:
            late = StrategySettings(**strategy("late", "HoldQuantity", capital=5_000, quantity=3))
            async with Watch(orchestrator.bus, EventType.FILL) as watch:
                await orchestrator.add_strategy(late)
                await until_all(watch, fill_of("late", "AAPL"), fill_of("late", "MSFT"))
            with pytest.raises(ConfigError, match="a strategy of that name runs"):
                await orchestrator.add_strategy(late)
            runner = orchestrator.strategies["late"]
            await orchestrator.remove_strategy("late")
            assert runner.state is RunnerState.STOPPED
            assert "late" not in orchestrator.strategies
            trader = orchestrator.trader
            assert trader is not None
            assert trader.book.quantities()["late"] == {"AAPL": 3.0, "MSFT": 3.0}
            with pytest.raises(ConfigError, match="no strategy of that name runs"):
                await orchestrator.remove_strategy("late")
    store = ParquetStore(settings.store.path)
    assert store.load_strategy_state("late") is not None
    events = [e.record["event"] for e in store.read_audit(AuditKind.LIFECYCLE, strategy="late")]
    assert events == ["app.strategy_added", "app.strategy_removed"]


async def test_the_control_endpoint_adds_lists_and_removes(tmp_path: Path) -> None:
    """POST /strategies, GET /status, DELETE /strategies/NAME on loopback; bad requests get 4xx."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("first", "HoldQuantity")],
            app={"control_port": 0},
        )
        async with running(settings, gateway) as orchestrator:
            control = json.loads((settings.store.path / CONTROL_FILE).read_text())
            url = control["url"]
            assert url.startswith("http://127.0.0.1:")
            token = (settings.store.path / TOKEN_FILE).read_text().strip()
            async with httpx.AsyncClient(
                base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}
            ) as client:
                body = strategy("late", "HoldQuantity", capital=5_000, quantity=2)
                async with Watch(orchestrator.bus, EventType.FILL) as watch:
                    added = await client.post("/strategies", json=body)
                    assert (added.status_code, added.json()) == (200, {"added": "late"})
                    await watch.until(fill_of("late"))
                status = (await client.get("/status")).json()
                assert status["state"] == "running"
                assert set(status["strategies"]) == {"first", "late"}
                assert status["strategies"]["late"]["state"] == "running"
                removed = await client.delete("/strategies/late")
                assert (removed.status_code, removed.json()) == (200, {"removed": "late"})
                answers = [
                    await client.post(
                        "/strategies",
                        content=b"{not json",
                        headers={"Content-Type": "application/json"},
                    ),
                    await client.post("/strategies", json={"name": "x"}),
                    await client.post(
                        "/strategies", json=strategy("bad", "tests.integration.nowhere.Strategy")
                    ),
                    await client.delete("/strategies/late"),
                    await client.get("/nothing-here"),
                    await client.post("/status"),
                ]
                assert [a.status_code for a in answers] == [400, 400, 400, 400, 404, 405]
                assert "the body is not JSON" in answers[0].json()["error"]
                assert "class_path: Field required" in answers[1].json()["error"]
                assert "cannot import" in answers[2].json()["error"]
                assert "no strategy of that name runs" in answers[3].json()["error"]
                stopping = await client.post("/stop")
                assert stopping.json() == {"stopping": True}
    assert not (settings.store.path / CONTROL_FILE).exists()
    assert not (settings.store.path / TOKEN_FILE).exists()


async def test_the_strategies_command_talks_to_the_running_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ibbot strategies add|list|remove` finds the service through control.json and drives it."""
    monkeypatch.chdir(tmp_path)
    async with running_gateway() as gateway:
        settings = app_settings(tmp_path, port=gateway.port, strategies=[], app={"control_port": 0})
        store = ["--set", f"store.path={settings.store.path}"]

        def ibbot(*args: str) -> int:
            return cli.main([*store, *args])

        async with running(settings, gateway) as orchestrator:
            added = await asyncio.to_thread(
                ibbot,
                "strategies",
                "add",
                "late",
                "--class-path",
                STRATEGIES + "HoldQuantity",
                "--capital",
                "5000",
                "--param",
                "quantity=4",
                "--param",
                "retry_after_bars=1",
            )
            assert added == 0
            assert "late" in orchestrator.strategies
            assert await asyncio.to_thread(ibbot, "strategies", "list") == 0
            assert await asyncio.to_thread(ibbot, "strategies", "remove", "late") == 0
            assert await asyncio.to_thread(ibbot, "strategies", "remove", "late") == 1
            assert (
                await asyncio.to_thread(
                    ibbot, "strategies", "add", "x", "--class-path", "y", "--param", "novalue"
                )
                == 2
            )
        out, err = capsys.readouterr()
        assert "added late" in out
        assert "running" in out  # the list's table
        assert "removed late" in out
        assert "the running ibbot refused" in err
        assert "no strategy of that name runs" in err
        assert "--param: expected KEY=VALUE (e.g. fast=5), got 'novalue'" in err
    assert await asyncio.to_thread(cli.main, [*store, "strategies", "list"]) == 1
    assert "no running ibbot found" in capsys.readouterr().err


async def test_strategies_add_starts_a_configured_strategy_with_a_param_replacing_its_sizing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings.toml configures sma_cross (disabled) sized by weight: `ibbot strategies add
    sma_cross --param quantity=100` starts it with its configured class, capital and params, the
    quantity replacing the weight; a bad value is refused here, naming it and its schema."""
    monkeypatch.chdir(tmp_path)
    configured = {
        "name": "sma_cross",
        "class_path": "ibbot.strategies.sma_cross.SmaCrossStrategy",
        "allocated_capital": 50_000.0,
        "enabled": False,
        "params": {"fast": 5, "slow": 20, "weight": 0.2},
    }
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path, port=gateway.port, strategies=[configured], app={"control_port": 0}
        )
        flags = [
            "--set",
            f"store.path={settings.store.path}",
            "--set",
            f"strategies={json.dumps([configured])}",
        ]

        def ibbot(*args: str) -> int:
            return cli.main([*flags, *args])

        async with running(settings, gateway) as orchestrator:
            bad = await asyncio.to_thread(
                ibbot, "strategies", "add", "sma_cross", "--param", "fast=0"
            )
            added = await asyncio.to_thread(
                ibbot, "strategies", "add", "sma_cross", "--param", "quantity=100"
            )
            assert added == 0
            strategy = orchestrator.strategies["sma_cross"].strategy
            assert strategy.allocated_capital == 50_000.0
            assert strategy.params.model_dump(exclude_defaults=True) == {  # type: ignore[attr-defined]
                "fast": 5,
                "slow": 20,
                "quantity": 100,
            }
        out, err = capsys.readouterr()
    assert bad == 2
    assert "invalid setting strategies.sma_cross.params.fast=0" in err
    assert "(fast: int >= 1, default 10: length of the fast moving average, in bars)" in err
    assert "added sma_cross" in out
