"""Strategy class paths can run no foreign code (issue 12): a class path is checked against the
allowed sources before anything is imported, the class must be a strategy, and whatever a user's
module or constructor does (SystemExit included) refuses that one strategy and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import tomli_w

from ibbot import cli
from ibbot.errors import ConfigError
from ibbot.settings import load_settings
from ibbot.strategies import StrategySources, create_strategy
from tests.integration.app_support import app_settings, strategy
from tests.security.control_support import start_service, stop_service

if TYPE_CHECKING:
    from pathlib import Path

PROTOCOL_STRATEGY = """
class Mine:
    def __init__(self, *, name, allocated_capital, params=None):
        self.name = name
        self.allocated_capital = allocated_capital
        self.subscriptions = ["price_bar"]
        self.params = params or {}

    def on_event(self, event):
        return []

    def get_positions(self):
        return {}

    def get_state(self):
        return {}

    def load_state(self, state):
        pass
"""
FOREIGN = ["this.X", "unittest.__main__.X", "decimal.Decimal", "os.system"]


def config_check(
    tmp_path: Path, strategies: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    """`ibbot config check` in a fresh interpreter (nothing imported before), strategies from env."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IBBOT_")}
    environ["IBBOT_STRATEGIES"] = json.dumps(strategies)
    return subprocess.run(
        [sys.executable, "-m", "ibbot", "config", "check"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("class_path", FOREIGN)
def test_config_check_refuses_a_foreign_class_without_importing_it(
    tmp_path: Path, class_path: str
) -> None:
    """`config check` with class_path this.X (or unittest.__main__.X, decimal.Decimal): one line,
    exit 2, and the module never ran (no Zen of Python on stdout, no test runner)."""
    done = config_check(tmp_path, [strategy("s", class_path, capital=1_000)])
    assert (done.returncode, done.stdout) == (2, ""), done
    assert "Beautiful is better than ugly" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"{class_path.rpartition('.')[0]} is not an allowed strategy module" in done.stderr


def test_config_check_builds_every_strategy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`config check` refuses a shipped strategy with params {"quantity": "abc"}, naming it."""
    monkeypatch.chdir(tmp_path)
    bad = [strategy("abc", "ibbot.strategies.sma_cross.SmaCrossStrategy", quantity="abc")]
    code = cli.main(["--set", f"strategies={json.dumps(bad)}", "config", "check"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("ibbot: invalid setting strategies.abc.params.quantity='abc'")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (strategy("dec", "decimal.Decimal", capital=1_000), "strategies.dec.class_path"),
        (strategy("abc", "BuyOnContract", quantity="abc"), "strategies.abc"),
    ],
)
def test_run_refuses_to_start_naming_the_strategy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: dict[str, Any], key: str
) -> None:
    """`ibbot run` with a strategy that cannot be built (a foreign class, a constructor raising
    ValueError on its params) exits 2 with one line naming it, before anything starts."""
    settings = app_settings(tmp_path, strategies=[strategy("fine", "HoldQuantity"), entry])
    document = settings.model_dump(mode="json", exclude_none=True)
    document["sim"]["control_port"] = document["app"]["control_port"] = "off"
    config = tmp_path / "settings.toml"
    config.write_text(tomli_w.dumps(document))
    code = cli.main(["--config", str(config), "--log-format", "json", "run", "--duration", "30"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith(f"ibbot: invalid setting {key}"), err
    assert err.count("\n") == 1, err
    assert not (settings.store.path / "audit").exists()  # nothing started, nothing audited


def write(path: Path, text: str) -> Path:
    """``text`` at ``path`` (parents made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_file_in_a_strategy_directory_loads_by_path(tmp_path: Path) -> None:
    """`mine.Mine` is the class of <dir>/mine.py, `team.fast.Mine` of <dir>/team/fast.py; neither
    is importable under its own name (a strategy file named json.py cannot replace json)."""
    write(tmp_path / "mine.py", PROTOCOL_STRATEGY)
    write(tmp_path / "team" / "fast.py", PROTOCOL_STRATEGY)
    write(tmp_path / "json.py", PROTOCOL_STRATEGY)
    sources = StrategySources(directories=(tmp_path,))
    for class_path in ("mine.Mine", "team.fast.Mine", "json.Mine"):
        built = create_strategy(class_path, name="m", allocated_capital=1, sources=sources)
        assert type(built).__name__ == "Mine"
        assert type(built).__module__.endswith(class_path.rpartition(".")[0])
    assert "mine" not in sys.modules
    assert not hasattr(sys.modules["json"], "Mine")


def test_a_path_cannot_leave_its_directory(tmp_path: Path) -> None:
    """Parent steps are not names, and a file linked from outside the directory is refused."""
    directory = tmp_path / "strategies"
    write(tmp_path / "outside.py", PROTOCOL_STRATEGY)
    directory.mkdir()
    (directory / "linked.py").symlink_to(tmp_path / "outside.py")
    sources = StrategySources(directories=(directory,))
    with pytest.raises(ConfigError, match=r"expected 'package\.module\.ClassName'"):
        create_strategy("...outside.Mine", name="m", allocated_capital=1, sources=sources)
    with pytest.raises(ConfigError, match="leads outside the strategy directory"):
        create_strategy("linked.Mine", name="m", allocated_capital=1, sources=sources)
    with pytest.raises(ConfigError, match="outside is not an allowed strategy module"):
        create_strategy("outside.Mine", name="m", allocated_capital=1, sources=sources)


@pytest.mark.parametrize(
    ("module", "reason"),
    [
        ("import sys\nsys.exit(3)\n", "loading exits failed: SystemExit: 3"),
        ("raise KeyboardInterrupt\n", "loading exits failed: KeyboardInterrupt"),
        ("import no_such_module_anywhere\n", "cannot import exits: ModuleNotFoundError"),
    ],
)
def test_a_module_that_exits_refuses_its_strategy_only(
    tmp_path: Path, module: str, reason: str
) -> None:
    """A user module raising SystemExit or KeyboardInterrupt while loading is a ConfigError, and
    nothing of it stays in sys.modules."""
    file = write(tmp_path / "exits.py", module)
    sources = StrategySources(directories=(tmp_path,))
    with pytest.raises(ConfigError, match=reason):
        create_strategy("exits.Mine", name="x", allocated_capital=1, sources=sources)
    assert not [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == str(file)]


def test_a_class_that_is_no_strategy_is_never_called(tmp_path: Path) -> None:
    """A class without the Strategy protocol's methods is refused before it is instantiated."""
    marker = tmp_path / "called"
    write(
        tmp_path / "plain.py",
        f"class Mine:\n    def __init__(self, **kw):\n        open({str(marker)!r}, 'w').close()\n",
    )
    sources = StrategySources(directories=(tmp_path,))
    with pytest.raises(ConfigError, match="Mine is not a strategy"):
        create_strategy("plain.Mine", name="x", allocated_capital=1, sources=sources)
    assert not marker.exists()


def test_a_constructor_that_exits_refuses_its_strategy_only(tmp_path: Path) -> None:
    """A strategy whose constructor raises SystemExit is refused, naming the strategy."""
    write(tmp_path / "quits.py", PROTOCOL_STRATEGY.replace("self.name = name", "raise SystemExit"))
    sources = StrategySources(directories=(tmp_path,))
    with pytest.raises(ConfigError, match=r"strategies\.q=.*creating Mine failed.*SystemExit"):
        create_strategy("quits.Mine", name="q", allocated_capital=1, sources=sources)


def test_only_concrete_strategies_are_built() -> None:
    """An abstract base or another class of an allowed module is refused before it is called."""
    for class_path in ("ibbot.strategies.PipelineStrategy", "ibbot.strategies.base.ConfigError"):
        with pytest.raises(ConfigError, match="is not a strategy"):
            create_strategy(class_path, name="x", allocated_capital=1)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("app.strategy_packages", "unittest", "part of Python's standard library"),
        ("app.strategy_packages", "ibbot.live", "always allowed, nothing else of it"),
        ("app.strategy_packages", "my-strategies", "must be a dotted package name"),
        ("app.strategy_paths", "no/such/directory", "must be an existing directory"),
    ],
)
def test_strategy_sources_are_checked(key: str, value: str, reason: str) -> None:
    """The settings refuse a standard-library package, the rest of ibbot and missing directories."""
    with pytest.raises(ConfigError, match=reason):
        load_settings(overrides={key: value}, environ={}, env_file=None)


async def test_a_hot_add_of_a_module_that_exits_leaves_the_service_running(
    tmp_path: Path,
) -> None:
    """POST /strategies naming a file of a strategy directory that calls sys.exit() is a 400; the
    service runs on, and a good file of the same directory is added after it."""
    directory = tmp_path / "strategies"
    write(directory / "exits.py", "import sys\nsys.exit(0)\n")
    write(directory / "mine.py", PROTOCOL_STRATEGY)
    service = await start_service(tmp_path / "run", app={"strategy_paths": [str(directory)]})
    try:
        async with service.client() as client:
            refused = await client.post("/strategies", json=strategy("exits", "exits.Mine"))
            added = await client.post("/strategies", json=strategy("mine", "mine.Mine"))
        assert refused.status_code == 400
        assert "loading exits failed: SystemExit: 0" in refused.json()["error"]
        assert added.json() == {"added": "mine"}
        assert set((await service.assert_alive())["strategies"]) == {"first", "mine"}
    finally:
        await stop_service(service)
