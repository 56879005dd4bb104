"""Settings: sources and their precedence, the plan's YAML schema, validation, secrets."""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ibbot.errors import ConfigError
from ibbot.models import BarSize, WhatToShow
from ibbot.settings import (
    REDACTED,
    Settings,
    StrategySettings,
    is_paper_account,
    load_settings,
    parse_override,
    plan_config_to_settings,
    redacted_dump,
)

REPO = Path(__file__).resolve().parents[2]

# Section 4.1 of the user's implementation plan, verbatim.
PLAN_EXAMPLE = """\
ibkr:
  host: "127.0.0.1"
  port: 7497
  client_id: 1

data_store:
  backend: "file"  # or "postgres"
  path: "./data"

collector:
  watchlist:
    - "AAPL"
    - "MSFT"
    - "GOOGL"
  fundamental_refresh_hours: 24

strategies:
  - name: "example_value"
    class_path: "src.strategies.example_value.ExampleValueStrategy"
    allocated_capital: 10000
    enabled: true
    params: {}
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variable from the developer's environment; an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load_error(**kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(**kwargs)
    return caught.value


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    """With no source at all, the settings are the documented defaults."""
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.ib.port == 4002
    assert settings.ib.simulate is True
    assert settings.ib.allow_live_trading is False
    assert settings.store.path == Path("data/sim-42")  # the embedded simulator's own store
    assert settings.collector.watchlist == [
        "AAPL",
        "MSFT",
        "GOOGL",
        "AMZN",
        "JPM",
        "XOM",
        "KO",
        "WMT",
    ]
    assert settings.collector.bar_size is BarSize.MIN_1
    assert settings.collector.what_to_show is WhatToShow.TRADES
    assert settings.risk.on_reconciliation_mismatch == "halt_symbol"
    assert settings.strategies == []
    assert settings.sim.account == "DU1234567"
    assert settings.source_files == ()


# What the repository's settings.toml sets differently from the built-in defaults: the demo that a
# fresh clone runs with `uv run ibbot` (three strategies, a faster simulated clock, a market open).
DEMO_KEYS = (("strategies",), ("sim", "time_scale"), ("sim", "start"))


def test_repository_settings_toml_is_the_defaults_plus_the_demo() -> None:
    """settings.toml documents exactly the built-in defaults, apart from the demo's few keys."""
    settings = load_settings(config_file=REPO / "settings.toml", environ={})
    assert settings.source_files == (REPO / "settings.toml",)
    shown, defaults = settings.model_dump(), Settings().model_dump()
    for *parents, leaf in DEMO_KEYS:
        mine, theirs = shown, defaults
        for parent in parents:
            mine, theirs = mine[parent], theirs[parent]
        assert mine.pop(leaf) != theirs.pop(leaf), leaf
    assert shown == defaults


def test_the_demo_trades_on_an_open_market_with_the_shipped_strategies() -> None:
    """The demo runs the three shipped strategies on the simulator, during regular trading hours."""
    from ibbot.sim.calendar import ExchangeCalendar  # noqa: PLC0415 - the sim only for this test
    from ibbot.strategies import SHIPPED_STRATEGIES  # noqa: PLC0415

    settings = load_settings(config_file=REPO / "settings.toml", environ={})
    assert settings.ib.simulate
    assert {s.name: s.class_path for s in settings.strategies if s.enabled} == dict(
        SHIPPED_STRATEGIES
    )
    assert {"JPM", "XOM"} <= set(settings.collector.watchlist)  # what value_momentum buys
    start = settings.sim.start
    assert start is not None
    session = ExchangeCalendar().session(start.date())
    assert session is not None
    assert session.start(use_rth=True) < start < session.end(use_rth=True)
    assert settings.sim.time_scale > 1


def test_env_example_names_only_real_settings() -> None:
    """Every variable in .env.example is a valid setting, and it turns the simulator off, safely."""
    settings = load_settings(environ={}, env_file=REPO / ".env.example")
    assert settings.ib.simulate is False
    assert settings.ib.port == 4002
    assert settings.ib.allow_live_trading is False
    assert settings.ib.readonly is False


