"""`ibbot audit` on market time with CSV/JSON export, and `ibbot positions` offline, on a store in
a temporary directory."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot.cli import EXIT_OK, main
from ibbot.clock import SimulatedClock
from ibbot.live import BOOK_STATE
from ibbot.models import BarSize, Fill, OrderSide, PriceBar, to_dict
from ibbot.store import ParquetStore
from ibbot.trading import PositionBook

if TYPE_CHECKING:
    from pathlib import Path

# The simulated market's Wednesday; the wall clock is any other day.
MARKET = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
RUN = "20260601T101010Z-3fa2"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variable from the developer's environment; an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def ibbot(capsys: pytest.CaptureFixture[str], store: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--log-level", "warning", "--set", f"store.path={store}", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def decision(when: datetime, ident: str) -> dict[str, object]:
    return {
        "symbol": "AAPL",
        "action": "hold",
        "target_weight": 0.0,
        "confidence": 1.0,
        "reasoning": f"why {ident}",
        "strategy_name": "sma",
        "decision_id": ident,
        "timestamp": when.isoformat(),
        "outcome": "no_order",
    }


def fill(exec_id: str, side: OrderSide, quantity: float, price: float, when: datetime) -> Fill:
    return Fill(
        exec_id, 1, 1, "AAPL", side, quantity, price, when, commission=1.0, strategy_name="sma"
    )


def test_audit_filters_on_the_records_market_time_and_exports_csv_and_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--since/--until select by the time the table shows (a warm-up decision's bar, the day
    before its line); --run keeps one run; --format csv and json export what is selected."""
    store = tmp_path / "data"
    with ParquetStore(store, clock=SimulatedClock(MARKET), run_id=RUN) as writer:
        # Warmed up on the day before, logged at the start of the simulated Wednesday.
        writer.log_audit("decisions", decision(MARKET - timedelta(days=1), "warm"), strategy="sma")
        writer.log_audit(
            "decisions", decision(MARKET + timedelta(minutes=5), "live"), strategy="sma"
        )
    with ParquetStore(store, clock=SimulatedClock(MARKET), run_id="other") as writer:
        writer.log_audit(
            "decisions", decision(MARKET + timedelta(minutes=9), "else"), strategy="sma"
        )

    code, out, _ = ibbot(
        capsys, store, "audit", "decisions", "--since", "2026-03-04", "--format", "json"
    )
    assert code == EXIT_OK
    lines = json.loads(out)
    assert [line["record"]["decision_id"] for line in lines] == ["live", "else"]
    assert lines[0]["run_id"] == RUN
    assert lines[0]["market_time"] == (MARKET + timedelta(minutes=5)).isoformat()

    code, out, _ = ibbot(
        capsys, store, "audit", "decisions", "--until", "2026-03-04T15:06Z", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["reasoning"] for row in rows] == ["why warm", "why live"]
    assert rows[0]["time"] == (MARKET - timedelta(days=1)).isoformat()
    assert rows[0]["run id"] == RUN

    code, out, _ = ibbot(capsys, store, "audit", "decisions", "--run", "other", "--format", "json")
    assert [line["record"]["decision_id"] for line in json.loads(out)] == ["else"]
    code, out, _ = ibbot(capsys, store, "audit", "decisions", "--since", "2026-03-05")
    assert code == EXIT_OK
    assert "0 of 0 decisions" in out


def test_positions_come_from_the_saved_book_the_fills_since_and_the_last_prices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`ibbot positions`: the saved book plus a fill audited after the save, marked at the last
    stored close before then: quantity, average cost, realized and unrealized P&L, equity."""
    store = tmp_path / "data"
    book = PositionBook()
    book.apply_fill(fill("e1", OrderSide.BUY, 10, 100.0, MARKET))
    clock = SimulatedClock(MARKET + timedelta(minutes=1))
    with ParquetStore(store, clock=clock, run_id=RUN) as writer:
        writer.save_strategy_state(
            BOOK_STATE,
            {
                "world": "embedded-simulator:" + RUN,
                "run_id": RUN,
                "saved_at": clock.now().isoformat(),
                "book": book.dump(),
            },
        )
        clock.advance(60)
        sold = fill("e2", OrderSide.SELL, 4, 110.0, clock.now())
        writer.log_audit("fills", to_dict(sold), strategy="sma", symbol="AAPL")
        writer.write_bars(
            "AAPL",
            [
                PriceBar("AAPL", MARKET, 100, 106, 99, 105.0, 1e4, BarSize.MIN_1),
                PriceBar("AAPL", MARKET + timedelta(hours=1), 1, 1, 1, 1.0, 1e4, BarSize.MIN_1),
            ],
        )
    with ParquetStore(store, clock=clock, run_id="another-run") as writer:
        writer.log_audit("fills", to_dict(fill("x", OrderSide.BUY, 99, 1.0, clock.now())))
    config = tmp_path / "settings.toml"
    config.write_text(
        '[[strategies]]\nname = "sma"\nclass_path = "ibbot.strategies.sma_cross.SmaCrossStrategy"\n'
        "allocated_capital = 1000.0\n"
    )
    code, out, _ = ibbot(capsys, store, "--config", str(config), "positions", "--format", "json")
    assert code == EXIT_OK
    statement = json.loads(out)
    assert statement["fills_replayed"] == 1  # this run's fill; another run's is another account's
    (sma,) = statement["strategies"]
    (aapl,) = sma["positions"]
    assert (aapl["symbol"], aapl["quantity"], aapl["avg_cost"], aapl["price"]) == (
        "AAPL",
        6.0,
        100.0,
        105.0,
    )
    assert aapl["unrealized_pnl"] == pytest.approx(30.0)
    assert sma["realized_pnl"] == pytest.approx(4 * 10.0 - 2.0)  # two commissions of 1
    assert sma["equity"] == pytest.approx(1000.0 + 38.0 + 30.0)

    code, out, _ = ibbot(capsys, store, "--config", str(config), "positions", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(row["symbol"], row["quantity"]) for row in rows] == [("AAPL", "6.0"), ("(total)", "")]
    assert float(rows[1]["equity"]) == pytest.approx(1068.0)
    code, out, _ = ibbot(capsys, store, "--config", str(config), "positions")
    assert code == EXIT_OK
    assert "1,068.00" in out


def test_positions_without_a_saved_book_say_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No book saved yet: one line saying so, exit 0."""
    code, out, err = ibbot(capsys, tmp_path / "data", "positions")
    assert (code, out) == (EXIT_OK, "")
    assert "no position book is saved" in err


def test_audit_piped_to_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    """`ibbot audit --format json | head -1`: the closed pipe ends the command with exit 0 and no
    traceback (it printed a BrokenPipeError traceback as a crash before)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    store = tmp_path / "data"
    with ParquetStore(store, clock=SimulatedClock(MARKET), run_id=RUN) as writer:
        for i in range(3000):  # well over a pipe's 64 KiB buffer
            when = MARKET + timedelta(seconds=i)
            writer.log_audit("decisions", decision(when, f"d{i:05d}"), strategy="sma")
    command = [sys.executable, "-m", "ibbot", "--log-level", "warning"]
    command += ["--set", f"store.path={store}", "audit", "decisions", "--format", "csv"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        err = process.stderr.read().decode()
        code = process.wait(timeout=120)
    assert first.strip()
    assert code == EXIT_OK, err
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
