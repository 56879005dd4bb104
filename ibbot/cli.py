"""The ``ibbot`` command (placeholder until the foundation CLI lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ibbot`` console script."""
    del argv
    return 0