def test_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings(...) is only what it is given: env vars reach the settings through load_settings."""
    monkeypatch.setenv("IBBOT_IB__PORT", "4001")
    assert Settings().ib.port == 4002
    assert load_settings().ib.port == 4001


# --- precedence ----------------------------------------------------------------------------------


def test_toml_beats_defaults(tmp_path: Path) -> None:
    """A key in settings.toml overrides its default; the other keys keep theirs."""
    write(tmp_path / "settings.toml", '[ib]\nport = 4001\n[collector]\nwatchlist = ["KO"]\n')
    settings = load_settings(environ={})
    assert settings.ib.port == 4001
    assert settings.ib.host == "127.0.0.1"
    assert settings.collector.watchlist == ["KO"]
    assert settings.source_files == (Path("settings.toml"),)


def test_dotenv_beats_toml(tmp_path: Path) -> None:
    """A variable in .env overrides settings.toml, key by key within a section."""
    write(tmp_path / "settings.toml", '[ib]\nport = 4001\nhost = "gateway"\n')
    write(tmp_path / ".env", "IBBOT_IB__PORT=4003\n")
    settings = load_settings(environ={})
    assert settings.ib.port == 4003
    assert settings.ib.host == "gateway"
    assert settings.source_files == (Path("settings.toml"), Path(".env"))


def test_env_beats_dotenv(tmp_path: Path) -> None:
    """An environment variable overrides the same variable in .env."""
    write(tmp_path / ".env", "IBBOT_IB__PORT=4003\nIBBOT_IB__CLIENT_ID=7\n")
    settings = load_settings(environ={"IBBOT_IB__PORT": "4004"})
    assert settings.ib.port == 4004
    assert settings.ib.client_id == 7


def test_flags_beat_env() -> None:
    """A --set flag overrides the environment; names are case-insensitive."""
    settings = load_settings(
        overrides={"ib.port": "4005"}, environ={"ibbot_ib__port": "4004", "IBBOT_IB__HOST": "gw"}
    )
    assert settings.ib.port == 4005
    assert settings.ib.host == "gw"


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit environ, os.environ is read."""
    monkeypatch.setenv("IBBOT_RISK__MAX_OPEN_ORDERS", "3")
    assert load_settings().risk.max_open_orders == 3


def test_config_flag_replaces_settings_toml(tmp_path: Path) -> None:
    """--config reads the given file instead of ./settings.toml."""
    write(tmp_path / "settings.toml", "[ib]\nport = 4001\n")
    other = write(tmp_path / "other.toml", "[ib]\nclient_id = 9\n")
    settings = load_settings(config_file=other, environ={})
    assert (settings.ib.port, settings.ib.client_id) == (4002, 9)


def test_env_file_can_be_disabled(tmp_path: Path) -> None:
    """env_file=None skips .env even when it exists."""
    write(tmp_path / ".env", "IBBOT_IB__PORT=4003\n")
    assert load_settings(environ={}, env_file=None).ib.port == 4002


def test_dotenv_ignores_other_tools_variables(tmp_path: Path) -> None:
    """Variables without the IBBOT_ prefix in .env (e.g. the gateway container's) are ignored."""
    write(tmp_path / ".env", "TWS_USERID=someone\nPORT=1\nIBBOT_IB__PORT=4003\n")
    assert load_settings(environ={}).ib.port == 4003


def test_text_values_parse_like_the_file_values() -> None:
    """Env and flag text becomes lists (comma or JSON), booleans, numbers, tables and None."""
    settings = load_settings(
        environ={
            "IBBOT_COLLECTOR__WATCHLIST": "AAPL, MSFT,KO",
            "IBBOT_COLLECTOR__REPORT_TYPES": '["ReportSnapshot"]',
            "IBBOT_IB__SIMULATE": "false",
            "IBBOT_RISK__MAX_POSITION_PCT": "0.5",
            "IBBOT_SIM__CONTROL_PORT": "off",
            "IBBOT_SIM__START": "2024-01-02T14:30:00+01:00",
            "IBBOT_STRATEGIES": '[{"name": "s", "class_path": "ibbot.clock.SimulatedClock",'
            ' "allocated_capital": 5, "params": {"k": 1}}]',
            "IBBOT_LOGGING": '{"level": "debug", "format": "json"}',
        }
    )
    assert settings.collector.watchlist == ["AAPL", "MSFT", "KO"]
    assert settings.collector.report_types == ["ReportSnapshot"]
    assert settings.ib.simulate is False
    assert settings.risk.max_position_pct == 0.5
    assert settings.sim.control_port is None
    assert settings.sim.start == datetime(2024, 1, 2, 13, 30, tzinfo=UTC)
    assert settings.strategies[0].params == {"k": 1}
    assert (settings.logging.level, settings.logging.format) == ("DEBUG", "json")


