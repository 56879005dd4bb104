"""Fixtures for every test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ibbot.logs import reset_logging

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Whatever a test configured (ibbot's logging, structlog's defaults), the next one starts clean."""
    yield
    reset_logging()
