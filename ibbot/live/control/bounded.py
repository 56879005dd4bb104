"""JSON from outside, bounded: in bytes before it is read, in nesting depth before it is parsed.

Python's ``json`` parser recurses once per ``[`` or ``{``: 100,000 of them raise ``RecursionError``
(or exhaust the C stack). The depth is therefore measured first, by a scan that keeps a counter and
never recurses, and the text is parsed only when it is shallow enough.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "loads_bounded", "read_json_body"]

MAX_BODY_BYTES: Final = 1_000_000
"""The largest request body read; a longer one is refused (413) before the rest is read."""

MAX_DEPTH: Final = 32
"""The deepest nesting of arrays and objects parsed; a strategy's settings need three."""

_BODY_TIMEOUT: Final = 10.0  # seconds for a body to arrive: a stalled client holds nothing longer
# A JSON string (escapes included) or one bracket; brackets inside strings are not nesting.
_TOKENS: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)`` once its nesting is at most ``max_depth``; ``ValueError`` otherwise."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
        elif bracket in "]}":
            depth -= 1
    return json.loads(text)


async def read_json_body(request: Request, *, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The request's body as JSON; :class:`HTTPException` 400, 408 or 413 when it cannot be."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"the body must be at most {max_bytes} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(_BODY_TIMEOUT):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise HTTPException(413, f"the body must be at most {max_bytes} bytes")
    except TimeoutError:
        raise HTTPException(408, f"the body did not arrive within {_BODY_TIMEOUT:g} s") from None
    except ClientDisconnect:
        raise HTTPException(400, "the client went away before its body arrived") from None
    if not body.strip():
        raise HTTPException(400, "the body is empty; send a JSON object")
    try:
        return loads_bounded(bytes(body))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HTTPException(400, f"the body is not JSON: {exc}") from None
