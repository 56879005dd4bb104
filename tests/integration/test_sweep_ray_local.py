"""The default local Ray ignores a cluster `ray start` left behind (its own module: it must start
Ray itself, not find the instance test_sweep_ray's fixture keeps for its module)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ibbot.sweep import RayRunner, ray_session, run_sweep
from tests.unit.sweep_helpers import base_config, feed, plan

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def ray_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Ray's temp root (``RAY_TMPDIR``) in a fresh directory, short enough for Ray's sockets
    (pytest's tmp_path can exceed the 107 bytes of a Unix socket path)."""
    root = Path(tempfile.mkdtemp(prefix="ibr", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(root))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_local_sweep_ignores_a_stale_ray_current_cluster(ray_tmpdir: Path) -> None:
    """`ray start` writes its address to <temp>/ray/ray_current_cluster and leaves it when killed;
    without --address/RAY_ADDRESS a sweep still starts its own loopback instance and runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    address_file = ray_tmpdir / "ray" / "ray_current_cluster"
    address_file.parent.mkdir()
    address_file.write_text(f"127.0.0.1:{port}")
    bars = feed()
    sweep = plan("fast=5,10", "slow=20")
    with ray_session(workers=1) as ray:
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        assert ray.cluster_resources()["CPU"] == 1
        result = run_sweep(sweep, bars, RayRunner(ray, base_config(), bars).run)
    assert not ray.is_initialized()
    assert [row["error"] for row in result.rows] == [None, None]
    assert all(row["sharpe"] is not None for row in result.rows)
    assert any(path.name.startswith("session_") for path in address_file.parent.iterdir())
    assert address_file.read_text() == f"127.0.0.1:{port}"  # not ours to change
