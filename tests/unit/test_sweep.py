"""Sweeps without Ray: parameter spaces, walk-forward folds, ranking, picks and the output files."""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from ibbot.backtest import Backtest, BacktestInputError, load_fundamentals
from ibbot.backtest.metrics import compute_metrics
from ibbot.cli import EXIT_USAGE, main
from ibbot.commands.sweep import _METRICS
from ibbot.models import FundamentalData
from ibbot.store import ParquetStore
from ibbot.sweep import (
    RANKING_METRICS,
    Job,
    ParameterSpace,
    Span,
    folds,
    page,
    parse_dimension,
    parse_walk_forward,
    run_job,
    run_sweep,
    write_sweep,
)
from ibbot.sweep.page import ranked_sets, render_page
from ibbot.sweep.task import slice_feed, window_fundamentals
from tests.unit.sweep_helpers import END, START, base_config, cent_bars, feed, plan

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ibbot.backtest import BarFeed
    from ibbot.sweep import SweepResult


def serial(bars: BarFeed) -> Any:
    """Runs jobs in this process, one after another: the reference the Ray runs must match."""

    def execute(jobs: Sequence[Job]) -> list[dict[str, Any]]:
        return [run_job(base_config(), job, bars) for job in jobs]

    return execute


def test_grid_order_ranges_and_values() -> None:
    """The grid is the product with the first key slowest; int ranges are inclusive; values are
    JSON when they parse."""
    space = ParameterSpace(
        (parse_dimension("fast=5,10"), parse_dimension("slow=30..32"), parse_dimension("e=limit"))
    )
    assert space.grid() == [
        {"fast": f, "slow": s, "e": "limit"} for f in (5, 10) for s in (30, 31, 32)
    ]
    assert parse_dimension("w=0.1, 0.2,0.1").values == (0.1, 0.2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("fast", "expected KEY=V1"),
        ("1x=5", "expected KEY=V1"),
        ("fast=", "expected KEY=V1"),
        ("fast=9..3", "LO <= HI"),
        ("fast=a..b", "LO <= HI"),
        ("fast=0..200000", "more than"),
    ],
)
def test_bad_grid_entries_are_refused_in_one_line(text: str, match: str) -> None:
    """A malformed --grid entry is a BacktestInputError naming what is expected."""
    with pytest.raises(BacktestInputError, match=match):
        parse_dimension(text)


def test_random_samples_are_distinct_and_seeded() -> None:
    """--samples draws distinct sets; the same seed draws the same ones, another seed others;
    a decimal interval can only be sampled."""
    space = ParameterSpace((parse_dimension("fast=1..20"), parse_dimension("slow=21..60")))
    first = space.sample(25, seed=7)
    assert first == space.sample(25, seed=7)
    assert first != space.sample(25, seed=8)
    assert len({tuple(p.values()) for p in first}) == 25
    assert len(space.sample(10_000, seed=1)) == 20 * 40  # the whole grid when it is smaller
    interval = ParameterSpace((parse_dimension("w=0.05..0.5"),))
    drawn = interval.sample(5, seed=1)
    assert all(0.05 <= p["w"] <= 0.5 for p in drawn)
    with pytest.raises(BacktestInputError, match="--samples"):
        interval.grid()


def test_walk_forward_folds_roll_by_the_test_length() -> None:
    """3y/1y over 2010..2015 gives three folds, each training 3 years then testing the next one;
    a last test window is kept when half of it fits; too short a period is an error."""
    train, test = parse_walk_forward("3y/1y")
    start, end = datetime(2010, 1, 1, tzinfo=UTC), datetime(2016, 1, 1, tzinfo=UTC)
    cut = folds(start, end, train, test)
    assert [(f.train_start.year, f.test_start.year, f.test_end.year) for f in cut] == [
        (2010, 2013, 2014),
        (2011, 2014, 2015),
        (2012, 2015, 2016),
    ]
    partial = folds(start, datetime(2015, 8, 1, tzinfo=UTC), train, Span(1, "y"))
    assert partial[-1].test_end == datetime(2015, 8, 1, tzinfo=UTC)
    assert Span(1, "m").after(datetime(2020, 1, 31, tzinfo=UTC)).day == 29
    with pytest.raises(BacktestInputError, match="too short"):
        folds(start, datetime(2012, 1, 1, tzinfo=UTC), train, test)
    with pytest.raises(BacktestInputError, match="TRAIN/TEST"):
        parse_walk_forward("3y")


