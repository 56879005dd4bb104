"""The [fundamentals] settings: source order, the SEC User-Agent requirement and its secrecy."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibbot.commands.config import settings_toml
from ibbot.errors import ConfigError
from ibbot.settings import REDACTED, FundamentalsSettings, Settings, load_settings

AGENT = "Jane Doe jane@example.com"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty working directory: no settings.toml or .env of the developer's."""
    monkeypatch.chdir(tmp_path)


def load(**overrides: str) -> Settings:
    return load_settings(overrides=overrides, environ={}, env_file=None)


def test_defaults_use_ib_only_and_the_secs_hosts() -> None:
    """By default only IB is asked; the SEC hosts and 10 requests/s are the defaults for 'sec'."""
    settings = FundamentalsSettings()
    assert settings.sources == ["ib"]
    assert settings.sec_base_url == "https://data.sec.gov"
    assert settings.sec_www_url == "https://www.sec.gov"
    assert settings.sec_max_requests_per_second == 10


def test_sources_from_a_flag_in_order() -> None:
    """Sources come as comma-separated words (env var, --set) and keep their order."""
    settings = load(**{"fundamentals.sources": "sec,ib", "fundamentals.sec_user_agent": AGENT})
    assert settings.fundamentals.sources == ["sec", "ib"]


def test_sec_without_user_agent_is_one_line_config_error() -> None:
    """Using 'sec' without a User-Agent is refused at load time, naming the key."""
    with pytest.raises(ConfigError) as caught:
        load(**{"fundamentals.sources": "ib,sec"})
    assert caught.value.key == "fundamentals.sec_user_agent"
    assert "required when 'sec'" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("fundamentals.sources", "ib,yahoo"),
        ("fundamentals.sources", "ib,ib"),
        ("fundamentals.sec_max_requests_per_second", "11"),
        ("fundamentals.sec_base_url", "data.sec.gov"),
        ("fundamentals.sec_user_agent", "just-a-name"),
    ],
)
def test_bad_values_are_refused(key: str, value: str) -> None:
    """Unknown or repeated sources, a rate above the SEC's 10/s, a bare host, no contact: refused."""
    with pytest.raises(ConfigError) as caught:
        load(**{key: value})
    assert caught.value.key.startswith(key)  # a list item is named with its index


def test_user_agent_is_a_secret() -> None:
    """The contact is masked by `config show` and handed to the log redactor."""
    settings = load(**{"fundamentals.sec_user_agent": AGENT, "fundamentals.sources": "sec"})
    assert AGENT in settings.secret_values()
    shown = settings_toml(settings)
    assert AGENT not in shown
    assert f'sec_user_agent = "{REDACTED}"' in shown


def test_shipped_settings_file_loads() -> None:
    """settings.toml documents the [fundamentals] section and loads as the defaults."""
    shipped = Path(__file__).resolve().parents[2] / "settings.toml"
    settings = load_settings(config_file=shipped, overrides={}, environ={}, env_file=None)
    assert settings.fundamentals == FundamentalsSettings()