def test_ib_spellings_are_accepted() -> None:
    """Bar sizes, durations and price series accept IB's variants and are normalised."""
    settings = load_settings(
        overrides={
            "collector.bar_size": "5min",
            "collector.history_duration": "3d",
            "collector.what_to_show": "midpoint",
        },
        environ={},
    )
    assert settings.collector.bar_size is BarSize.MIN_5
    assert settings.collector.history_duration == "3 D"
    assert settings.collector.what_to_show is WhatToShow.MIDPOINT


def test_yaml_config_in_our_schema_loads(tmp_path: Path) -> None:
    """A YAML --config may use our own section names too."""
    path = write(tmp_path / "ours.yml", "ib:\n  port: 4001\nrisk:\n  max_open_orders: 2\n")
    settings = load_settings(config_file=path, environ={})
    assert (settings.ib.port, settings.risk.max_open_orders) == (4001, 2)


def test_empty_yaml_config_gives_defaults(tmp_path: Path) -> None:
    """An empty YAML file sets nothing."""
    path = write(tmp_path / "empty.yaml", "# nothing\n")
    assert load_settings(config_file=path, environ={}).model_dump() == Settings().model_dump()


# --- the plan's YAML schema ----------------------------------------------------------------------


def test_plan_example_maps_onto_our_schema() -> None:
    """The plan's example config maps ibkr->ib, data_store->store, "file"->parquet, src.->ibbot."""
    mapped = plan_config_to_settings(yaml.safe_load(PLAN_EXAMPLE))
    assert mapped == {
        "ib": {"host": "127.0.0.1", "port": 7497, "client_id": 1},
        "store": {"backend": "parquet", "path": "./data"},
        "collector": {"watchlist": ["AAPL", "MSFT", "GOOGL"], "fundamental_refresh_hours": 24},
        "strategies": [
            {
                "name": "example_value",
                "class_path": "ibbot.strategies.example_value.ExampleValueStrategy",
                "allocated_capital": 10000,
                "enabled": True,
                "params": {},
            }
        ],
    }


def test_plan_example_file_loads(tmp_path: Path) -> None:
    """The plan's example file loads as is; its strategy class is looked up under ibbot.strategies."""
    path = write(tmp_path / "config.yaml", PLAN_EXAMPLE)
    target = "ibbot.strategies.example_value.ExampleValueStrategy"
    try:
        strategy_module = importlib.util.find_spec("ibbot.strategies.example_value")
    except ModuleNotFoundError:  # ibbot.strategies itself is not there yet
        strategy_module = None
    if strategy_module is None:
        error = load_error(config_file=path, environ={})
        assert error.key == "strategies[0].class_path"
        assert error.value == target
        assert "cannot import module 'ibbot.strategies.example_value'" in error.reason
    else:
        settings = load_settings(config_file=path, environ={})
        assert settings.strategies[0].class_path == target


def test_plan_example_sections_take_effect(tmp_path: Path) -> None:
    """Every section of the plan's example reaches the settings (strategy class path aside)."""
    data = yaml.safe_load(PLAN_EXAMPLE)
    data["strategies"][0]["class_path"] = "src.clock.SimulatedClock"
    path = write(tmp_path / "plan.yaml", yaml.safe_dump(data))
    settings = load_settings(config_file=path, environ={})
    assert (settings.ib.host, settings.ib.port, settings.ib.client_id) == ("127.0.0.1", 7497, 1)
    assert settings.store.backend == "parquet"
    assert settings.store.path == Path("data")
    assert settings.collector.watchlist == ["AAPL", "MSFT", "GOOGL"]
    assert settings.collector.fundamental_refresh_hours == 24.0
    strategy = settings.strategies[0]
    assert strategy == StrategySettings(
        name="example_value", class_path="ibbot.clock.SimulatedClock", allocated_capital=10_000
    )


