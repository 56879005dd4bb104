"""``ibbot backfill-fundamentals`` against the fake SEC server: stored history, results, exit codes."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from ibbot.cli import main
from ibbot.fundamentals.sec.fake import FakeSecServer
from ibbot.store import ParquetStore
from tests.integration.sec_helpers import ACME_CIK, USER_AGENT, acme_facts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def sec() -> AsyncIterator[FakeSecServer]:
    async with FakeSecServer() as server:
        server.add_company("ACME", ACME_CIK, "ACME CORP", acme_facts())
        yield server


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty working directory and no IBBOT_ variables from the developer's environment."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.upper().startswith("IBBOT_")]:
        monkeypatch.delenv(name)


def sec_flags(sec: FakeSecServer, tmp_path: Path) -> list[str]:
    return [
        "--set",
        f"store.path={tmp_path / 'data'}",
        "--set",
        f"fundamentals.sec_cache_dir={tmp_path / 'cache'}",
        "--set",
        f"fundamentals.sec_base_url={sec.url}",
        "--set",
        f"fundamentals.sec_www_url={sec.url}",
        "--log-format",
        "json",
    ]


async def test_backfill_stores_the_history(
    sec: FakeSecServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--source sec` stores every filing's record and prints one result row per symbol."""
    argv = [
        "backfill-fundamentals",
        "acme",
        "--source",
        "sec",
        *sec_flags(sec, tmp_path),
        "--set",
        f"fundamentals.sec_user_agent={USER_AGENT}",
    ]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0
    assert "ACME" in out
    assert "fetched" in out
    with ParquetStore(tmp_path / "data") as store:
        records = store.read_fundamentals("ACME", source="sec")
        latest = store.read_fundamental("ACME", as_of=datetime(2030, 1, 1, tzinfo=UTC))
    assert len(records) == 8
    assert latest is not None
    assert latest.source == "sec"


async def test_backfill_exit_1_names_symbols_without_fundamentals(
    sec: FakeSecServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown ticker does not stop the others; the exit code says some got nothing."""
    argv = [
        "backfill-fundamentals",
        "ZZZZ",
        "ACME",
        *sec_flags(sec, tmp_path),
        "--set",
        "fundamentals.sources=sec",
        "--set",
        f"fundamentals.sec_user_agent={USER_AGENT}",
    ]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 1
    assert "unavailable" in out
    assert "ticker map" in out
    assert "fetched" in out


async def test_backfill_without_user_agent_is_a_usage_error(
    sec: FakeSecServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--source sec` with no User-Agent: exit 2, one line, no request sent."""
    argv = ["backfill-fundamentals", "ACME", "--source", "sec", *sec_flags(sec, tmp_path)]
    code = await asyncio.to_thread(main, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [err[0]]
    assert "fundamentals.sec_user_agent" in err[0]
    assert sec.requests == []


async def test_the_default_ib_source_asks_the_embedded_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the default sources (["ib"]) and ib.simulate on, IB's snapshots come from the sim."""
    argv = ["backfill-fundamentals", "AAPL", "KO", "--set", f"store.path={tmp_path / 'data'}"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0
    assert "fetched" in out
    with ParquetStore(tmp_path / "data") as store:
        for symbol in ("AAPL", "KO"):
            [record] = store.read_fundamentals(symbol, source="ib")
            assert record.market_cap is not None
            assert record.market_cap > 0


async def test_a_symbol_ib_has_no_fundamentals_for_falls_through_to_sec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sources ["ib", "sec"]: IB answers 430 for KO, so KO's records come from the SEC."""
    async with FakeSecServer() as sec:
        sec.add_company("KO", ACME_CIK, "COCA COLA CO", acme_facts())
        argv = [
            "backfill-fundamentals",
            "AAPL",
            "KO",
            *sec_flags(sec, tmp_path),
            "--set",
            "fundamentals.sources=ib,sec",
            "--set",
            f"fundamentals.sec_user_agent={USER_AGENT}",
            "--set",
            "sim.unavailable_fundamentals=KO",
        ]
        code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0
    with ParquetStore(tmp_path / "data") as store:
        assert len(store.read_fundamentals("AAPL", source="ib")) == 1
        assert store.read_fundamentals("AAPL", source="sec") == []
        assert store.read_fundamentals("KO", source="ib") == []
        assert len(store.read_fundamentals("KO", source="sec")) == 8
    assert "sec" in out


async def test_an_unreachable_gateway_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking IB with no gateway listening: exit 1 and one line naming the address."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    argv = [
        "--log-level",
        "ERROR",
        "backfill-fundamentals",
        "AAPL",
        "--set",
        f"store.path={tmp_path / 'data'}",
        "--set",
        "ib.simulate=false",
        "--set",
        f"ib.port={port}",
        "--set",
        "ib.connect_timeout=2",
    ]
    code = await asyncio.to_thread(main, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    mine = [line for line in err if line.startswith("ibbot")]  # ib_async logs its own error too
    assert len(mine) == 1, err
    assert mine[0].startswith("ibbot: error: IB Gateway at")
    assert f"127.0.0.1:{port} refused the connection" in mine[0]


async def test_the_result_table_is_not_cut_when_piped(
    sec: FakeSecServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Piped (stdout not a terminal), each symbol's row stays whole on one line, its reason too,
    instead of being folded into the 80 columns rich assumes."""
    argv = [
        "backfill-fundamentals",
        "ZZZZ",
        "ACME",
        *sec_flags(sec, tmp_path),
        "--set",
        "fundamentals.sources=sec",
        "--set",
        f"fundamentals.sec_user_agent={USER_AGENT}",
    ]
    await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if "ZZZZ" in line]
    assert "ZZZZ: not in the SEC's ticker map (not a US SEC filer?)" in row
    assert "…" not in out
