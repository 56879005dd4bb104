"""`ibbot import-bars` and `ibbot backtest` end to end on a store in a temporary directory."""

from __future__ import annotations

import json
import math
import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from ibbot.commands.backtest import default_out_dir
from ibbot.models import BarSize, PriceBar
from ibbot.settings import Settings
from ibbot.store import ParquetStore

if TYPE_CHECKING:
    from pathlib import Path

# The store of the default settings, relative to the working directory: the embedded simulator's.
DATA = Settings().store.path
OUTPUTS = (
    "trades.csv",
    "equity.csv",
    "metrics.json",
    "decisions.jsonl",
    "report.html",
    "report.png",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IBBOT_ variable from the developer's environment; an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("IBBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_csv(path: Path, days: int = 300, seed: int = 3) -> Path:
    """A seeded random walk of weekday daily bars, Yahoo-style (with an Adj Close column)."""
    rng = random.Random(seed)
    price, current = 100.0, date(2021, 1, 1)
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    while len(lines) <= days:
        current += timedelta(days=1)
        if current.weekday() >= 5:
            continue
        open_ = price
        price *= math.exp(rng.gauss(0.0, 0.02))
        high, low = max(open_, price) * 1.005, min(open_, price) * 0.995
        lines.append(f"{current},{open_:.2f},{high:.2f},{low:.2f},{price:.2f},{price:.2f},1000000")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--log-level", "warning", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def backtest_args(out: str, *extra: str) -> list[str]:
    return [
        "backtest",
        "--start",
        "2021-01-01",
        "--end",
        "2022-12-31",
        "--strategy",
        "sma_cross",
        "--param",
        "sma_cross.fast=5",
        "--param",
        "sma_cross.slow=20",
        "--param",
        "sma_cross.weight=0.2",
        "--capital",
        "100000",
        "--out",
        out,
        *extra,
    ]


def test_import_bars_happy_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A CSV becomes daily bars in the store, keyed at midnight UTC of each date; exit 0."""
    csv = write_csv(tmp_path / "aapl.csv", days=10)
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "aapl")
    assert code == EXIT_OK
    assert "column 'Adj Close' ignored" in err
    assert out.startswith("imported 10 1 day bars of AAPL")
    bars = ParquetStore(tmp_path / DATA).read_bars(
        "AAPL", datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC)
    )
    assert [bar.timestamp for bar in bars][:2] == [
        datetime(2021, 1, 4, tzinfo=UTC),
        datetime(2021, 1, 5, tzinfo=UTC),
    ]
    assert bars[0].bar_size is BarSize.DAY_1


def test_import_bars_threshold(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Bad rows are listed with line numbers; over the threshold nothing is written (exit 2)."""
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02,1,1,1,1,1\n"
        "2024-01-03,1,0.5,2,1,1\n"
        "2024-01-04,x,1,1,1,1\n"
        "2024-01-05,1,1,1,1,1\n"
    )
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA", "--max-bad-rows", "1")
    assert code == EXIT_USAGE
    assert out == ""
    assert f"{csv}: line 3: high 0.5 < low 2" in err
    assert f"{csv}: line 4: unparsable open 'x'" in err
    assert "2 of 4 rows are bad (more than --max-bad-rows 1); nothing was imported" in err
    assert not (tmp_path / DATA).exists()
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA", "--max-bad-rows", "2")
    assert code == EXIT_OK
    assert "2 bad rows skipped" in out
    assert len(ParquetStore(tmp_path / DATA).symbols()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--symbol", "AAA", "--bar-size", "3 days"], "unknown bar size '3 days'"),
        (["--symbol", "AAA", "--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--symbol", "../x"], "invalid symbol '../X'"),
        (["--symbol", "AAA", "--max-bad-rows", "-1"], "expected a whole number >= 0"),
    ],
)
def test_import_bars_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    """Each bad option: one line naming the problem, exit 2."""
    csv = write_csv(tmp_path / "a.csv", days=3)
    code, _, err = run(capsys, "import-bars", str(csv), *argv)
    assert code == EXIT_USAGE
    assert message in err