def test_plan_store_backend_postgres_needs_a_dsn(tmp_path: Path) -> None:
    """The plan's "postgres" backend is the PostgreSQL store; without a DSN it is a clear error."""
    path = write(tmp_path / "plan.yaml", "data_store:\n  backend: postgres\n")
    error = load_error(config_file=path, environ={})
    assert str(error).startswith("invalid setting store.dsn='<redacted>': is required with")
    dsn = "postgresql://ibbot:hunter2@db:5432/ibbot"
    settings = load_settings(config_file=path, environ={"IBBOT_STORE__DSN": dsn})
    assert settings.store.backend == "postgres"
    assert settings.store.dsn == dsn


def test_store_dsn_is_a_secret(tmp_path: Path) -> None:
    """The DSN may hold a password: masked in the dump, listed for the log redactor, never echoed."""
    dsn = "postgresql://ibbot:hunter2@db:5432/ibbot"
    settings = load_settings(environ={"IBBOT_STORE__BACKEND": "postgres", "IBBOT_STORE__DSN": dsn})
    assert dsn in settings.secret_values()
    assert "hunter2" not in repr(redacted_dump(settings))
    error = load_error(environ={"IBBOT_STORE__DSN": "mysql://root:hunter2@db/x"})
    assert "hunter2" not in str(error)
    assert "must be a postgresql:// URL" in str(error)


def test_plan_and_our_name_for_one_section_conflict(tmp_path: Path) -> None:
    """ibkr and ib in one file is ambiguous and refused."""
    path = write(tmp_path / "both.yaml", "ibkr:\n  port: 1\nib:\n  port: 2\n")
    assert load_error(config_file=path, environ={}).key == "ib"


# --- validation: one line naming key, value, reason ----------------------------------------------

