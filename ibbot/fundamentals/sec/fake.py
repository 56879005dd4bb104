"""A fake SEC EDGAR server on loopback: real HTTP, the SEC's paths, synthetic documents.

Tests (and a demo on the simulated gateway) point ``fundamentals.sec_base_url`` and
``sec_www_url`` at :attr:`FakeSecServer.url`. It serves the ticker map, company facts and frames
like the SEC does, including what a client must cope with:

- conditional requests: every document has an ``ETag`` and a ``Last-Modified``; a matching
  ``If-None-Match`` (or, without one, an ``If-Modified-Since`` not older) gets 304;
- the fair-access rule on the User-Agent: one without a contact e-mail gets 403;
- injected faults per path (:meth:`FakeSecServer.fail`): any status with headers (429 with
  ``Retry-After``, 503...), a body cut short mid-transfer, or a different body (malformed JSON);
- 404 for a company with no XBRL facts, as the SEC answers for funds and many foreign filers.

Every request is recorded (:attr:`FakeSecServer.requests`) and :meth:`wait_for_requests` lets a
test wait for some to arrive instead of sleeping. HTTP/1.1 with keep-alive, GET only: enough for
httpx and any other client of these endpoints.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Self
from urllib.parse import urlsplit

from ibbot.fundamentals.sec.synthetic import (
    CompanyFactsBuilder,
    sim_company_facts,
    ticker_map_document,
)

if TYPE_CHECKING:
    from datetime import date
    from types import TracebackType

    from ibbot.sim.universe import Universe

__all__ = ["TICKERS_PATH", "FakeSecServer", "Fault", "RecordedRequest", "company_facts_path"]

TICKERS_PATH: Final = "/files/company_tickers.json"
_MAX_HEADER_LINES: Final = 100


def company_facts_path(cik: int) -> str:
    """The path of a company-facts document."""
    return f"/api/xbrl/companyfacts/CIK{cik:010d}.json"


def _frame_path(taxonomy: str, concept: str, unit: str, period: str) -> str:
    return f"/api/xbrl/frames/{taxonomy}/{concept}/{unit}/{period}.json"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received (header names in lower case)."""

    method: str
    path: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Fault:
    """An answer to give instead of the document: a status with headers, or a body cut short.

    ``truncate``: announce the full document's length, send half of it and close the connection.
    ``body``: send this body with status 200 instead of the document (e.g. malformed JSON).
    """

    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    truncate: bool = False


@dataclass(slots=True)
class _Document:
    body: bytes
    etag: str
    modified: datetime


