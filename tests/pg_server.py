"""A throwaway PostgreSQL server for the test session, started from the OS's binaries.

Tests of the PostgreSQL store run against a real server, never a mock: ``initdb`` and ``pg_ctl``
from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``) or ``PATH``, a data
directory in a temporary directory, a free port on 127.0.0.1. PostgreSQL refuses to run as root, so
as root (CI runs as root) the server runs as the ``postgres`` user the package creates, through
``runuser``. Durability settings are relaxed (``fsync=off``): the tests kill clients, not the server.

Without the binaries the tests are skipped, unless ``CI_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it),
where the missing server is a failure.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PostgresServer", "find_binaries", "running_server"]

SUPERUSER = "ibbot"
_RUN_AS = "postgres"


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (the newest Debian version first), or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it listens and the superuser's DSN for a database."""

    port: int
    directory: Path

    def dsn(self, database: str = "postgres") -> str:
        """A libpq DSN for ``database`` as the superuser (trust authentication, 127.0.0.1 only)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def _runner() -> tuple[list[str], int | None]:
    """The command prefix that runs the server's tools, and the uid that must own its files."""
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam(_RUN_AS).pw_uid
    except KeyError as exc:
        raise RuntimeError(
            f"running as root, PostgreSQL needs an unprivileged user: no {_RUN_AS!r} user "
            "(the postgresql package creates it)"
        ) from exc
    return ["runuser", "-u", _RUN_AS, "--"], uid


@contextlib.contextmanager
def running_server(binaries: Path) -> Iterator[PostgresServer]:
    """Start a server in a temporary directory; stop it and remove its files on exit."""
    prefix, uid = _runner()
    with tempfile.TemporaryDirectory(prefix="ibbot-pg-") as tmp:
        directory = Path(tmp)
        if uid is not None:
            os.chown(directory, uid, -1)
        data = directory / "data"
        port = _free_port()
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
             "-l", str(directory / "server.log"), "start"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        try:
            yield PostgresServer(port, directory)
        finally:
            subprocess.run(
                [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                 "stop"],
                check=False, capture_output=True, timeout=120,
            )  # fmt: skip