INVALID: list[tuple[dict[str, str], str]] = [
    ({"ib.port": "70000"}, "invalid setting ib.port='70000': must be <= 65535"),
    ({"ib.port": "0"}, "invalid setting ib.port='0': must be >= 1"),
    ({"ib.port": "http"}, "invalid setting ib.port='http': must be a whole number"),
    ({"ib.client_id": "-1"}, "invalid setting ib.client_id='-1': must be >= 0"),
    ({"ib.host": " "}, "invalid setting ib.host=' ': must not be empty"),
    ({"ib.connect_timeout": "0"}, "invalid setting ib.connect_timeout='0': must be > 0"),
    ({"ib.simulate": "maybe"}, "invalid setting ib.simulate='maybe': must be true or false"),
    (
        {"ib.reconnect_initial_delay": "10", "ib.reconnect_max_delay": "5"},
        "invalid setting ib.reconnect_max_delay=5.0: must be >= reconnect_initial_delay (10.0)",
    ),
    (
        {"store.backend": "sqlite"},
        "invalid setting store.backend='sqlite': must be 'parquet' or 'postgres'",
    ),
    (
        {"collector.watchlist": "AAPL,msft"},
        "invalid setting collector.watchlist[1]='msft': must be an uppercase symbol",
    ),
    (
        {"collector.watchlist": '["AAPL", ""]'},
        "invalid setting collector.watchlist[1]='': must be an uppercase symbol",
    ),
    (
        {"collector.watchlist": "KO,KO"},
        "invalid setting collector.watchlist='KO,KO': 'KO' is listed twice",
    ),
    (
        {"collector.watchlist": "[AAPL"},
        "invalid setting collector.watchlist='[AAPL': not a valid JSON list",
    ),
    (
        {"collector.bar_size": "7 mins"},
        "invalid setting collector.bar_size='7 mins': unknown bar size '7 mins'; IB accepts",
    ),
    (
        {"collector.history_duration": "2 days"},
        "invalid setting collector.history_duration='2 days': must be IB's durationStr",
    ),
    (
        {"collector.history_duration": "0 D"},
        "invalid setting collector.history_duration='0 D': must be IB's durationStr",
    ),
    (
        {"collector.what_to_show": "volume"},
        "invalid setting collector.what_to_show='VOLUME': must be 'TRADES', 'MIDPOINT'",
    ),
    (
        {"collector.fundamental_refresh_hours": "0"},
        "invalid setting collector.fundamental_refresh_hours='0': must be > 0",
    ),
    (
        {"collector.report_types": "ReportSnapshot,Snapshot"},
        "invalid setting collector.report_types[1]='Snapshot': must be one of IB's report types",
    ),
    ({"risk.max_position_pct": "1.5"}, "invalid setting risk.max_position_pct='1.5': must be <= 1"),
    ({"risk.max_position_pct": "0"}, "invalid setting risk.max_position_pct='0': must be > 0"),
    ({"risk.max_open_orders": "0"}, "invalid setting risk.max_open_orders='0': must be >= 1"),
    (
        {"risk.min_order_notional": "50000"},
        "invalid setting risk.min_order_notional=50000.0: must be <= max_order_notional (25000.0)",
    ),
    (
        {"risk.on_reconciliation_mismatch": "panic"},
        "invalid setting risk.on_reconciliation_mismatch='panic': must be 'halt_symbol', "
        "'adopt_broker' or 'ignore'",
    ),
    (
        {"logging.level": "verbose"},
        "invalid setting logging.level='VERBOSE': must be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
    ),
    (
        {"logging.format": "xml"},
        "invalid setting logging.format='xml': must be 'auto', 'console' or 'json'",
    ),
    ({"sim.time_scale": "0"}, "invalid setting sim.time_scale='0': must be > 0"),
    ({"sim.port": "70000"}, "invalid setting sim.port='70000': must be <= 65535"),
    ({"sim.control_port": "-1"}, "invalid setting sim.control_port='-1': must be >= 0"),
    (
        {"sim.start": "2024-01-02T14:30:00"},
        "invalid setting sim.start='2024-01-02T14:30:00': must include a timezone",
    ),
    (
        {"sim.start": "yesterday"},
        "invalid setting sim.start='yesterday': must be an ISO 8601 date-time with a timezone "
        "(e.g. 2024-01-02T14:30:00Z): input is too short",
    ),
    (
        {"sim.symbols": "brk.b"},
        "invalid setting sim.symbols[0]='brk.b': must be an uppercase symbol",
    ),
    (
        {"sim.unavailable_fundamentals": '["AAPL", " "]'},
        "invalid setting sim.unavailable_fundamentals[1]=' ': must not be empty",
    ),
    ({"ib.prot": "1"}, "invalid setting ib.prot='<redacted>': unknown setting; ib has host, port,"),
    (
        {"strategies": "[{"},
        "invalid setting strategies='[{': not valid JSON: Expecting property name",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "expected"), INVALID, ids=[next(iter(o)) for o, _ in INVALID]
)
def test_each_rule_names_key_value_and_reason(overrides: dict[str, str], expected: str) -> None:
    """A value breaking a rule stops loading with one line: key, value, why, and who set it."""
    error = load_error(overrides=overrides, environ={})
    message = str(error)
    assert message.startswith(expected), message
    assert message.endswith(f"(set by --set {error.key.split('[')[0]})"), message
    assert "\n" not in message


STRATEGY_BASE = {"name": "s1", "class_path": "ibbot.clock.SimulatedClock", "allocated_capital": 1}


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (
            {"class_path": "SimulatedClock"},
            "strategies[0].class_path",
            "must be a dotted path 'package.module.ClassName'",
        ),
        (
            {"class_path": "../strategies/evil.Evil"},
            "strategies[0].class_path",
            "must be a dotted path 'package.module.ClassName'",
        ),
        (
            {"class_path": "\uff55nittest.__main__.X"},
            "strategies[0].class_path",
            "must be a dotted path 'package.module.ClassName'",
        ),
        ({"name": "a:b"}, "strategies[0].name", "must start with a letter or digit"),
        ({"name": ""}, "strategies[0].name", "must start with a letter or digit"),
        ({"allocated_capital": 0}, "strategies[0].allocated_capital", "must be > 0"),
        ({"params": [1]}, "strategies[0].params", "must be a table"),
        ({"colour": "red"}, "strategies[0].colour", "unknown setting; strategies[0] has name,"),
    ],
)
def test_strategy_rules(change: dict[str, Any], key: str, reason: str, tmp_path: Path) -> None:
    """A strategy entry with a bad field names the entry, the field and what is wrong."""
    path = write(tmp_path / "s.yaml", yaml.safe_dump({"strategies": [{**STRATEGY_BASE, **change}]}))
    error = load_error(config_file=path, environ={})
    assert error.key == key
    assert error.reason.startswith(reason), error.reason


