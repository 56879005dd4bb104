"""Hostile settings: nesting bombs, alias bombs and misspelt secrets end in one line and exit 2.

Each source of settings is attacked through the CLI, the way a user (or whoever can write the
environment, ``.env`` or a settings file) would: ``ibbot config check``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from ibbot.cli import EXIT_USAGE, main

if TYPE_CHECKING:
    from pathlib import Path

DEEP = "[" * 100_000
CANARY = "DU8CANARY8"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variable from the developer's environment; an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def refused(capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    """Run ``ibbot config check``; assert exit 2 with one line on stderr, and return that line."""
    code = main([*flags, "config", "check"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err[-2000:]
    assert err.count("\n") == 1, err[-2000:]
    assert "Traceback" not in err
    return err


def bomb(levels: int) -> str:
    """A YAML "billion laughs": each anchor lists the previous one nine times."""
    lines = [
        "anchors:",
        '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    lines.extend(
        f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]" for level in range(1, levels)
    )
    lines.append(f"ib: *l{levels - 1}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "source", ["env-watchlist", "env-strategies", "dotenv", "set", "toml", "yaml"]
)
def test_deep_nesting_in_any_source_is_one_line_and_exit_2(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100,000 nested '[' in an env var, .env, --set or a settings file: one line, exit 2."""
    flags: list[str] = []
    if source == "env-watchlist":
        monkeypatch.setenv("IBBOT_COLLECTOR__WATCHLIST", DEEP)
    elif source == "env-strategies":
        monkeypatch.setenv("IBBOT_STRATEGIES", DEEP)
    elif source == "dotenv":
        (tmp_path / ".env").write_text(f"IBBOT_COLLECTOR__WATCHLIST={DEEP}\n", encoding="utf-8")
    elif source == "set":
        flags = ["--set", f"collector.watchlist={DEEP}"]
    elif source == "toml":
        (tmp_path / "settings.toml").write_text(f"[collector]\nwatchlist = {DEEP}\n")
    else:
        (tmp_path / "s.yaml").write_text(f"collector:\n  watchlist: {DEEP}\n")
        flags = ["--config", "s.yaml"]
    line = refused(capsys, *flags)
    assert "nested deeper than" in line
    assert len(line) < 400


def test_deeply_dotted_toml_keys_are_refused_unparsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TOML key of 20,000 dotted parts is refused before tomllib builds 20,000 nested tables."""
    (tmp_path / "settings.toml").write_text("ib" + ".a" * 20_000 + " = 1\n")
    assert "nested deeper than" in refused(capsys)


def test_deeply_nested_variable_names_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """IBBOT_IB__A__A__... with 5,000 levels: one short line, exit 2."""
    monkeypatch.setenv("IBBOT_IB" + "__A" * 5_000, "1")
    line = refused(capsys)
    assert "nested deeper than" in line
    assert len(line) < 300


def test_a_yaml_alias_bomb_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eight levels of aliases (43 million nodes) are refused by counting, not expanded or printed."""
    (tmp_path / "bomb.yaml").write_text(bomb(8))
    line = refused(capsys, "--config", "bomb.yaml")
    assert "aliases expand it to more than" in line


def test_a_recursive_yaml_alias_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An anchor that contains its own alias is an error, not an endless structure."""
    (tmp_path / "loop.yaml").write_text("strategies: &s [*s]\n")
    assert "alias refers to a node that contains it" in refused(capsys, "--config", "loop.yaml")


def test_a_huge_settings_file_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings file over 1 MiB is refused without being parsed."""
    (tmp_path / "settings.toml").write_text("# padding\n" * 200_000)
    assert "larger than" in refused(capsys)


@pytest.mark.parametrize(
    "source",
    ["env-key", "env-section", "set", "dotenv", "toml-key", "toml-section", "yaml-key"],
)
def test_a_misspelt_setting_never_echoes_its_value(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo'd key (in a known section or not) is named; its value, maybe a secret, is not shown."""
    flags: list[str] = []
    if source == "env-key":
        monkeypatch.setenv("IBBOT_IB__ACCOUNTT", CANARY)
    elif source == "env-section":
        monkeypatch.setenv("IBBOT_GATEWAY__ID", CANARY)
    elif source == "set":
        flags = ["--set", f"ib.acount={CANARY}"]
    elif source == "dotenv":
        (tmp_path / ".env").write_text(f"IBBOT_IB__ACCT={CANARY}\n")
    elif source == "toml-key":
        (tmp_path / "settings.toml").write_text(f'[ib]\nacount = "{CANARY}"\n')
    elif source == "toml-section":
        (tmp_path / "settings.toml").write_text(f'[broker]\nid = "{CANARY}"\n')
    else:
        (tmp_path / "s.yaml").write_text(f"ibkr:\n  acount: {CANARY}\n")
        flags = ["--config", "s.yaml"]
    line = refused(capsys, *flags)
    assert "unknown setting" in line
    assert CANARY not in line
    assert "<redacted>" in line