def test_import_bars_without_good_rows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A header without rows imports nothing and says so."""
    csv = tmp_path / "empty.csv"
    csv.write_text("Date,Open,High,Low,Close,Volume\n")
    code, _, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA")
    assert (code, err.strip()) == (EXIT_USAGE, f"ibbot: {csv}: no bars to import")


def test_backtest_end_to_end_is_deterministic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two runs of the same inputs write byte-identical files; the report holds the chart data."""
    assert run(capsys, "import-bars", str(write_csv(tmp_path / "a.csv")), "--symbol", "AAA")[0] == 0
    code, out, err = run(capsys, *backtest_args("one"))
    assert (code, err) == (EXIT_OK, "")
    assert "report: one/report.html" in out
    assert run(capsys, *backtest_args("two"))[0] == EXIT_OK
    for name in OUTPUTS:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), (
            name
        )
    metrics = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert metrics["trade_count"] > 0
    assert metrics["period"]["bars"] == 300
    trades = (tmp_path / "one" / "trades.csv").read_text().splitlines()
    assert (
        trades[0]
        == "timestamp,symbol,side,quantity,price,commission,strategy,decision_id,realized_pnl,leg"
    )
    assert len(trades) == metrics["trade_count"] + 1
    html = (tmp_path / "one" / "report.html").read_text()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert 'id="equity"' in html
    assert 'id="drawdown"' in html
    assert "<polyline points=" in html
    assert "Monthly returns" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    start = html.index('id="backtest-data">') + len('id="backtest-data">')
    data = json.loads(html[start : html.index("</script>", start)])
    assert len(data["equity"]) == metrics["period"]["trading_days"]
    assert data["metrics"] == metrics
    assert (tmp_path / "one" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    decisions = (tmp_path / "one" / "decisions.jsonl").read_text().splitlines()
    assert len(decisions) == metrics["decisions"]


def test_backtest_default_output_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without --out the files go to <store>/backtests/<UTC timestamp>/."""
    run(capsys, "import-bars", str(write_csv(tmp_path / "a.csv", days=40)), "--symbol", "AAA")
    args = backtest_args("x")[:-2]
    assert run(capsys, *args)[0] == EXIT_OK
    (run_dir,) = (tmp_path / DATA / "backtests").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(OUTPUTS)
    assert default_out_dir(tmp_path / DATA, run_dir.name) == run_dir.with_name(f"{run_dir.name}-2")


def test_backtest_progress_bar_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a terminal a progress bar is drawn on stderr while the replay runs."""
    run(capsys, "import-bars", str(write_csv(tmp_path / "a.csv", days=40)), "--symbol", "AAA")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, _, err = run(capsys, *backtest_args("out"))
    assert code == EXIT_OK
    assert "replaying" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2021-02-30"], "--start: expected a date YYYY-MM-DD, got '2021-02-30'"),
        (["--end", "2020-01-01"], "the end (2020-01-01) must not be before the start (2021-01-01)"),
        (["--strategy", "nope"], "--strategy: unknown strategy 'nope'"),
        (["--param", "sma_cross.fast"], "--param: expected NAME.KEY=VALUE"),
        (["--param", "other.fast=3"], "'other' is not among the strategies run"),
        (["--param", "sma_cross.fast=0"], "invalid setting strategies.sma_cross.params.fast=0"),
        (["--param", "sma_cross.colour=1"], "unknown parameter"),
        (["--commission", "cheap"], "invalid commission 'cheap'"),
        (["--capital", "0"], "--capital must be a positive amount"),
        (["--slippage-bps", "-1"], "expected a number >= 0"),
        (["--bar-size", "7 days"], "unknown bar size '7 days'"),
    ],
)
def test_backtest_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], message: str
) -> None:
    """Each bad option: one line on stderr, no traceback, exit 2, nothing written."""
    run(capsys, "import-bars", str(write_csv(tmp_path / "a.csv", days=5)), "--symbol", "AAA")
    code, _, err = run(capsys, *backtest_args("out"), *extra)
    assert code == EXIT_USAGE
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_backtest_without_strategies_or_bars(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No strategy configured or named: exit 2; nothing stored for the period: exit 1."""
    code, _, err = run(capsys, "backtest", "--start", "2021-01-01", "--end", "2021-12-31")
    assert code == EXIT_USAGE
    assert "no strategy to run" in err
    code, _, err = run(capsys, *backtest_args("out"))
    assert code == EXIT_FAILURE
    assert "no bars stored for 2021-01-01 .. 2023-01-01" in err


def test_backtest_asks_for_a_bar_size_when_several_are_stored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Daily and hourly bars in the period: the user chooses with --bar-size."""
    store = ParquetStore(tmp_path / DATA)
    stamp = datetime(2021, 3, 1, tzinfo=UTC)
    store.write_bars("AAA", [PriceBar("AAA", stamp, 1, 1, 1, 1, 1, BarSize.DAY_1)])
    store.write_bars("AAA", [PriceBar("AAA", stamp, 1, 1, 1, 1, 1, BarSize.HOUR_1)])
    code, _, err = run(capsys, *backtest_args("out"))
    assert code == EXIT_USAGE
    assert "several sizes" in err
    assert run(capsys, *backtest_args("out", "--bar-size", "1 hour"))[0] == EXIT_OK


def test_backtest_uses_configured_strategies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without --strategy, the enabled [[strategies]] of the settings run, with their capital."""
    run(capsys, "import-bars", str(write_csv(tmp_path / "a.csv", days=60)), "--symbol", "AAA")
    (tmp_path / "settings.toml").write_text(
        "[[strategies]]\nname = 'fast'\n"
        "class_path = 'ibbot.strategies.sma_cross.SmaCrossStrategy'\nallocated_capital = 5000.0\n"
        "params = {fast = 3, slow = 8}\n"
        "[[strategies]]\nname = 'off'\n"
        "class_path = 'ibbot.strategies.sma_cross.SmaCrossStrategy'\nallocated_capital = 5000.0\n"
        "enabled = false\n"
    )
    code, out, _ = run(
        capsys, "backtest", "--start", "2021-01-01", "--end", "2021-12-31", "--out", "o"
    )
    assert code == EXIT_OK
    assert out.startswith("backtest fast:")
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["starting_cash"] == 5000.0
    assert [s["name"] for s in metrics["settings"]["strategies"]] == ["fast"]


def test_backtest_param_replaces_the_configured_sizing_alternative(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Settings size sma_cross by weight; --param sma_cross.quantity=100 replaces it: exit 0."""
    run(capsys, "import-bars", str(write_csv(tmp_path / "a.csv", days=60)), "--symbol", "AAA")
    (tmp_path / "settings.toml").write_text(
        "[[strategies]]\nname = 'sma_cross'\n"
        "class_path = 'ibbot.strategies.sma_cross.SmaCrossStrategy'\nallocated_capital = 50000.0\n"
        "params = {fast = 3, slow = 8, weight = 0.2}\n"
    )
    argv = ["backtest", "--start", "2021-01-01", "--end", "2021-12-31", "--out", "o"]
    code, _, err = run(capsys, *argv, "--param", "sma_cross.quantity=100")
    assert (code, err) == (EXIT_OK, "")
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    [strategy] = metrics["settings"]["strategies"]
    assert strategy["params"] == {"fast": 3, "slow": 8, "quantity": 100}
    trades = (tmp_path / "o" / "trades.csv").read_text().splitlines()[1:]
    assert trades
    assert {line.split(",")[3] for line in trades} == {"100"}


def test_import_bars_of_an_intraday_file_asks_for_the_bar_size_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A day of minute bars imported as daily: exit 2 and one line asking for --bar-size."""
    start = datetime(2024, 7, 1, 9, 30)
    rows = [f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M},1,1,1,1,1" for i in range(390)]
    csv = tmp_path / "minutes.csv"
    csv.write_text("Datetime,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA")
    assert (code, out) == (EXIT_USAGE, "")
    assert err.count("\n") == 1
    assert '--bar-size "1 min"' in err
    assert not (tmp_path / DATA).exists()
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA", "--bar-size", "1 min")
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("imported 390 1 min bars of AAA")


def test_import_bars_says_an_adjusted_column_was_ignored_or_uses_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Adj Close without --adjusted: imported as Close, with one line saying so; with it: used."""
    csv = tmp_path / "adj.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,100,110,90,105,52.5,1000\n"
    )
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA")
    assert code == EXIT_OK
    assert err == (
        f"{csv}: column 'Adj Close' ignored: the bars are the Close prices, not adjusted for "
        "splits and dividends (--adjusted uses it)\n"
    )
    stamp = datetime(2024, 1, 2, tzinfo=UTC)
    store = ParquetStore(tmp_path / DATA)
    assert store.read_bars("AAA", stamp, stamp + timedelta(days=1))[0].close == 105
    code, out, err = run(capsys, "import-bars", str(csv), "--symbol", "AAA", "--adjusted")
    assert (code, err) == (EXIT_OK, "")
    assert "bars of AAA (adjusted by 'Adj Close')" in out
    assert store.read_bars("AAA", stamp, stamp + timedelta(days=1))[0].close == 52.5


