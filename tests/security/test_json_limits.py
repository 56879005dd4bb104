"""Hostile JSON files under the store: nesting bombs and oversized documents are clear errors.

A file in the data directory may be crafted by anyone who can write there; reading it must give a
:class:`StoreError` (or a skipped line) naming the file, never a ``RecursionError`` that ends the
service, and the store must not write what it could not read back.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from ibbot.cli import main
from ibbot.clock import SimulatedClock
from ibbot.errors import StoreError
from ibbot.store import ParquetStore
from ibbot.store.errors import InvalidStoreInput

if TYPE_CHECKING:
    from pathlib import Path

DEEP = "[" * 100_000
DAY = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def test_a_deeply_nested_state_file_is_a_store_error(tmp_path: Path) -> None:
    """A strategy state file of 100,000 nested '[' is refused with the file named."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "sma.json").write_text(DEEP)
    with ParquetStore(tmp_path) as store, pytest.raises(StoreError, match="nested deeper than"):
        store.load_strategy_state("sma")


def test_a_deeply_nested_fundamentals_file_is_a_store_error(tmp_path: Path) -> None:
    """A fundamentals day file of nested brackets is refused with the file named."""
    directory = tmp_path / "fundamentals" / "AAPL"
    directory.mkdir(parents=True)
    (directory / "2026-03-04.json").write_text(DEEP)
    with ParquetStore(tmp_path) as store, pytest.raises(StoreError, match=r"2026-03-04\.json"):
        store.read_fundamental("AAPL")


def test_an_oversized_state_file_is_refused_unparsed(tmp_path: Path) -> None:
    """A state file over the store's document limit (a sparse 65 MiB file) is refused, not parsed."""
    (tmp_path / "state").mkdir()
    with (tmp_path / "state" / "big.json").open("wb") as handle:
        handle.truncate(65 << 20)
    with ParquetStore(tmp_path) as store, pytest.raises(StoreError, match="larger than"):
        store.load_strategy_state("big")


def test_a_deeply_nested_audit_line_is_skipped(tmp_path: Path) -> None:
    """An audit line of nested brackets is skipped like a torn line; the good lines are read."""
    with ParquetStore(tmp_path, clock=SimulatedClock(DAY)) as store:
        store.log_audit("fills", {"exec_id": "e1"})
        path = tmp_path / "audit" / "fills" / "2026-03-04.jsonl"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(DEEP + "\n")
        store.log_audit("fills", {"exec_id": "e2"})
        assert [e.record["exec_id"] for e in store.read_audit("fills")] == ["e1", "e2"]


def test_the_store_refuses_to_write_what_it_could_not_read_back(tmp_path: Path) -> None:
    """A strategy state nested deeper than the read limit is refused; no file is written."""
    state: object = 1
    for _ in range(100):
        state = [state]
    with ParquetStore(tmp_path) as store, pytest.raises(InvalidStoreInput, match="nested deeper"):
        store.save_strategy_state("deep", {"value": state})
    assert not (tmp_path / "state" / "deep.json").exists()


def test_a_crafted_control_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot strategies list` with a control.json of nested brackets: one line, exit 1, no crash."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "control.json").write_text('{"url": ' + "[" * 50_000)
    code = main(["strategies", "list"])
    err = capsys.readouterr().err
    assert code == 1, err[-2000:]
    assert err.count("\n") == 1, err[-2000:]
    assert "Traceback" not in err
    assert "RecursionError" not in err
