"""SimConfig validation and the ibbot sim option parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ibbot.errors import ConfigError
from ibbot.sim.config import SimConfig, is_loopback


def test_defaults_are_loopback_paper_settings() -> None:
    """The default gateway listens on 127.0.0.1:4002 with the whole universe and IB's 32 clients."""
    config = SimConfig()
    assert (config.host, config.port, config.account) == ("127.0.0.1", 4002, "DU1234567")
    assert len(config.active_universe) == 12
    assert config.max_connections == 32  # IB: up to 32 API clients per session
    assert config.max_buffered_bytes == 16 << 20
    assert config.frame_timeout == 10.0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    """Loopback addresses and localhost count as loopback."""
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org", "::"])
def test_remote_hosts_need_allow_remote(host: str) -> None:
    """A non-loopback host is refused unless allow_remote is set."""
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="allow-remote"):
        SimConfig(host=host)
    assert SimConfig(host=host, allow_remote=True).host == host


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"port": 70000}, "sim.port"),
        ({"control_port": -1}, "sim.control_port"),
        ({"time_scale": 0}, "sim.time_scale"),
        ({"start": datetime(2026, 3, 2, 10, 0)}, "sim.start"),
        ({"account": ""}, "sim.account"),
        ({"account": "A,B"}, "sim.account"),
        ({"starting_cash": -1.0}, "sim.starting_cash"),
        ({"slippage_bps": -1.0}, "sim.slippage_bps"),
        ({"max_messages_per_second": -1}, "sim.max_messages_per_second"),
        ({"symbols": ("AAPL", "NOPE")}, "sim.symbols"),
        ({"max_connections": 0}, "sim.max_connections"),
        ({"max_buffered_bytes": 1000}, "sim.max_buffered_bytes"),
        ({"frame_timeout": 0}, "sim.frame_timeout"),
        ({"frame_timeout": float("nan")}, "sim.frame_timeout"),
        ({"frame_timeout": float("inf")}, "sim.frame_timeout"),
    ],
)
def test_invalid_settings_are_refused(changes: dict[str, object], key: str) -> None:
    """Each invalid value raises ConfigError naming the setting."""
    with pytest.raises(ConfigError) as info:
        SimConfig(**changes)  # type: ignore[arg-type]
    assert info.value.key == key


def test_start_is_normalised_to_utc_and_symbols_restrict_the_universe() -> None:
    """A zoned start becomes UTC; symbols pick a sub-universe."""
    config = SimConfig(start=datetime(2026, 3, 2, 15, 0, tzinfo=UTC), symbols=("AAPL", "JPM"))
    assert config.start is not None
    assert config.start.tzinfo is UTC
    assert list(config.active_universe) == ["AAPL", "JPM"]


def test_unavailable_fundamentals_entries() -> None:
    """Entries are a symbol, a report type, or SYMBOL:ReportType."""
    config = SimConfig(
        unavailable_fundamentals=("TSLA", "ReportsFinSummary", "AAPL:ReportSnapshot")
    )
    assert config.fundamentals_unavailable("TSLA", "ReportSnapshot")
    assert config.fundamentals_unavailable("MSFT", "ReportsFinSummary")
    assert config.fundamentals_unavailable("AAPL", "ReportSnapshot")
    assert not config.fundamentals_unavailable("AAPL", "ReportsFinStatements")
    assert not config.fundamentals_unavailable("MSFT", "ReportSnapshot")


def test_package_exports_load_on_first_use() -> None:
    """ibbot.sim exposes SimConfig and SimulatedGateway lazily; other names are errors."""
    import ibbot.sim as sim  # noqa: PLC0415 - the lazy attributes are what is tested

    assert sim.SimConfig is SimConfig
    assert sim.SimulatedGateway.__name__ == "SimulatedGateway"
    with pytest.raises(AttributeError, match="no attribute"):
        _ = sim.Nope  # type: ignore[attr-defined]