def test_the_commands_work_on_the_postgres_store_as_on_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, postgres_dsn: str
) -> None:
    """import-bars, backtest and audit on store.backend=postgres: the same results as on files."""
    csv = str(write_csv(tmp_path / "a.csv"))
    assert run(capsys, "import-bars", csv, "--symbol", "AAA")[0] == EXIT_OK
    assert run(capsys, *backtest_args("files"))[0] == EXIT_OK
    postgres = ["--set", "store.backend=postgres", "--set", f"store.dsn={postgres_dsn}"]
    code, out, _ = run(capsys, *postgres, "import-bars", csv, "--symbol", "AAA")
    assert code == EXIT_OK
    assert "into PostgreSQL database ibbot_test_" in out
    assert postgres_dsn not in out
    code, _, err = run(capsys, *postgres, *backtest_args("database"))
    assert (code, err) == (EXIT_OK, "")
    for name in ("trades.csv", "equity.csv", "metrics.json", "decisions.jsonl"):
        assert (tmp_path / "files" / name).read_bytes() == (
            tmp_path / "database" / name
        ).read_bytes(), name
    code, out, _ = run(capsys, *postgres, "audit", "decisions")
    assert code == EXIT_OK
    assert "0 of 0 decisions in PostgreSQL database" in " ".join(out.split())