def test_missing_required_strategy_field(tmp_path: Path) -> None:
    """A strategy without its class_path says the key is missing."""
    path = write(tmp_path / "s.toml", '[[strategies]]\nname = "x"\nallocated_capital = 1\n')
    error = load_error(config_file=path, environ={})
    assert (
        str(error)
        == f"invalid setting strategies[0].class_path=(missing): is required (set by {path})"
    )


def test_strategy_names_are_unique() -> None:
    """Two strategies with one name are refused (the name identifies its orders and state)."""
    twice = f"[{_json(STRATEGY_BASE)}, {_json(STRATEGY_BASE)}]"
    error = load_error(environ={"IBBOT_STRATEGIES": twice})
    assert error.key == "strategies"
    assert error.reason == "'s1' is listed twice (set by IBBOT_STRATEGIES)"


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data)


def test_live_account_needs_explicit_consent() -> None:
    """A non-paper account is refused unless live trading is allowed or the bot is read-only."""
    error = load_error(environ={"IBBOT_IB__ACCOUNT": "U7654321"})
    assert error.key == "ib.account"
    assert "U7654321" not in str(error)
    assert "live (non-paper) account" in error.reason
    assert load_settings(
        environ={"IBBOT_IB__ACCOUNT": "U7654321", "IBBOT_IB__ALLOW_LIVE_TRADING": "true"}
    ).ib.allow_live_trading
    assert load_settings(
        environ={"IBBOT_IB__ACCOUNT": "U7654321", "IBBOT_IB__READONLY": "1"}
    ).ib.readonly


def test_bad_secret_value_is_not_echoed() -> None:
    """An invalid account id is reported without showing it."""
    error = load_error(environ={"IBBOT_IB__ACCOUNT": "XY98 765"})
    assert str(error).startswith(
        "invalid setting ib.account='<redacted>': an IB account id has only"
    )
    assert "XY98" not in str(error)


def test_unknown_variables_are_errors(tmp_path: Path) -> None:
    """An IBBOT_ variable naming no section is an error wherever it is set, not silently ignored."""
    assert str(load_error(environ={"IBBOT_IB_PORT": "1"})).startswith(
        "invalid setting IBBOT_IB_PORT='<redacted>': unknown setting; sections are app, collector,"
    )
    assert load_error(overrides={"broker.port": "1"}, environ={}).key == "--set broker.port"
    misspelt_secret = load_error(environ={"IBBOT_IB_ACCOUNT": "U7654321"})
    assert misspelt_secret.value == REDACTED
    assert "U7654321" not in str(misspelt_secret)
    write(tmp_path / ".env", "IBBOT_GATEWAY__PORT=1\n")
    assert load_error(environ={}).key == "IBBOT_GATEWAY__PORT in .env"


def test_unknown_section_in_a_file(tmp_path: Path) -> None:
    """A misspelt section in settings.toml is named, with the sections that exist."""
    write(tmp_path / "settings.toml", "[ibkr]\nport = 1\n")
    assert str(load_error(environ={})) == (
        "invalid setting ibkr='<redacted>': unknown setting; sections are app, collector, "
        "fundamentals, ib, logging, notify, risk, sim, store, strategies (set by settings.toml)"
    )


def test_the_source_of_a_bad_value_is_named(tmp_path: Path) -> None:
    """The error names the variable or file that set the bad value, highest precedence first."""
    write(tmp_path / "settings.toml", "[ib]\nport = 99999\n")
    assert load_error(environ={}).reason == "must be <= 65535 (set by settings.toml)"
    write(tmp_path / ".env", "IBBOT_IB__PORT=99998\n")
    assert load_error(environ={}).reason == "must be <= 65535 (set by IBBOT_IB__PORT in .env)"
    assert load_error(environ={"IBBOT_IB__PORT": "99997"}).reason == (
        "must be <= 65535 (set by IBBOT_IB__PORT)"
    )


