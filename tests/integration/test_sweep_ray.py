"""Sweeps on a real local Ray (one instance for the module): determinism, one put, the CLI."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from ibbot.cli import EXIT_OK, main
from ibbot.store import ParquetStore
from ibbot.sweep import RayRunner, Span, ray_session, run_job, run_sweep, write_sweep
from tests.unit.sweep_helpers import base_config, cent_bars, feed, plan

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from ibbot.sweep import Job

# Whole sweeps on a local Ray instance are CPU-bound: on a loaded 2-core machine (two other busy
# processes) the walk-forward test took over a minute, so these tests get a generous bound.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    """A local Ray with 2 CPUs for the whole module, shut down after it."""
    with ray_session(workers=2) as session:
        yield session
    assert not session.is_initialized()


class CountingRay:
    """The ray module, counting what is put in the object store."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self.puts = 0

    def put(self, value: Any) -> Any:
        self.puts += 1
        return self._ray.put(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ray, name)


def test_local_ray_is_loopback_only_without_usage_stats(ray: Any) -> None:
    """The local instance's node address is the loopback one and usage statistics are off."""
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    assert ray.cluster_resources()["CPU"] == 2


def test_one_or_two_workers_give_the_rows_of_an_in_process_run(ray: Any, tmp_path: Path) -> None:
    """A walk-forward sweep on 1 and on 2 workers writes byte-identical files, its rows are those
    of the same jobs run in this process, and the bars went to the object store once."""
    bars = feed()
    sweep = plan("fast=5,10", "slow=20,40", walk_forward=(Span(2, "y"), Span(1, "y")))

    def serial(jobs: Sequence[Job]) -> list[dict[str, Any]]:
        return [run_job(base_config(), job, bars) for job in jobs]

    reference = run_sweep(sweep, bars, serial)
    for workers in (1, 2):
        counting = CountingRay(ray)
        runner = RayRunner(counting, base_config(), bars, workers=workers)
        result = run_sweep(sweep, bars, runner.run)
        assert counting.puts == 2  # the feed and the fundamentals, for every task of both phases
        assert result.rows == reference.rows
        assert result.folds == reference.folds
        write_sweep(result, tmp_path / str(workers))
    for name in ("results.parquet", "results.csv", "folds.parquet", "folds.csv", "report.html"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_cli_sweep_runs_on_ray_and_writes_its_outputs(
    ray: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot sweep` with a random search ranks its runs and writes Parquet, CSV and the page."""
    store = ParquetStore(tmp_path / "data")
    for symbol, seed in (("AAA", 1), ("BBB", 2)):
        store.write_bars(symbol, cent_bars(symbol, seed))
    monkeypatch.setenv("IBBOT_STORE__PATH", str(tmp_path / "data"))
    out = tmp_path / "out"
    code = main(
        [
            "--log-level",
            "warning",
            "sweep",
            "--start",
            "2016-01-01",
            "--end",
            "2019-12-31",
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=3..12",
            "--grid",
            "slow=20,30,50",
            "--samples",
            "5",
            "--seed",
            "4",
            "--metric",
            "total_return",
            "--out",
            str(out),
        ]
    )
    stdout = capsys.readouterr().out
    assert code == EXIT_OK
    assert "sweep sma_cross: 5 backtests" in stdout
    assert "best by total_return" in stdout
    for name in ("results.parquet", "results.csv", "sweep.json", "report.html"):
        assert (out / name).is_file()
    assert "Ranked runs" in (out / "report.html").read_text()
