"""The ibbot command: parsing, the command table, config show/check, exit codes, and the real exit path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ibbot import __version__, cli
from ibbot.cli import COMMANDS, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Command, main
from ibbot.errors import ConfigError, StoreError
from ibbot.settings import REDACTED, load_settings

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variable from the developer's environment; an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    assert run_cli(capsys, "--version") == (EXIT_OK, f"ibbot {__version__}\n", "")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help exits 0 and lists each command of the table."""
    code, out, _ = run_cli(capsys, "--help")
    assert code == EXIT_OK
    for command in COMMANDS:
        assert command.name in out


def test_command_table_is_sorted_and_unique() -> None:
    """Commands are registered in one table, sorted by name, each name once."""
    names = [command.name for command in COMMANDS]
    assert names == sorted(set(names))
    assert cli.DEFAULT_COMMAND in names


def test_no_command_parses_as_the_main_job() -> None:
    """Plain `ibbot` is `ibbot run`, and the options given belong to `run` (`--duration`)."""
    parser = cli.build_parser()
    args = cli._parse(parser, ["--log-level", "warning", "--duration", "60"])
    assert (args.command, args.duration, args.log_level) == ("run", 60.0, "WARNING")
    assert cli._parse(parser, []).command == "run"
    assert cli._parse(parser, ["--config", "run.toml", "check"]).command == "check"


def test_run_command_by_name_takes_global_options_after_it() -> None:
    """`ibbot run` is the same job; global options may follow the command."""
    args = cli._parse(cli.build_parser(), ["run", "--log-format", "json", "--duration", "1.5"])
    assert (args.command, args.log_format, args.duration) == ("run", "json", 1.5)


@pytest.mark.parametrize("duration", ["0", "-5", "soon"])
def test_a_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str], duration: str) -> None:
    """--duration must be a positive number of seconds: exit 2 with one line, nothing run."""
    code, out, err = run_cli(capsys, "--duration", duration)
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert "expected a number of seconds > 0" in err


def test_config_check_names_the_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """config check prints OK with the settings files read, lowest precedence first."""
    assert run_cli(capsys, "config", "check") == (
        EXIT_OK,
        "configuration OK: none (defaults, environment and flags only)\n",
        "",
    )
    (tmp_path / "settings.toml").write_text("[ib]\nport = 4001\n")
    (tmp_path / ".env").write_text("IBBOT_IB__CLIENT_ID=3\n")
    assert run_cli(capsys, "config", "check") == (
        EXIT_OK,
        "configuration OK: settings.toml, .env\n",
        "",
    )


def test_config_show_prints_toml_with_secrets_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """config show prints the effective settings as TOML; account ids are masked."""
    monkeypatch.setenv("IBBOT_IB__ACCOUNT", "DU7654321")
    code, out, err = run_cli(capsys, "config", "show", "--set", "ib.port=4001")
    assert (code, err) == (EXIT_OK, "")
    shown = tomllib.loads(out)
    assert shown["ib"]["port"] == 4001
    assert shown["ib"]["account"] == REDACTED
    assert shown["sim"]["account"] == REDACTED
    assert "DU7654321" not in out
    assert "DU1234567" not in out
    assert out.startswith("# ibbot's effective settings; files read: none")


