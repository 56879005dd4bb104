"""``ibbot store copy``: a whole store moved between a directory and PostgreSQL, resumed, verified."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot import cli
from ibbot.clock import SimulatedClock
from ibbot.models import BarSize, Event, EventType
from ibbot.store import ParquetStore
from ibbot.store.factory import open_store_at
from ibbot.store.transfer import copy_store, plan_copy, verify
from ibbot.store.world import World, claim_world
from tests.unit.test_store import (
    FEB,
    JAN,
    T0,
    _contract,
    _decision,
    _order,
    bar,
    fundamental,
    hourly,
)

if TYPE_CHECKING:
    from pathlib import Path


class Interrupted(Exception):
    """Stands for Ctrl-C in the middle of a copy."""


def fill(root: Path) -> None:
    """A store with some of everything, across months, bar sizes and audit kinds."""
    clock = SimulatedClock(T0)
    with ParquetStore(root, clock=clock, run_id="run-1") as store:
        pseudonym = store.account_pseudonym("DU1234567")
        claim_world(root, World.account(pseudonym), run_id="run-1", now=T0)
        store.write_bars("AAPL", hourly(JAN + timedelta(days=30), 30))  # across a month boundary
        store.write_bars("AAPL", [], covering=(T0, T0 + timedelta(days=2)), bar_size="1 day")
        store.write_bars("AAPL", [bar(T0, size=BarSize.DAY_1, wap=1.5, count=3)])
        store.write_bars("BRK B", hourly(T0, 5, symbol="BRK B"))
        store.write_contract(_contract())
        store.write_fundamental("AAPL", fundamental(T0, 1.0))
        store.write_fundamental("AAPL", fundamental(T0, 2.0, source="sec"))
        store.save_strategy_state("sma_cross", {"account": "DU1234567", "n": 3})
        store.log_decision("sma_cross", _decision())
        order, result = _order()
        store.log_order("sma_cross", order, result)
        clock.advance(86_400)
        store.log_audit("lifecycle", {"event": "start"})
        for i in range(5):
            t = T0 + timedelta(days=i % 2, minutes=i)
            store.write_event(Event(EventType.PRICE_BAR, "AAPL", t, bar(t, 100.0 + i)))


def ibbot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["--log-level", "warning", *args])
    return code, capsys.readouterr().out


def test_a_store_goes_to_postgres_and_back_whole(
    tmp_path: Path, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Directory -> database -> directory: every record arrives, and both copies verify."""
    fill(tmp_path / "data")
    code, out = ibbot(
        capsys, "store", "copy", "--from", str(tmp_path / "data"), "--to", postgres_dsn
    )
    assert code == 0, out
    assert "verified: counts and checksums match" in out
    assert "3 pieces of bars (0 already there)" in out
    assert postgres_dsn not in out
    with open_store_at(postgres_dsn) as database, ParquetStore(tmp_path / "data") as files:
        assert verify(files, database) == []
        assert database.read_orders() == files.read_orders()
        assert database.account_pseudonym("DU1234567") == files.account_pseudonym("DU1234567")
        assert database.world_document()["world"].startswith("account:DU****567#")  # type: ignore[index]
    code, out = ibbot(
        capsys, "store", "copy", "--from", postgres_dsn, "--to", str(tmp_path / "back")
    )
    assert code == 0, out
    with ParquetStore(tmp_path / "back") as back, ParquetStore(tmp_path / "data") as files:
        assert verify(files, back) == []
        assert (tmp_path / "back" / "world.json").exists()


def test_an_interrupted_copy_is_finished_by_running_it_again(
    tmp_path: Path, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped half-way, the copy resumes: done pieces are skipped, nothing is doubled."""
    fill(tmp_path / "data")
    units = 0

    def stop_half_way(_: str) -> None:
        nonlocal units
        units += 1
        if units == 3:
            raise Interrupted

    with ParquetStore(tmp_path / "data") as source, open_store_at(postgres_dsn) as target:
        with pytest.raises(Interrupted):
            copy_store(source, target, plan_copy(source), advance=stop_half_way)
        assert verify(source, target) != []  # half a copy is not a copy
    code, out = ibbot(
        capsys, "store", "copy", "--from", str(tmp_path / "data"), "--to", postgres_dsn
    )
    assert code == 0, out
    assert "(2 already there)" in out
    code, out = ibbot(
        capsys, "store", "copy", "--from", str(tmp_path / "data"), "--to", postgres_dsn
    )
    assert code == 0, out
    assert "(3 already there)" in out  # a third run copies nothing again
    with ParquetStore(tmp_path / "data") as source, open_store_at(postgres_dsn) as target:
        assert len(target.read_audit("orders")) == 1
        assert len(target.read_events(JAN, FEB)) == 5


def test_verification_catches_a_difference(
    tmp_path: Path, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination that differs from the source fails verification, naming what differs."""
    fill(tmp_path / "data")
    assert (
        ibbot(capsys, "store", "copy", "--from", str(tmp_path / "data"), "--to", postgres_dsn)[0]
        == 0
    )
    with open_store_at(postgres_dsn) as target:
        target.write_bars("AAPL", [bar(T0, 999.0)])
    with ParquetStore(tmp_path / "data") as source, open_store_at(postgres_dsn) as target:
        found = {m.what for m in verify(source, target)}
    assert "bars AAPL 1 hour: sha256" in found


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same store on both sides, or no subcommand, is a usage error."""
    where = str(tmp_path / "data")
    assert ibbot(capsys, "store", "copy", "--from", where, "--to", where)[0] == 2
    assert ibbot(capsys, "store")[0] == 2
