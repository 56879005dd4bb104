"""``ibbot check`` and ``ibbot backfill`` end to end: the CLI, settings, an in-process simulated gateway."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

import pytest

from ibbot.broker import commands, jobs
from ibbot.cli import main
from ibbot.gateway import sim_config
from ibbot.models import BarSize
from ibbot.settings import load_settings

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variables from the environment; an empty working directory with empty settings."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.toml").write_text("strategies = []\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_against_the_simulated_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    """With ib.simulate on, check starts a simulated gateway, connects, says ready and exits 0."""
    code = main(["--log-level", "ERROR", "check"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("ready: simulated gateway at 127.0.0.1:")
    assert "1 paper account(s)" in out


def test_check_refused_port_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """No gateway on the port: one line on stderr naming it, exit 1."""
    port = _free_port()
    code = main(
        ["--log-level", "ERROR", "--set", "ib.simulate=false", "--set", f"ib.port={port}", "check"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("ibbot check:")]
    assert len(lines) == 1
    assert f"127.0.0.1:{port} refused" in lines[0]


@pytest.mark.parametrize(
    "settings", [[], ["--set", "logging.level=DEBUG"]], ids=["default", "debug"]
)
def test_check_says_one_line_without_a_log_level(
    capsys: pytest.CaptureFixture[str], settings: list[str]
) -> None:
    """As the Docker HEALTHCHECK runs it (no --log-level), check prints its one line and no logs."""
    assert main([*settings, "check"]) == 0
    out, err = capsys.readouterr()
    assert (out + err).splitlines() == [out.rstrip("\n")]
    assert out.startswith("ready: simulated gateway at 127.0.0.1:")
    port = _free_port()
    assert main([*settings, "--set", "ib.simulate=false", "--set", f"ib.port={port}", "check"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"ibbot check: not ready: IB Gateway at 127.0.0.1:{port} refused")


def test_check_logs_at_the_log_level_given(capsys: pytest.CaptureFixture[str]) -> None:
    """An explicit --log-level still applies to check: INFO shows the connection's progress."""
    assert main(["check", "--log-level", "INFO"]) == 0
    _, err = capsys.readouterr()
    assert "connection.ready" in err


def test_check_reports_a_live_account(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-DU account is reported as LIVE with orders refused."""
    code = main(
        ["--log-level", "ERROR", "--set", "sim.account=U7654321", "check", "--client-id", "42"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "LIVE account(s)" in out
    assert "orders will be refused" in out


def test_backfill_writes_bars_and_resumes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Backfill stores daily bars for known symbols, skips unknown ones; a rerun asks for nothing."""
    argv = [
        "--log-level",
        "ERROR",
        "--set",
        f"store.path={tmp_path / 'data'}",
        "--set",
        "sim.start=2026-03-02T15:00:00Z",
        "backfill",
        "aapl",
        "MSFT",
        "NOPE",
        "--bar-size",
        "1 day",
        "--duration",
        "6 M",
        "--no-progress",
    ]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0
    assert "for 2 symbol(s)" in out
    assert "skipping NOPE" in err
    assert (tmp_path / "data" / "contracts" / "AAPL.json").exists()
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    assert "backfilled 0 1 day bars for 2 symbol(s): 0 request(s)" in out


def test_backfill_with_no_known_symbol_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Nothing to fetch because no symbol exists: one line, exit 1."""
    code = main(["--log-level", "ERROR", "--set", f"store.path={tmp_path}", "backfill", "NOPE"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "no symbol could be qualified" in err


def test_check_offset_matches_the_help_text() -> None:
    """The light CLI module and the job agree on the probe's client id offset."""
    assert commands._CHECK_OFFSET == jobs.CHECK_CLIENT_ID_OFFSET


@pytest.mark.parametrize("strict", ["true", "false"])
async def test_strict_pacing_settings_reach_the_pacer_and_the_simulator(strict: str) -> None:
    """IBBOT_IB__STRICT_PACING=true: the pacer of ``backfill`` applies the small-bar rules (60 per
    10 minutes) to daily bars; false (the default): to bars of 30 s or less only.
    IBBOT_SIM__STRICT_PACING does the same for the embedded simulator."""
    settings = load_settings(
        environ={"IBBOT_IB__STRICT_PACING": strict, "IBBOT_SIM__STRICT_PACING": strict},
        env_file=None,
    )
    assert settings.ib.strict_pacing is (strict == "true")
    assert sim_config(settings.sim, control=False).strict_pacing is (strict == "true")
    async with jobs.paced_requests(settings) as (requests, _):
        assert requests.pacer.rules.is_strict(BarSize.DAY_1) is (strict == "true")
        assert requests.pacer.rules.is_strict(BarSize.SEC_30)
