"""A request body as JSON, bounded: in bytes before it is read, in nesting depth before it is parsed
(:mod:`ibbot.safeload` measures the depth without recursing)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from ibbot.safeload import LoadError, load_json

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "read_form_body", "read_json_body"]

MAX_BODY_BYTES: Final = 1_000_000
"""The largest request body read; a longer one is refused (413) before the rest is read."""

MAX_DEPTH: Final = 32
"""The deepest nesting of arrays and objects parsed; a strategy's settings need three."""

_BODY_TIMEOUT: Final = 10.0  # seconds for a body to arrive: a stalled client holds nothing longer


async def read_json_body(request: Request, *, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The request's body as JSON; :class:`HTTPException` 400, 408 or 413 when it cannot be."""
    body = await _read_body(request, max_bytes=max_bytes)
    try:
        return load_json(body, max_chars=max_bytes, max_depth=MAX_DEPTH)
    except LoadError as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from None


async def read_form_body(request: Request, *, max_bytes: int, max_fields: int) -> dict[str, str]:
    """A form's fields (``application/x-www-form-urlencoded``), each given once; 400 otherwise."""
    body = await _read_body(request, max_bytes=max_bytes)
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=max_fields,
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the body is not a form (name=value&...)") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise HTTPException(400, "a form field is given twice")
    return fields


async def _read_body(request: Request, *, max_bytes: int) -> bytes:
    """The whole body, at most ``max_bytes`` and within the body deadline; never empty."""
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
    return bytes(body)