class FakeSecServer:
    """The server (see the module docstring). ``async with FakeSecServer() as sec: ...``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._documents: dict[str, _Document] = {}
        self._companies: list[tuple[int, str, str]] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Event()
        self._version = datetime(2026, 1, 1, tzinfo=UTC)
        self.requests: list[RecordedRequest] = []

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (on a free port when ``port`` is 0)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def close(self) -> None:
        """Stop listening, close every connection and wait for their handlers; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the base URL for both SEC hosts."""
        if self._server is None:
            raise RuntimeError("the fake SEC server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    # -- content ------------------------------------------------------------------------------

    def add_company(
        self, ticker: str, cik: int, title: str, facts: CompanyFactsBuilder | bytes | None
    ) -> None:
        """List ``ticker`` in the ticker map; serve ``facts`` (None: 404, no XBRL facts)."""
        self._companies.append((cik, ticker, title))
        self._set(TICKERS_PATH, ticker_map_document(self._companies))
        if facts is not None:
            self.set_facts(cik, facts)

    def set_facts(self, cik: int, facts: CompanyFactsBuilder | bytes) -> None:
        """Serve a new version of company ``cik``'s facts (new ETag and Last-Modified)."""
        body = facts.body() if isinstance(facts, CompanyFactsBuilder) else facts
        self._set(company_facts_path(cik), body)

    def set_frame(self, taxonomy: str, concept: str, unit: str, period: str, body: bytes) -> None:
        """Serve a frames document."""
        self._set(_frame_path(taxonomy, concept, unit, period), body)

    def add_universe(self, universe: Universe, *, through: date, years: int = 3) -> None:
        """Every security of a simulated universe, with filings consistent with its figures."""
        for security in universe.values():
            facts = sim_company_facts(security, through=through, years=years)
            self.add_company(security.symbol, int(security.cik), security.long_name, facts)

    def fail(self, path: str, *faults: Fault) -> None:
        """Answer the next requests of ``path`` with ``faults``, in order, then normally again."""
        self._faults.setdefault(path, deque()).extend(faults)

    def _set(self, path: str, body: bytes) -> None:
        self._version += timedelta(seconds=1)  # a distinct Last-Modified per version
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        self._documents[path] = _Document(body, etag, self._version)

    # -- observing ----------------------------------------------------------------------------

    def count(self, path: str) -> int:
        """How many requests asked for ``path``."""
        return sum(1 for request in self.requests if request.path == path)

    async def wait_for_requests(self, count: int) -> None:
        """Return once at least ``count`` requests have arrived in total."""
        while len(self.requests) < count:
            self._arrived.clear()
            await self._arrived.wait()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, UnicodeDecodeError, ValueError):
            pass  # the client went away or spoke garbage: drop the connection, as a server does
        finally:
            self._writers.discard(writer)
            writer.close()
            self._handlers.discard(task)

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        line = await reader.readline()
        if not line.strip():
            return False
        method, target, _ = line.decode("ascii").split(" ", 2)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        path = urlsplit(target).path
        self.requests.append(RecordedRequest(method, path, headers))
        self._arrived.set()
        keep_alive = await self._respond(writer, method, path, headers)
        return keep_alive and headers.get("connection", "").lower() != "close"

    async def _respond(
        self, writer: asyncio.StreamWriter, method: str, path: str, headers: Mapping[str, str]
    ) -> bool:
        if method != "GET":
            await self._send(writer, HTTPStatus.METHOD_NOT_ALLOWED, b"")
            return True
        if "@" not in headers.get("user-agent", ""):
            # The SEC's answer to undeclared automated tools.
            await self._send(writer, HTTPStatus.FORBIDDEN, b"Undeclared Automated Tool")
            return True
        queued = self._faults.get(path)
        fault = queued.popleft() if queued else None
        document = self._documents.get(path)
        if fault is not None and fault.body is None and not fault.truncate:
            await self._send(writer, HTTPStatus(fault.status), b"", fault.headers)
            return True
        if document is None:
            await self._send(writer, HTTPStatus.NOT_FOUND, b"Not Found")
            return True
        if fault is not None and fault.body is not None:
            await self._send(writer, HTTPStatus.OK, fault.body)
            return True
        validators = {
            "ETag": document.etag,
            "Last-Modified": format_datetime(document.modified, usegmt=True),
        }
        if fault is None and self._not_modified(document, headers):
            await self._send(writer, HTTPStatus.NOT_MODIFIED, b"", validators)
            return True
        if fault is not None:  # truncate: promise the whole body, send half, hang up
            head = self._head(HTTPStatus.OK, len(document.body), validators)
            writer.write(head + document.body[: len(document.body) // 2])
            await writer.drain()
            return False
        await self._send(writer, HTTPStatus.OK, document.body, validators)
        return True

    @staticmethod
    def _not_modified(document: _Document, headers: Mapping[str, str]) -> bool:
        etag = headers.get("if-none-match")
        if etag is not None:
            return document.etag in (tag.strip() for tag in etag.split(","))
        since = headers.get("if-modified-since")
        if since is None:
            return False
        try:
            return document.modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    @staticmethod
    def _head(status: HTTPStatus, length: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status.value} {status.phrase}", f"Content-Length: {length}"]
        if length:
            lines.append("Content-Type: application/json")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: HTTPStatus,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        writer.write(self._head(status, len(body), headers or {}) + body)
        await writer.drain()