def test_other_pydantic_errors_keep_pydantic_wording(tmp_path: Path) -> None:
    """A rule without a phrase of ours is reported in pydantic's words, still on one line."""
    write(tmp_path / "settings.toml", "[ib]\nport = inf\n")
    assert str(load_error(environ={})) == (
        "invalid setting ib.port=inf: input should be a finite number (set by settings.toml)"
    )


def test_long_values_are_shortened(tmp_path: Path) -> None:
    """A long bad value is cut short so the error stays a readable line."""
    write(tmp_path / "settings.toml", f'[ib]\nport = "{"x" * 300}"\n')
    error = load_error(environ={})
    assert repr(error.value).endswith("...")
    assert len(repr(error.value)) == 100


def test_plan_strategy_entries_must_be_tables(tmp_path: Path) -> None:
    """A strategy entry that is not a table is refused, not guessed at."""
    path = write(tmp_path / "plan.yaml", "strategies:\n  - src.strategies.x.Y\n")
    error = load_error(config_file=path, environ={})
    assert (error.key, error.value) == ("strategies[0]", "src.strategies.x.Y")
    assert error.reason.startswith("must be a table")


def test_more_errors_are_counted(tmp_path: Path) -> None:
    """When several settings are bad, the line names the first and counts the others."""
    error = load_error(
        overrides={"ib.port": "0", "sim.port": "-1", "risk.max_open_orders": "0"}, environ={}
    )
    assert error.key == "ib.port"
    assert error.reason.endswith("(and 2 more invalid settings)")


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("bad.toml", "[ib\n", "not valid TOML: "),
        ("bad.yaml", "ib: [1\n", "not valid YAML: "),
        ("list.yaml", "- 1\n", "a YAML config must be a mapping of sections"),
        ("settings.json", "{}", "must be a .toml, .yaml or .yml file"),
    ],
)
def test_unreadable_config_files(name: str, text: str, reason: str, tmp_path: Path) -> None:
    """A malformed or unsupported config file is named with the reason."""
    path = write(tmp_path / name, text)
    error = load_error(config_file=path, environ={})
    assert (error.key, error.value) == ("config", str(path))
    assert error.reason.startswith(reason)
    assert "\n" not in str(error)


def test_missing_config_file() -> None:
    """--config naming no file is an error (an absent ./settings.toml is not)."""
    assert str(load_error(config_file=Path("nope.toml"), environ={})) == (
        "invalid setting config='nope.toml': no such file"
    )


def test_unreadable_config_file(tmp_path: Path) -> None:
    """A config file that is not UTF-8 text is named with the reason."""
    for name in ("latin.toml", "latin.yaml"):
        path = tmp_path / name
        path.write_bytes(b"\xff\xfe\x00")
        assert load_error(config_file=path, environ={}).reason.startswith(
            ("cannot read it", "not valid")
        )


# --- secrets -------------------------------------------------------------------------------------


def test_secret_values_and_redacted_dump() -> None:
    """Account ids are secrets: listed for the log redactor and masked in the dump when set."""
    settings = load_settings(environ={"IBBOT_IB__ACCOUNT": "DU7654321"})
    assert settings.secret_values() == {"DU7654321", "DU1234567"}
    dumped = redacted_dump(settings)
    assert dumped["ib"]["account"] == REDACTED
    assert dumped["sim"]["account"] == REDACTED
    assert "DU7654321" not in repr(dumped)
    assert redacted_dump(Settings())["ib"]["account"] == ""


# --- helpers -------------------------------------------------------------------------------------


def test_parse_override() -> None:
    """--set takes SECTION.KEY=VALUE (or SECTION=JSON); the value may contain '=' or be empty."""
    assert parse_override("ib.port=4002") == ("ib.port", "4002")
    assert parse_override(" strategies =[]") == ("strategies", "[]")
    assert parse_override("sim.start=") == ("sim.start", "")
    assert parse_override("logging.level=a=b") == ("logging.level", "a=b")
    for bad in ("ib.port", "ib..port=1", "ib.po rt=1", "=1", "ib.1=2"):
        with pytest.raises(ValueError, match=r"expected SECTION\.KEY=VALUE"):
            parse_override(bad)


def test_paper_accounts() -> None:
    """Paper accounts are the DU ones."""
    assert is_paper_account("DU1234567")
    assert not is_paper_account("U1234567")
    assert not is_paper_account("")
