"""The control endpoint's answers: JSON, pretty enough to read in a terminal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ControlResponse", "error_response"]


class ControlResponse(JSONResponse):
    """JSON with sorted keys, indented, one trailing newline; values JSON has no type for as text."""

    def render(self, content: Any) -> bytes:
        """The body."""
        return json.dumps(content, indent=2, sort_keys=True, default=str).encode() + b"\n"


def error_response(
    status: int, reason: str, *, headers: Mapping[str, str] | None = None
) -> ControlResponse:
    """``{"error": reason}`` with ``status``."""
    return ControlResponse({"error": reason}, status_code=status, headers=headers)
