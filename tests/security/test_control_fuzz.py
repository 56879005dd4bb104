"""Fuzzing the running service's control endpoint: random methods, paths, headers and bodies, sent
as raw bytes (malformed HTTP included), with and without the token. Whatever arrives, the service
keeps running and answering, and no request ends in a 500 (an exception ibbot did not expect)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.app_support import DEADLINE
from tests.security.control_support import start_service, stop_service

if TYPE_CHECKING:
    from pathlib import Path

EXAMPLES = 150
_STATUS = re.compile(rb"HTTP/1\.1 ([0-9]{3}) ")
# Headers the fuzzer never sets itself: a declared length longer than the body, or chunked framing,
# would make the server wait for bytes that never come (a slow test, not a finding).
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_KNOWN_PATHS = (
    "/strategies",
    "/strategies",
    "/status",
    "/strategies/first",
    "/strategies/x",
    "/",
    "/stop/",
)
_HOSTILE_CLASSES = (
    "decimal.Decimal",
    "this.X",
    "unittest.__main__.X",
    "os.system",
    "ibbot.strategies.sma_cross.SmaCrossStrategy",
    "ibbot.strategies.PipelineStrategy",
    "tests.integration.app_strategies.BuyOnContract",
    "ibbot.strategies.smoke_probe.SmokeProbe",
)


@dataclass(frozen=True)
class Request:
    """One request: its bytes, and whether its answer has no body (HEAD)."""

    raw: bytes
    head: bool


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_strategy_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["fuzz", "first", "a:b", "", "x" * 300]) | st.text(max_size=10),
        "class_path": st.sampled_from(_HOSTILE_CLASSES) | st.text(max_size=30),
        "allocated_capital": st.sampled_from([1000, 0, -1, "abc", 1e308]) | _json_values,
        "params": st.dictionaries(
            st.sampled_from(["quantity", "fast", "slow", "weight", "x"]), _json_values, max_size=3
        )
        | _json_values,
        "enabled": _json_values,
    },
).map(lambda body: json.dumps(body).encode())
_bodies = (
    st.just(b"")
    | st.binary(max_size=512)
    | _json_values.map(lambda value: json.dumps(value).encode())
    | _strategy_bodies
    | st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n)
)
_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
_header_names = st.sampled_from(
    ["Host", "Origin", "Content-Type", "Authorization", "Connection", "Expect", "Cookie"]
) | st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,15}", fullmatch=True)
_header_values = _header_text | st.sampled_from(
    ["application/json", "text/plain", "http://evil.example", "Bearer x", "100-continue", ""]
)


@st.composite
def requests(draw: st.DrawFn, port: int, token: str) -> Request:
    """A request as a local process or a web page could send it, well formed or not."""
    authorized = draw(st.booleans())
    wild = draw(st.integers(0, 3)) == 0  # a quarter of the requests are not even HTTP-shaped
    method = draw(
        (st.from_regex(r"[A-Z]{1,10}", fullmatch=True) | st.text(max_size=8))
        if wild
        else st.sampled_from(["POST", "POST", "GET", "DELETE", "HEAD", "PUT", "OPTIONS"])
    )
    if authorized:
        # Never /stop with the token: that request is allowed to stop the service.
        path = draw(st.sampled_from(_KNOWN_PATHS))
    else:
        path = draw(st.text(max_size=40) if wild else st.sampled_from((*_KNOWN_PATHS, "/stop")))
    body = draw(_bodies)
    headers = [("Host", f"127.0.0.1:{port}"), ("Connection", "close")]
    if authorized:
        headers.append(("Authorization", f"Bearer {token}"))
    if body or draw(st.booleans()):
        headers.append(("Content-Type", "application/json"))
    extra = draw(st.lists(st.tuples(_header_names, _header_values), max_size=4))
    headers += [(n, v) for n, v in extra if n.lower() not in _FRAMING]
    if draw(st.booleans()):
        headers = draw(st.permutations(headers))
    lines = [f"{method} {path} HTTP/1.1", *(f"{n}: {v}" for n, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    raw = "\r\n".join(lines).encode("latin-1", "replace") + b"\r\n\r\n" + body
    return Request(raw, method == "HEAD")


def exchange(port: int, request: Request) -> int | None:
    """Send ``request``; the answer's status, or None when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as connection:
        try:
            connection.sendall(request.raw)
        except ConnectionError:
            return None  # refused and closed before all of it was sent
        answer = b""
        while b"\r\n\r\n" not in answer:
            try:
                chunk = connection.recv(65_536)
            except ConnectionError:
                return None
            if not chunk:
                break
            answer += chunk
    if not answer:
        return None
    match = _STATUS.match(answer)
    assert match is not None, answer[:200]
    return int(match[1])


def fuzz(port: int, token: str) -> None:
    """Send EXAMPLES random requests; none may be answered 500."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests(port, token))
    def one(request: Request) -> None:
        status = exchange(port, request)
        assert status is None or 100 <= status < 500, (status, request.raw[:300])

    one()


async def test_random_requests_neither_crash_nor_break_the_service(tmp_path: Path) -> None:
    """Random requests (bodies, headers, methods, paths) leave the service running and answering."""
    service = await start_service(tmp_path)
    try:
        await asyncio.to_thread(fuzz, service.port, service.token)
        await service.assert_alive()
    finally:
        await stop_service(service)