def test_sweep_rows_match_single_backtests_and_are_ranked() -> None:
    """Each row's figures are those of a plain backtest with its params; rank 1 has the best
    metric; sets the strategy refuses are listed with the reason, not run."""
    bars = feed()
    result = run_sweep(plan("fast=5,10,40", "slow=30,60", metric="sharpe"), bars, serial(bars))
    assert [(p["fast"], p["slow"]) for p in result.combinations] == [
        (5, 30),
        (5, 60),
        (10, 30),
        (10, 60),
        (40, 60),
    ]
    assert result.skipped[0][0] == {"fast": 40, "slow": 30}
    assert "must be shorter" in result.skipped[0][1]
    row = next(r for r in result.rows if (r["fast"], r["slow"]) == (10, 30))
    alone = Backtest(base_config(fast=10, slow=30)).run(bars)
    metrics = compute_metrics(alone)
    assert row["sharpe"] == metrics["sharpe"]
    assert row["max_drawdown"] == metrics["max_drawdown"]["depth"]
    assert row["trade_count"] == metrics["trade_count"] > 0
    sharpes = [r["sharpe"] for r in result.ranked]
    assert sharpes == sorted(sharpes, reverse=True)
    assert [r["rank"] for r in result.ranked] == [1, 2, 3, 4, 5]
    assert result.best is result.ranked[0]


def walk_forward_2y_1y(bars: BarFeed) -> SweepResult:
    """A 2 x 2 grid over ``bars`` walked forward, 2 years in sample and 1 out, run in process."""
    return run_sweep(
        plan(
            "fast=5,10",
            "slow=20,50",
            metric="total_return",
            walk_forward=(Span(2, "y"), Span(1, "y")),
        ),
        bars,
        serial(bars),
    )


def test_walk_forward_picks_the_in_sample_best_and_runs_it_out_of_sample() -> None:
    """Per fold, the pick is the training run with the best metric, and the fold's out-of-sample
    figures are a backtest of that pick over the test window alone."""
    bars = feed()
    result = walk_forward_2y_1y(bars)
    assert len(result.folds) == 2
    for fold in result.folds:
        train = [r for r in result.rows if r["phase"] == "train" and r["fold"] == fold["fold"]]
        best = max(train, key=lambda r: r["total_return"])
        assert (fold["fast"], fold["slow"]) == (best["fast"], best["slow"])
        assert fold["in_sample_total_return"] == best["total_return"]
        [test] = [r for r in result.rows if r["phase"] == "test" and r["fold"] == fold["fold"]]
        assert test["start"] == fold["test_start"]
        window = dataclasses.replace(
            base_config(fast=best["fast"], slow=best["slow"]),
            start=fold["test_start"],
            end=fold["test_end"],
        )
        alone = Backtest(window)
        lo = next(i for i, t in enumerate(bars.times) if t >= fold["test_start"])
        hi = next((i for i, t in enumerate(bars.times) if t >= fold["test_end"]), len(bars))
        figures = compute_metrics(alone.run(slice_feed(bars, lo, hi)))
        assert fold["oos_total_return"] == figures["total_return"]


