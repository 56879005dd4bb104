"""The running service's control endpoint: a few JSON requests over HTTP on loopback.

``GET /status`` (strategies, positions, orders, connection), ``POST /strategies`` with a strategy's
settings as JSON (hot add), ``DELETE /strategies/<name>`` (hot remove) and ``POST /stop`` (the
graceful shutdown a signal starts). It listens on 127.0.0.1 only, on ``app.control_port`` (0: a
free port), and writes where it listens to ``<store.path>/control.json`` while it runs, which is how
``ibbot strategies`` finds it. HTTP rather than a watched file: a request gets an answer (the
strategy was added, or why not) and nothing has to be polled.

The simulated gateway has a control interface of its own; this one is separate on purpose: the
simulator is a peer that shares nothing with the client side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import structlog
from pydantic import ValidationError

from ibbot.errors import ConfigError, IbbotError
from ibbot.safeload import load_json_file
from ibbot.settings import StrategySettings

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CONTROL_FILE", "ControlServer", "ControlTarget", "read_control_file"]

log = structlog.get_logger(__name__)

CONTROL_FILE: Final = "control.json"
"""Where the endpoint's address is written, under the store's root."""

_HOST: Final = "127.0.0.1"
_MAX_LINE: Final = 8_192
_MAX_HEADERS: Final = 100
_MAX_BODY: Final = 1_000_000
_REQUEST_TIMEOUT: Final = 10.0
_REASONS: Final = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_STRATEGIES: Final = "/strategies"


class ControlTarget(Protocol):
    """What the endpoint controls (the orchestrator)."""

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the service."""
        ...

    async def add_strategy(self, config: StrategySettings) -> None:
        """Start a strategy now."""
        ...

    async def remove_strategy(self, name: str) -> None:
        """Stop a running strategy now."""
        ...

    def stop(self, reason: str) -> None:
        """Begin the graceful shutdown."""
        ...


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    body: bytes


class ControlServer:
    """Serves :class:`ControlTarget` on loopback until :meth:`serve` is cancelled.

    :attr:`ready` is set once it listens and ``control.json`` says where.
    """

    def __init__(self, target: ControlTarget, *, port: int, directory: Path) -> None:
        self._target = target
        self._port = port
        self._file = directory / CONTROL_FILE
        self.address: tuple[str, int] | None = None
        self.ready = asyncio.Event()

    async def serve(self) -> None:
        """Listen, publish the address in ``control.json``, answer requests; clean up when cancelled.

        Raises :class:`~ibbot.errors.ConfigError` when the port cannot be bound.
        """
        requests = asyncio.TaskGroup()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            requests.create_task(self._answer(reader, writer), name="ibbot-control-request")

        try:
            server = await asyncio.start_server(accept, _HOST, self._port)
        except OSError as exc:
            raise ConfigError("app.control_port", self._port, str(exc)) from exc
        # No await between listening and entering the group: no request can arrive before it.
        async with requests:
            try:
                port = server.sockets[0].getsockname()[1]
                self.address = (_HOST, port)
                await asyncio.to_thread(self._publish, port)
                self.ready.set()
                log.info("app.control_listening", url=f"http://{_HOST}:{port}")
                await server.serve_forever()
            finally:
                server.close()
                with contextlib.suppress(FileNotFoundError):
                    self._file.unlink()

    def _publish(self, port: int) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._file.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"url": f"http://{_HOST}:{port}", "pid": os.getpid()}) + "\n",
            encoding="utf-8",
        )
        temporary.replace(self._file)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(_REQUEST_TIMEOUT):
                    request = await _read_request(reader)
                status, payload = 200, await self._dispatch(request)
            except _BadRequest as exc:
                status, payload = exc.status, {"error": str(exc)}
            except TimeoutError:
                status, payload = 400, {"error": "request not received in time"}
            except IbbotError as exc:
                status, payload = 400, {"error": str(exc)}
            data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode() + b"\n"
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("app.control_connection_lost", error=str(exc))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _dispatch(self, request: _Request) -> dict[str, Any]:
        path = request.path.split("?", 1)[0].rstrip("/") or "/"
        method = request.method
        if path in ("/", "/status"):
            _expect(method, "GET", path)
            return self._target.status()
        if path == "/stop":
            _expect(method, "POST", path)
            self._target.stop("control request")
            return {"stopping": True}
        if path == _STRATEGIES:
            _expect(method, "POST", path)
            config = _strategy_settings(request.body)
            await self._target.add_strategy(config)
            return {"added": config.name}
        if path.startswith(_STRATEGIES + "/"):
            _expect(method, "DELETE", path)
            name = path.removeprefix(_STRATEGIES + "/")
            await self._target.remove_strategy(name)
            return {"removed": name}
        raise _BadRequest(
            404, f"no such path {path}; use GET /status, POST /strategies, DELETE /strategies/NAME"
        )


def read_control_file(directory: Path) -> str:
    """The URL of a running service's control endpoint; :class:`IbbotError` when none runs."""
    path = directory / CONTROL_FILE
    try:
        data = load_json_file(path, max_bytes=65_536)  # a url and a pid: anything big is not ours
    except FileNotFoundError:
        raise IbbotError(
            f"no running ibbot found: {path} does not exist (is `ibbot run` running with this "
            "store.path, and app.control_port not off?)"
        ) from None
    except (OSError, ValueError) as exc:
        raise IbbotError(f"cannot read {path}: {exc}") from exc
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str):
        raise IbbotError(f"{path} names no url")
    return url


def _expect(method: str, wanted: str, path: str) -> None:
    if method != wanted:
        raise _BadRequest(405, f"use {wanted} {path}")


def _strategy_settings(body: bytes) -> StrategySettings:
    try:
        raw = json.loads(body) if body.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _BadRequest(400, f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise _BadRequest(
            400, "body must be a JSON object: name, class_path, allocated_capital, params"
        )
    try:
        return StrategySettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise _BadRequest(400, problems) from exc


async def _read_request(reader: asyncio.StreamReader) -> _Request:
    parts = (await _read_line(reader)).split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "not an HTTP/1.x request line")
    length = 0
    for _ in range(_MAX_HEADERS + 1):
        header = await _read_line(reader)
        if not header:
            break
        name, sep, value = header.partition(":")
        if not sep:
            raise _BadRequest(400, f"malformed header {header[:40]!r}")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                raise _BadRequest(400, "Content-Length is not a number")
            length = int(value.strip())
    else:
        raise _BadRequest(400, "too many headers")
    if length > _MAX_BODY:
        raise _BadRequest(400, f"body must be at most {_MAX_BODY} bytes")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise _BadRequest(400, "body shorter than Content-Length") from exc
    return _Request(parts[0].upper(), parts[1], body)


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest(400, "header line too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise _BadRequest(400, "request ended early") from exc
    if len(raw) > _MAX_LINE:
        raise _BadRequest(400, "header line too long")
    return raw.decode("latin-1").rstrip("\r\n")
