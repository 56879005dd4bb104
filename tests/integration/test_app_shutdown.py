"""Signals and restarts: SIGTERM drains and saves, a restart resumes the same positions, no order twice.

The restart test delivers SIGTERM to this very process (the orchestrator's handlers are the ones
installed); the subprocess tests run ``python -m ibbot run`` as a container would, against the
embedded simulator, and read its JSON log lines as they come.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from ibbot.app import EXIT_FORCED, EXIT_OK, Orchestrator
from ibbot.live import BOOK_STATE
from ibbot.models import EventType
from ibbot.store import AuditKind, ParquetStore
from tests.integration.app_support import (
    DEADLINE,
    TRADING_START,
    WEEKEND_START,
    Watch,
    app_settings,
    book_totals,
    fill_of,
    running_gateway,
    sim_orders,
    sim_positions,
    strategy,
)

if TYPE_CHECKING:
    from ibbot.settings import Settings
    from ibbot.sim.gateway import SimulatedGateway

REPO = Path(__file__).resolve().parents[2]


async def run_until_fills(
    settings: Settings, gateway: SimulatedGateway, fills: int
) -> tuple[int, Orchestrator]:
    """Run until ``fills`` fills of "flip", then SIGTERM this process; return the exit code."""
    orchestrator = Orchestrator(settings, market_clock=gateway.clock)
    run = asyncio.ensure_future(orchestrator.run())
    async with asyncio.timeout(DEADLINE):
        await orchestrator.started.wait()
    async with Watch(orchestrator.bus, EventType.FILL) as watch:
        for _ in range(fills):
            await watch.until(fill_of("flip"))
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(DEADLINE):
        return await run, orchestrator


def saved_book(settings: Settings) -> dict[str, dict[str, float]]:
    """The position book as saved in the store."""
    state = ParquetStore(settings.store.path).load_strategy_state(BOOK_STATE)
    assert state is not None
    return {
        name: {p["symbol"]: p["quantity"] for p in held if p["quantity"]}
        for name, held in state["book"]["positions"].items()
    }


async def test_sigterm_saves_state_and_a_restart_resumes_without_duplicate_orders(
    tmp_path: Path,
) -> None:
    """SIGTERM mid-run: orders settle, state is saved; the next run restores the same positions,
    reconciles clean and trades on; the exchange never sees an order twice."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            strategies=[strategy("flip", "Flipper", quantity=7)],
            ib={"reconnect_initial_delay": 0.1},
        )
        code, first = await run_until_fills(settings, gateway, fills=3)
        assert code == EXIT_OK
        after_first = saved_book(settings)
        assert book_totals(after_first) == sim_positions(gateway)
        flip_state = ParquetStore(settings.store.path).load_strategy_state("flip")
        assert flip_state is not None
        saved_positions = {s: p["quantity"] for s, p in flip_state["positions"].items()}
        assert {s: q for s, q in saved_positions.items() if q} == after_first.get("flip", {})
        orders_before = len(sim_orders(gateway))

        code, second = await run_until_fills(settings, gateway, fills=3)
        assert code == EXIT_OK
        runner = second.strategies["flip"]
        assert runner.events > 0
        refs = [o["order_ref"] for o in sim_orders(gateway)]
        assert len(refs) == len(set(refs)) > orders_before
        assert book_totals(saved_book(settings)) == sim_positions(gateway)
    store = ParquetStore(settings.store.path)
    starts = [
        r.record
        for r in store.read_audit(AuditKind.RECONCILIATION)
        if r.record.get("reason") == "start"
    ]
    assert [r["mismatches"] for r in starts] == [0, 0]
    lifecycle = [e.record for e in store.read_audit(AuditKind.LIFECYCLE)]
    assert [e["event"] for e in lifecycle] == [
        "app.starting",
        "app.started",
        "app.stopping",
        "app.stopped",
    ] * 2
    assert lifecycle[2]["reason"] == lifecycle[6]["reason"] == "signal SIGTERM"
    assert [e["restoring"] for e in lifecycle if e["event"] == "app.starting"] == [False, True]
    assert first is not second


def ibbot_config(tmp_path: Path, **sim: Any) -> Path:
    """A settings file for a subprocess: embedded simulator, one test strategy, JSON logs."""
    settings = app_settings(tmp_path, strategies=[], sim=sim)
    document = settings.model_dump(mode="json", exclude_none=True)
    document["sim"]["control_port"] = "off"
    document["app"]["control_port"] = "off"
    document["strategies"] = [
        strategy("holder", "HoldQuantity", quantity=5),
        strategy("contracts", "BuyOnContract", quantity=5),
    ]
    path = tmp_path / "settings.toml"
    path.write_text(tomli_w.dumps(document))
    return path


class Service:
    """``python -m ibbot run`` in a subprocess, its JSON log lines read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, config: Path) -> Service:
        environment = {**os.environ, "PYTHONPATH": str(REPO)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ibbot",
            "run",
            "--config",
            str(config),
            "--log-format",
            "json",
            cwd=config.parent,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def until(self, event: str) -> dict[str, Any]:
        """The next log line of ``event`` (fails after DEADLINE seconds or at the end of the log)."""
        stream = self.process.stderr
        assert stream is not None
        async with asyncio.timeout(DEADLINE):
            while True:
                raw = await stream.readline()
                if not raw:
                    raise AssertionError(f"the service ended before logging {event}")
                line = json.loads(raw)
                self.lines.append(line)
                if line["event"] == event:
                    return line

    async def exit_code(self) -> int:
        """Read the rest of the log and wait for the process to end."""
        stream = self.process.stderr
        assert stream is not None
        async with asyncio.timeout(DEADLINE):
            async for raw in stream:
                self.lines.append(json.loads(raw))
            return await self.process.wait()

    def signal(self, which: signal.Signals) -> None:
        """Send ``which`` to the service."""
        self.process.send_signal(which)


async def test_the_service_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM to `python -m ibbot run` (what `docker stop` sends): drained, saved, exit 0."""
    service = await Service.start(ibbot_config(tmp_path, start=TRADING_START.isoformat()))
    await service.until("app.started")
    await service.until("trade.fill")
    service.signal(signal.SIGTERM)
    assert await service.exit_code() == EXIT_OK
    events = [line["event"] for line in service.lines]
    assert events.index("app.signal") < events.index("app.stopping") < events.index("app.stopped")
    state = tmp_path / "data" / "state"
    assert {p.name for p in state.iterdir()} == {
        "holder.json",
        "contracts.json",
        f"{BOOK_STATE}.json",
        "account.key",  # the fills' account is stored as its pseudonym under this key
    }


async def test_a_second_signal_forces_the_exit(tmp_path: Path) -> None:
    """While the shutdown waits for orders that cannot fill (market closed), a second SIGTERM
    ends it at once: exit code 130."""
    service = await Service.start(ibbot_config(tmp_path, start=WEEKEND_START.isoformat()))
    await service.until("app.started")
    await service.until("trade.decision")
    service.signal(signal.SIGTERM)
    await service.until("app.stopping")
    service.signal(signal.SIGTERM)
    assert await service.exit_code() == EXIT_FORCED
    signals = [line for line in service.lines if line["event"] == "app.signal"]
    assert [s["action"] for s in signals] == [
        "graceful shutdown (again to force)",
        "forced exit",
    ]
