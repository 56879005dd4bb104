"""What an `ibbot backtest` process imports: only what a backtest uses, so start-up stays short.

Each test runs a real process (a fresh interpreter: the test session's own imports would hide
everything) with stderr a pipe, as in a batch run or a benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from ibbot.models import BarSize, PriceBar
from ibbot.store import ParquetStore
from tests.unit.backtest_helpers import day

if TYPE_CHECKING:
    from pathlib import Path

# Libraries a backtest has no use for: rich (and what structlog would import with it), the live
# service's (IB API, HTTP, metrics, notifications, PostgreSQL, event loop), Ray, and the simulator.
NOT_IMPORTED = (
    "rich",
    "attr",
    "pygments",
    "ib_async",
    "uvloop",
    "httpx",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "apprise",
    "psycopg",
    "ray",
    "yaml",
    "ibbot.sim",
    "ibbot.live",
)

_PROBE = """
import json, sys
from ibbot.cli import main
code = main(sys.argv[1:])
loaded = sorted(sys.modules)
import rich.console  # still importable: structlog was imported with rich hidden, not removed
print(json.dumps({"code": code, "modules": loaded}))
"""


def _modules_of(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("IBBOT_")}
    env.pop("FORCE_TERMINAL", None)
    env.pop("TTY_COMPATIBLE", None)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    return report["code"], report["modules"]


def _heavy(modules: list[str]) -> list[str]:
    return [
        m
        for m in modules
        if m in NOT_IMPORTED or m.startswith(tuple(f"{n}." for n in NOT_IMPORTED))
    ]


def test_a_backtest_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    closes = [100.0 + (i % 7) - (i % 5) for i in range(60)]
    store.write_bars(
        "ABC",
        [
            PriceBar("ABC", day(i), c, c + 1, c - 1, c, 1_000.0, BarSize.DAY_1)
            for i, c in enumerate(closes)
        ],
    )
    argv = [
        "--log-format",
        "json",
        "--set",
        f"store.path={tmp_path / 'store'}",
        "backtest",
        "--start",
        day(0).date().isoformat(),
        "--end",
        day(59).date().isoformat(),
        "--strategy",
        "sma_cross",
        "--param",
        "sma_cross.fast=3",
        "--param",
        "sma_cross.slow=8",
        "--out",
        str(tmp_path / "out"),
    ]
    code, modules = _modules_of(argv, tmp_path)
    assert code == 0
    assert (tmp_path / "out" / "report.html").is_file()
    assert _heavy(modules) == []


def test_help_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    code, modules = _modules_of(["--help"], tmp_path)
    assert code == 0
    assert _heavy(modules) == []
    assert "pyarrow" not in modules
