"""The ibbot sim option parsing."""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import UTC, datetime

import pytest
import structlog

from ibbot.errors import ConfigError
from ibbot.sim.__main__ import main as sim_main
from ibbot.sim.cli import add_sim_arguments, build_config, run_sim, serve
from ibbot.sim.config import SimConfig


def test_cli_options_build_a_config() -> None:
    """ibbot sim's options map onto SimConfig (comma or space separated symbols)."""
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--control-port",
            "0",
            "--seed",
            "7",
            "--symbols",
            "aapl,msft",
            "jpm",
            "--time-scale",
            "60",
            "--start",
            "2026-03-02T14:30:00+00:00",
            "--unavailable-fundamentals",
            "TSLA",
            "--max-connections",
            "4",
            "--max-buffered-bytes",
            "2097152",
            "--frame-timeout",
            "2.5",
            "--strict-pacing",
        ]
    )
    config = build_config(args)
    assert (config.max_connections, config.max_buffered_bytes, config.frame_timeout) == (
        4,
        2 << 20,
        2.5,
    )
    assert config.symbols == ("AAPL", "MSFT", "JPM")
    assert (config.seed, config.time_scale, config.port) == (7, 60.0, 0)
    assert config.start == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert config.unavailable_fundamentals == ("TSLA",)
    assert config.strict_pacing is True
    assert build_config(parser.parse_args(["--no-control"])).strict_pacing is False
    assert build_config(parser.parse_args(["--no-control"])).control_port is None
    with pytest.raises(ConfigError, match="ISO 8601"):
        build_config(parser.parse_args(["--start", "yesterday"]))
    with pytest.raises(ConfigError, match="allow-remote"):
        build_config(parser.parse_args(["--host", "10.0.0.1"]))


async def test_serve_announces_both_addresses_and_stops_on_the_event() -> None:
    """serve() prints one line with the API and control addresses and returns when stopped."""
    config = SimConfig(port=0, control_port=0, start=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    lines: list[str] = []
    announced = asyncio.Event()
    stop = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        announced.set()

    task = asyncio.create_task(serve(config, stop, announce))
    async with asyncio.timeout(5):
        await announced.wait()
    (line,) = lines
    assert line.startswith("ibbot sim: TWS API on 127.0.0.1:")
    assert "control http://127.0.0.1:" in line
    assert "account DU1234567, seed 42, time scale 1" in line
    stop.set()
    async with asyncio.timeout(5):
        await task


def test_run_sim_reports_configuration_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad option makes run_sim print one line to stderr and return 2, serving nothing."""
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    assert run_sim(parser.parse_args(["--symbols", "NOPE"])) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not simulated" in captured.err


def test_module_entry_point_parses_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """python -m ibbot.sim's main() shares the options and exit codes of ibbot sim."""
    assert sim_main(["--time-scale", "0"]) == 2
    assert "sim.time_scale" in capsys.readouterr().err


def test_module_entry_point_leaves_logging_as_it_found_it() -> None:
    """python -m ibbot.sim's main() undoes its logging configuration when it returns."""
    handlers = list(logging.getLogger().handlers)
    assert not structlog.is_configured()
    assert sim_main(["--time-scale", "0"]) == 2
    assert not structlog.is_configured()
    assert logging.getLogger().handlers == handlers
