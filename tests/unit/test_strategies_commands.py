"""`ibbot strategies available` (offline catalogue) and `ibbot strategies new` (a documented template
and its test), and the conventional strategies/ directory every default settings may load from."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from ibbot import cli
from ibbot.commands.strategy_new import class_name
from ibbot.settings import Settings, load_settings
from ibbot.strategies import USER_STRATEGIES, create_strategy

if TYPE_CHECKING:
    from pathlib import Path

MINE = """
from ibbot.strategies import PipelineStrategy, StrategyPipeline, SymbolState


class Mine(PipelineStrategy[SymbolState]):
    def build_pipeline(self):
        return StrategyPipeline([object()])

    def new_symbol_state(self, symbol):
        return SymbolState(symbol, 1)
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty working directory, no IBBOT_ variables, no PYTHONPATH."""
    for name in [n for n in os.environ if n.upper().startswith("IBBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)


def ibbot(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--log-level", "warning", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_module_in_the_working_directory_s_strategies_loads_without_pythonpath(
    tmp_path: Path,
) -> None:
    """The default settings allow strategies/ in the working directory (missing is fine), so
    class_path "mine.Mine" is strategies/mine.py; nothing else becomes importable."""
    assert Settings().app.strategy_paths == [USER_STRATEGIES]
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "mine.py").write_text(MINE)
    sources = load_settings(environ={}, env_file=None).app.strategy_sources()
    strategy = create_strategy("mine.Mine", name="mine", allocated_capital=1.0, sources=sources)
    assert type(strategy).__name__ == "Mine"


def test_strategies_available_lists_shipped_and_configured_strategies_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No running ibbot needed: every shipped strategy, the configured ones (with their values),
    each parameter on one line with its type, default and meaning, and a class that cannot be
    loaded with the reason."""
    (tmp_path / "settings.toml").write_text(
        "[[strategies]]\nname = 'sma_cross'\n"
        "class_path = 'ibbot.strategies.sma_cross.SmaCrossStrategy'\nallocated_capital = 1e5\n"
        "params = {fast = 5}\n"
        "[[strategies]]\nname = 'gone'\nclass_path = 'nowhere.Gone'\nallocated_capital = 1e5\n"
        "enabled = false\n"
    )
    code, out, err = ibbot(capsys, "strategies", "available")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "sma_cross  (shipped, configured: ibbot.strategies.sma_cross.SmaCrossStrategy)" in lines
    assert "example_value  (shipped: ibbot.strategies.example_value.ExampleValueStrategy)" in lines
    assert any(line.startswith("value_momentum  (shipped: ") for line in lines)
    [fast] = [line for line in lines if line.split()[:1] == ["fast"]]
    assert fast.split()[:5] == ["fast", "int", ">=", "1", "10"]
    assert fast.split()[5] == "5"  # configured
    assert fast.rstrip().endswith("length of the fast moving average, in bars")
    assert "gone  (configured (disabled): nowhere.Gone)" in lines
    assert any(
        "cannot be loaded: nowhere is not an allowed strategy module" in line for line in lines
    )
    assert "…" not in out


def test_strategies_new_writes_a_module_its_test_and_its_settings_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a directory without settings: strategies/my_breakout.py (MyBreakoutStrategy, documented),
    strategies/test_my_breakout.py, and a settings.toml that configures it; it builds from there."""
    code, out, err = ibbot(capsys, "strategies", "new", "my_breakout", "--capital", "25000")
    assert (code, err) == (0, "")
    module = (tmp_path / "strategies" / "my_breakout.py").read_text()
    test = (tmp_path / "strategies" / "test_my_breakout.py").read_text()
    assert "class MyBreakoutStrategy(PipelineStrategy[MyBreakoutState]):" in module
    assert 'class_path = "my_breakout.MyBreakoutStrategy"' in module
    assert "def dump_indicators" in module
    assert "def pipeline_input" in module
    assert "emplate" not in module + test
    assert '"my_breakout.MyBreakoutStrategy"' in test
    settings = load_settings(environ={}, env_file=None)
    [entry] = settings.strategies
    assert (entry.name, entry.class_path, entry.allocated_capital) == (
        "my_breakout",
        "my_breakout.MyBreakoutStrategy",
        25_000.0,
    )
    strategy = create_strategy(
        entry.class_path,
        name=entry.name,
        allocated_capital=entry.allocated_capital,
        sources=settings.app.strategy_sources(),
    )
    assert type(strategy).__name__ == class_name("my_breakout") == "MyBreakoutStrategy"
    assert "next:" in out


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Breakout", "is not a usable name"),
        ("class", "is not a usable name"),
        ("test_one", "starts with 'test'"),
        ("template", "the template's own name"),
    ],
)
def test_strategies_new_refuses_unusable_names(
    capsys: pytest.CaptureFixture[str], name: str, problem: str
) -> None:
    """One line, exit 2, nothing written."""
    code, _, err = ibbot(capsys, "strategies", "new", name)
    assert code == 2
    assert problem in err
    assert err.count("\n") == 1


def test_strategies_new_overwrites_nothing_and_keeps_a_settings_file_it_cannot_extend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing module is not replaced; a settings file that would not load with the new
    table (strategies given inline) is left byte for byte as it was; --no-register leaves it."""
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "taken.py").write_text("# mine\n")
    code, _, err = ibbot(capsys, "strategies", "new", "taken")
    assert code == 2
    assert "strategies/taken.py exist already" in err
    assert (tmp_path / "strategies" / "taken.py").read_text() == "# mine\n"

    inline = "strategies = []\n"
    (tmp_path / "settings.toml").write_text(inline)
    code, _, err = ibbot(capsys, "strategies", "new", "fresh")
    assert code == 2
    assert "settings.toml left as it was" in err
    assert (tmp_path / "settings.toml").read_text() == inline

    code, out, _ = ibbot(capsys, "strategies", "new", "other", "--no-register")
    assert code == 0
    assert "added" not in out
    assert (tmp_path / "settings.toml").read_text() == inline
    assert (tmp_path / "strategies" / "other.py").exists()
