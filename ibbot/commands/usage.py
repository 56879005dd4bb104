"""The one-line answer to bad command-line input, shared by the commands that validate their own."""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["EXIT_USAGE", "usage_error"]

EXIT_USAGE: Final = 2  # the CLI's exit status for invalid settings or command-line usage


def usage_error(problem: Exception | str) -> int:
    """Print ``ibbot: <problem>`` on stderr (no traceback) and return the usage exit status."""
    sys.stderr.write(f"ibbot: {problem}\n")
    return EXIT_USAGE