def test_config_show_output_loads_back(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The TOML of config show, used as --config, gives the same settings (secrets aside)."""
    overrides = [
        "--set",
        "sim.control_port=off",
        "--set",
        "sim.start=2024-01-02T14:30:00Z",
        "--set",
        'strategies=[{"name": "s", "class_path": "ibbot.clock.SimulatedClock", '
        '"allocated_capital": 5, "params": {"fast": 5, "tags": ["a"]}}]',
        "--set",
        "collector.bar_size=1 day",
    ]
    code, out, _ = run_cli(capsys, "config", "show", *overrides)
    assert code == EXIT_OK
    shown = tmp_path / "shown.toml"
    shown.write_text(out)
    original = load_settings(overrides=dict(o.split("=", 1) for o in overrides[1::2]), environ={})
    reloaded = load_settings(config_file=shown, environ={}, overrides={"sim.account": "DU1234567"})
    assert reloaded.model_dump() == original.model_dump()


INVALID_SOURCES: list[tuple[str, list[str], dict[str, str], dict[str, str]]] = [
    ("flag", ["--set", "ib.port=70000"], {}, {}),
    ("flag after command", ["config", "check", "--set", "ib.port=70000"], {}, {}),
    ("env", [], {"IBBOT_IB__PORT": "70000"}, {}),
    ("dotenv", [], {}, {".env": "IBBOT_IB__PORT=70000\n"}),
    ("toml", [], {}, {"settings.toml": "[ib]\nport = 70000\n"}),
    ("yaml", ["--config", "plan.yaml"], {}, {"plan.yaml": "ibkr:\n  port: 70000\n"}),
]


@pytest.mark.parametrize(
    ("argv", "env", "files"),
    [case[1:] for case in INVALID_SOURCES],
    ids=[case[0] for case in INVALID_SOURCES],
)
def test_bad_setting_from_any_source_is_one_line_and_exit_2(
    argv: list[str],
    env: dict[str, str],
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A bad setting from any source: exit 2, one line naming key, value and reason, no traceback."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out, err = run_cli(capsys, *(argv or ["config", "check"]))
    assert (code, out) == (EXIT_USAGE, "")
    assert err.count("\n") == 1
    assert err.startswith("ibbot: invalid setting ib.port=")
    assert "70000" in err
    assert ": must be <= 65535 (set by " in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--set", "nonsense"],
        ["config"],
        ["config", "list"],
        ["nosuchcommand"],
        ["--log-level", "loud"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed command line exits 2 with argparse's usage message."""
    code, _, err = run_cli(capsys, *argv)
    assert code == EXIT_USAGE
    assert "usage: ibbot" in err


def test_missing_config_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """--config naming no file is a configuration error."""
    code, _, err = run_cli(capsys, "--config", "missing.toml", "config", "check")
    assert code == EXIT_USAGE
    assert err == "ibbot: invalid setting config='missing.toml': no such file\n"


def test_log_flags_override_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--log-level and --log-format beat IBBOT_LOGGING__* and are case-insensitive."""
    monkeypatch.setenv("IBBOT_LOGGING__LEVEL", "ERROR")
    monkeypatch.setenv("IBBOT_LOGGING__FORMAT", "console")
    code, out, _ = run_cli(capsys, "--log-level", "debug", "--log-format", "json", "config", "show")
    assert code == EXIT_OK
    shown = tomllib.loads(out)
    assert shown["logging"] == {"level": "DEBUG", "format": "json"}


def test_flags_before_and_after_the_command_combine(capsys: pytest.CaptureFixture[str]) -> None:
    """--set given before and after the command all apply; the later one wins for the same key."""
    code, out, _ = run_cli(
        capsys,
        "--set",
        "ib.port=4001",
        "--set",
        "ib.client_id=5",
        "config",
        "show",
        "--set",
        "ib.client_id=6",
    )
    assert code == EXIT_OK
    shown = tomllib.loads(out)
    assert (shown["ib"]["port"], shown["ib"]["client_id"]) == (4001, 6)


# --- exit codes of failing commands ---------------------------------------------------------------


def _raise_config_error(args: argparse.Namespace, settings: Settings) -> int:
    raise ConfigError("ib.host", "gateway", "does not resolve")


def _raise_store_error(args: argparse.Namespace, settings: Settings) -> int:
    raise StoreError("data/prices/AAPL/2024-01.parquet is not a Parquet file")


def _crash(args: argparse.Namespace, settings: Settings) -> int:
    raise RuntimeError("bug with DU1234567 inside")


def _interrupt(args: argparse.Namespace, settings: Settings) -> int:
    raise KeyboardInterrupt


def _returns_3(args: argparse.Namespace, settings: Settings) -> int:
    return 3


@pytest.fixture
def failing_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that fail in each way, registered like real ones."""
    monkeypatch.setattr(
        cli,
        "COMMANDS",
        (
            Command("config-error", "raises ConfigError", run=_raise_config_error),
            Command("crash", "raises RuntimeError", run=_crash),
            Command("interrupt", "raises KeyboardInterrupt", run=_interrupt),
            Command("returns-3", "returns 3", run=_returns_3),
            Command("store-error", "raises StoreError", run=_raise_store_error),
        ),
    )


@pytest.mark.usefixtures("failing_commands")
@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        (
            "config-error",
            EXIT_USAGE,
            "ibbot: invalid setting ib.host='gateway': does not resolve\n",
        ),
        (
            "store-error",
            EXIT_FAILURE,
            "ibbot: error: data/prices/AAPL/2024-01.parquet is not a Parquet file\n",
        ),
        ("interrupt", EXIT_INTERRUPTED, "ibbot: interrupted\n"),
        ("returns-3", 3, ""),
    ],
)
def test_command_outcomes_map_to_exit_codes(
    command: str, code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """ConfigError exits 2, other ibbot errors 1, Ctrl-C 130, each with one line; a return value passes."""
    assert run_cli(capsys, command) == (code, "", message)


@pytest.mark.usefixtures("failing_commands")
def test_crash_exits_1_with_a_redacted_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """An unexpected exception is logged with its traceback (secrets masked) and exits 1."""
    code, _, err = run_cli(capsys, "--log-format", "json", "crash")
    assert code == EXIT_FAILURE
    [record] = [json.loads(line) for line in err.splitlines()]
    assert record["event"] == "cli.command_crashed"
    assert record["command"] == "crash"
    assert "RuntimeError: bug with *** inside" in record["exception"]
    assert "DU1234567" not in err


# --- the real process ------------------------------------------------------------------------------


def _python(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def _clean_env() -> dict[str, str]:
    return {
        name: value for name, value in os.environ.items() if not name.upper().startswith("IBBOT_")
    }


def test_python_m_ibbot_exits_2_on_a_bad_env_var(tmp_path: Path) -> None:
    """`python -m ibbot config check` with a bad env var: exit status 2, one line, no traceback."""
    result = _python(
        "-m",
        "ibbot",
        "config",
        "check",
        env={**_clean_env(), "IBBOT_IB__PORT": "70000"},
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_USAGE
    assert result.stdout == ""
    assert result.stderr == (
        "ibbot: invalid setting ib.port='70000': must be <= 65535 (set by IBBOT_IB__PORT)\n"
    )


def test_cli_import_stays_light(tmp_path: Path) -> None:
    """Importing the CLI (all that --help and --version need) loads neither pyarrow nor ib_async."""
    code = (
        "import sys, ibbot.cli; "
        "print(sorted(m for m in ('pyarrow', 'ib_async', 'pydantic_settings') if m in sys.modules))"
    )
    result = _python("-c", code, env=_clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_sim_command_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    """`ibbot sim` is registered and refuses to expose the gateway without --allow-remote."""
    assert main(["sim", "--host", "0.0.0.0", "--port", "0"]) == EXIT_USAGE
    assert "not a loopback address" in capsys.readouterr().err
