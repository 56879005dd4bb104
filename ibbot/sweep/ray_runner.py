"""Running a sweep's jobs as Ray tasks: a local Ray started for the run, or an existing cluster.

Local (the default): a new Ray instance is always started for the run, even when ``ray start``
has left a cluster's address on this host, with ``num_cpus`` = the workers asked for (default: the
machine's cores), no dashboard, no usage statistics, every server on the loopback interface, so it
needs no network and opens nothing to it; it is shut down when the sweep ends. With an address
(``--address`` or ``RAY_ADDRESS``) the sweep connects to that cluster and leaves it running; every
node needs the same ibbot (and any strategy package the sweep uses) installed.

The bars and fundamentals are put in Ray's object store once; every task gets a reference to them
and slices its own window. At most ``workers`` tasks are in flight (so ``--workers 1`` on a cluster
runs one at a time), and the results are ordered by job, never by when a task finished: the same
jobs give the same rows on 1 worker or many.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import structlog

from ibbot.errors import IbbotError
from ibbot.sweep.task import error_row, run_job

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from ibbot.backtest import BacktestConfig, BarFeed
    from ibbot.models import FundamentalData
    from ibbot.sweep.task import Job

__all__ = ["LOCAL_RAY_ENV", "RayRunner", "RayUnavailable", "ray_session"]

log = structlog.get_logger(__name__)

LOCAL_RAY_ENV: Final = {
    # no usage statistics are collected or sent
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray's single-machine mode: the node's address is the loopback one, so its servers listen
    # on 127.0.0.1 only (the variable's name is historical: it is honoured on Linux too)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # under `uv run`, Ray would otherwise ship the working directory to every worker and start
    # each one through uv, which may want the network
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}
"""Environment a local Ray is started with (set before Ray is imported: it reads them then)."""


class RayUnavailable(IbbotError):
    """Ray is not installed, or the cluster could not be reached."""


def _import_ray(*, local: bool) -> Any:
    if local:
        os.environ.update(LOCAL_RAY_ENV)
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray  # noqa: PLC0415 - an optional dependency, needed only by a sweep
    except ImportError:
        raise RayUnavailable(
            "ibbot sweep needs Ray, which is not installed: install ibbot with the sweep extra "
            "(pip install 'ibbot[sweep]', or uv sync --extra sweep)"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Refuse at once a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if "://" in address or address == "auto":
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailable(f"--address: expected HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise RayUnavailable(f"could not reach the Ray cluster at {address}: {exc}") from None


_CONNECT_TIMEOUT: Final = 5.0


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """Ray, ready: connected to ``address`` (or ``RAY_ADDRESS``), else a local instance with
    ``workers`` CPUs (default: every core), shut down on exit. An instance this process already
    runs is used as it is and left running."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray = _import_ray(local=address is None)
    if address is not None and not ray.is_initialized():
        _check_reachable(address)
    if ray.is_initialized():
        yield ray
        return
    try:
        if address is not None:
            ray.init(
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        else:
            ray.init(
                # "local": always a new instance of our own; without it Ray would connect to
                # the cluster named in its temp dir's ray_current_cluster (written by `ray start`
                # and left there when that cluster was killed), and refuse num_cpus for it
                address="local",
                num_cpus=workers or os.cpu_count() or 1,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RayUnavailable(f"could not start or reach {where}: {exc}") from exc
    log.info("sweep.ray_ready", address=address or "local", cpus=ray.cluster_resources().get("CPU"))
    try:
        yield ray
    finally:
        ray.shutdown()


class RayRunner:
    """Runs jobs as Ray tasks over one shared feed; see the module docstring."""

    def __init__(
        self,
        ray: Any,
        base: BacktestConfig,
        feed: BarFeed,
        fundamentals: Sequence[FundamentalData] = (),
        *,
        workers: int | None = None,
    ) -> None:
        self._ray = ray
        self._base = base
        self._feed = ray.put(feed)
        self._fundamentals = ray.put(list(fundamentals))
        self._task = ray.remote(num_cpus=1, max_retries=0)(run_job)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers or cpus)

    def run(
        self, jobs: Sequence[Job], progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """Every job's row, in the order of ``jobs``."""
        ray = self._ray
        rows: dict[int, dict[str, Any]] = {}
        pending: dict[Any, int] = {}
        queue = list(enumerate(jobs))
        queue.reverse()
        while queue or pending:
            while queue and len(pending) < self.workers:
                position, job = queue.pop()
                ref = self._task.remote(self._base, job, self._feed, self._fundamentals)
                pending[ref] = position
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                position = pending.pop(ref)
                try:
                    rows[position] = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died, or a bug raised
                    message = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                    log.warning("sweep.task_failed", index=jobs[position].index, error=message)
                    rows[position] = error_row(jobs[position], f"the task failed: {message}")
            if progress is not None:
                progress(len(rows), len(jobs))
        return [rows[position] for position in range(len(jobs))]
