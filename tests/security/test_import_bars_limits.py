"""Hostile CSV files for `ibbot import-bars`: absurd timestamps and files without line breaks.

Both end in one line per problem and exit 2 with the store untouched; a file without line breaks is
refused after its first row's worth of characters, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from ibbot.cli import EXIT_USAGE, main

if TYPE_CHECKING:
    from pathlib import Path

HEADER = "Date,Open,High,Low,Close,Volume\n"
GOOD = (
    HEADER + "2024-01-02T10:00:00-05:00,10,11,9,10.5,100\n2024-01-02T10:01:00-05:00,10,11,9,10,50\n"
)
# Far beyond a CSV row; a whole file of it, read as one line, cost 2.5 times its size in memory.
BIG_FILE_MIB = 128
# The interpreter with ibbot's CLI loaded peaks near 100 MB; reading the big file whole, near 450 MB.
RSS_CAP_MB = 200


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variable from the developer's environment; an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def seeded_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, bytes]:
    """Import two good 1-minute bars into ./data; return the store's files."""
    (tmp_path / "good.csv").write_text(GOOD)
    assert main(["import-bars", "good.csv", "--symbol", "AAA", "--bar-size", "1 min"]) == 0
    capsys.readouterr()
    before = snapshot(tmp_path / "data")
    assert before
    return before


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00", "1899-12-31", "2201-01-01"]
)
@pytest.mark.parametrize("bar_size", ["1 min", "1 day"])
def test_timestamps_outside_1900_to_2200_are_refused_by_row(
    stamp: str, bar_size: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bar dated year 1 or 9999 (or just outside 1900..2200) is a bad row named by its line."""
    before = seeded_store(tmp_path, capsys)
    (tmp_path / "bars.csv").write_text(HEADER + f"{stamp},10,11,9,10,1\n")
    code = main(["import-bars", "bars.csv", "--symbol", "AAA", "--bar-size", bar_size])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err[-2000:]
    assert f"bars.csv: line 2: date '{stamp}' is outside the years 1900 to 2200" in err
    assert "Traceback" not in err
    assert snapshot(tmp_path / "data") == before


def test_a_big_file_without_line_breaks_is_refused_in_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """128 MiB without a line break: one clear line, exit 2, peak RSS under 200 MB, store unchanged."""
    before = seeded_store(tmp_path, capsys)
    big = tmp_path / "big.csv"
    chunk = b"1" * (1 << 20)
    with big.open("wb") as handle:
        handle.write(HEADER.encode())
        for _ in range(BIG_FILE_MIB):
            handle.write(chunk)
    # A fresh interpreter, so its peak is this import's alone. Its VmHWM, not getrusage: Linux keeps
    # the maximum RSS across exec, so a child of a big pytest process would report pytest's size.
    script = (
        "import json, re\n"
        "from pathlib import Path\n"
        "from ibbot.cli import main\n"
        "code = main(['import-bars', 'big.csv', '--symbol', 'AAA', '--bar-size', '1 min'])\n"
        "status = Path('/proc/self/status').read_text()\n"
        "peak = int(re.search(r'VmHWM:\\s*(\\d+) kB', status)[1])\n"
        "print(json.dumps({'code': code, 'peak_kib': peak}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == EXIT_USAGE, done.stderr[-2000:]
    assert "big.csv: line 2 is longer than" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert report["peak_kib"] < RSS_CAP_MB * 1024, report
    assert snapshot(tmp_path / "data") == before
