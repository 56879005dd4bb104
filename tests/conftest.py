"""Fixtures for every test."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import psycopg
import pytest

from ibbot.logs import reset_logging
from tests.pg_server import PostgresServer, find_binaries, running_server

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Whatever a test configured (ibbot's logging, structlog's defaults), the next one starts clean."""
    yield
    reset_logging()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (see :mod:`tests.pg_server`), started on first use.

    Skipped without the server's binaries, except in CI (``CI_REQUIRE_POSTGRES=1``), where that
    is a failure: .ci/run installs the postgresql package.
    """
    binaries = find_binaries()
    if binaries is None:
        message = "PostgreSQL's initdb/pg_ctl not found (apt-get install postgresql)"
        if os.environ.get("CI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CI_REQUIRE_POSTGRES=1 but {message}")
        pytest.skip(message)
    with running_server(binaries) as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """The DSN of a fresh, empty database on the session's server (dropped afterwards)."""
    name = f"ibbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    yield postgres_server.dsn(name)
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