def test_window_fundamentals_match_loading_each_window(tmp_path: Path) -> None:
    """Fundamentals loaded once and cut per window are what load_fundamentals gives that window."""
    store = ParquetStore(tmp_path)
    stamps = [datetime(2016 + i // 4, 1 + 3 * (i % 4), 2, tzinfo=UTC) for i in range(16)]
    for symbol in ("AAA", "BBB"):
        for i, stamp in enumerate(stamps):
            for source in ("ib", "sec"):
                store.write_fundamental(
                    symbol, FundamentalData(symbol, stamp, symbol, eps=float(i), source=source)
                )
    everything = load_fundamentals(store, ["AAA", "BBB"], START, END)
    for start, end in [
        (START, END),
        (datetime(2017, 2, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC)),
        (datetime(2019, 4, 2, tzinfo=UTC), END),
    ]:
        assert window_fundamentals(everything, start, end) == load_fundamentals(
            store, ["AAA", "BBB"], start, end
        )


def test_outputs_are_deterministic_and_self_contained(tmp_path: Path) -> None:
    """Parquet, CSV and sweep.json hold every row and setting; the same sweep writes the same
    bytes; the page is one file with a heatmap and nothing fetched or run."""
    bars = feed()
    sweep = plan("fast=5,10", "slow=20,50", "weight=0.1,0.2", metric="sharpe")
    first = write_sweep(run_sweep(sweep, bars, serial(bars)), tmp_path / "a")
    write_sweep(run_sweep(sweep, bars, serial(bars)), tmp_path / "b")
    for name in ("results.parquet", "results.csv", "sweep.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    table = pq.read_table(first.results_parquet)
    assert table.num_rows == 8
    assert table.column_names[:6] == ["index", "phase", "fold", "fast", "slow", "weight"]
    assert pa_csv.read_csv(first.results_csv).num_rows == 8
    settings = json.loads(first.settings.read_text())
    assert settings["grid"] == {"fast": [5, 10], "slow": [20, 50], "weight": [0.1, 0.2]}
    page = first.report_html.read_text()
    assert 'class="heat"' in page
    assert "Best by sharpe" in page
    for foreign in ("<script", "http://", "https://", "<link", "@import", "src="):
        assert foreign not in page


def test_walk_forward_page_ranks_the_parameter_sets_and_marks_each_fold_pick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk-forward page ranks the parameter sets by their in-sample metric averaged over the
    folds, shows each fold's value and rank with that fold's pick shaded, and stays bounded."""
    result = walk_forward_2y_1y(feed())
    train = [row for row in result.rows if row["phase"] == "train"]
    ranked = ranked_sets(train, result.folds, ["fast", "slow"], "total_return")
    means = {
        (fast, slow): sum(
            r["total_return"] for r in train if (r["fast"], r["slow"]) == (fast, slow)
        )
        / 2
        for fast in (5, 10)
        for slow in (20, 50)
    }
    assert [(s.params["fast"], s.params["slow"]) for s in ranked] == sorted(
        means, key=lambda params: -means[params]
    )
    assert [s.mean for s in ranked] == sorted(means.values(), reverse=True)
    for fold in result.folds:
        [picked] = [s for s in ranked if fold["fold"] in s.picked]
        assert (picked.params["fast"], picked.params["slow"]) == (fold["fast"], fold["slow"])
        assert picked.runs[fold["fold"]]["rank"] == 1
    html = render_page(result)
    assert "<h2>Ranked parameter sets (training windows)</h2>" in html
    table = html.split("<h2>Ranked parameter sets")[1]
    assert table.count('<td class="pick">') == len(result.folds)
    assert table.count("<tr><td>") == 4
    assert "parameter sets are shown" not in table
    monkeypatch.setattr(page, "MAX_RANKED_ROWS", 3)
    table = render_page(result).split("<h2>Ranked parameter sets")[1]
    assert table.count("<tr><td>") == 3
    assert "The best 3 of 4 parameter sets are shown" in table


def test_sweep_metric_choices_match_the_library() -> None:
    """The CLI offers exactly the metrics a sweep can rank by."""
    assert _METRICS == RANKING_METRICS


def test_missing_ray_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without Ray installed, `ibbot sweep` says how to install it in one line and exits 2."""
    store = ParquetStore(tmp_path / "data")
    store.write_bars("AAA", cent_bars("AAA", 1, END.replace(year=2019), END))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setenv("IBBOT_STORE__PATH", str(tmp_path / "data"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    code = main(
        [
            "--log-level",
            "warning",
            "sweep",
            "--start",
            "2019-01-01",
            "--end",
            "2019-12-31",
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5,10",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.count("\n") == 1
    assert "ibbot sweep needs Ray" in err
    assert "ibbot[sweep]" in err


def test_unreachable_cluster_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--address where no Ray listens fails at once with one line, exit 2 (Ray alone would retry
    for minutes)."""
    store = ParquetStore(tmp_path / "data")
    store.write_bars("AAA", cent_bars("AAA", 1, END.replace(year=2019), END))
    monkeypatch.setenv("IBBOT_STORE__PATH", str(tmp_path / "data"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the sweep connects
    code = main(
        [
            "--log-level",
            "warning",
            "sweep",
            "--start",
            "2019-01-01",
            "--end",
            "2019-12-31",
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5,10",
            "--address",
            f"127.0.0.1:{port}",
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.startswith(f"ibbot: could not reach the Ray cluster at 127.0.0.1:{port}: ")
    assert err.count("\n") == 1
