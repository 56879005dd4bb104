"""Serving the control endpoint: uvicorn on the service's own event loop, on loopback unless
``app.control_remote`` says otherwise (then every request needs the token)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
from typing import TYPE_CHECKING, Final

import structlog
import uvicorn

from ibbot.errors import ConfigError, IbbotError
from ibbot.live.control.files import publish_endpoint, withdraw_endpoint
from ibbot.live.control.protocol import HeadDeadlineProtocol
from ibbot.live.control.routes import control_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from starlette.routing import BaseRoute

    from ibbot.live.control.routes import ControlTarget

__all__ = ["ControlServer"]

log = structlog.get_logger(__name__)

_HOST: Final = "127.0.0.1"
_EVERY_ADDRESS: Final = "0.0.0.0"  # noqa: S104 - named so: binding it needs app.control_remote
_MAX_CONNECTIONS: Final = 64  # connections and requests at once; more get 503 from uvicorn
_GRACE: Final = 5  # seconds the requests in flight get to finish when the service stops
_CLOSE_TIMEOUT: Final = 10.0


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: ibbot owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing (uvicorn's would take the signals from ibbot's own handlers)."""
        yield


class ControlServer:
    """Serves :class:`ControlTarget` on ``host`` (loopback) until :meth:`serve` is cancelled.

    :attr:`ready` is set once it listens and ``control.json`` says where; :attr:`token` is this
    run's token, also in ``control.token``. A request's head must arrive within ``head_timeout``
    seconds (:class:`~ibbot.live.control.protocol.HeadDeadlineProtocol`). ``remote`` must be true
    for any other ``host``, and then every request needs the token. ``pages(token, port)`` gives
    more routes to serve behind the same gate (the dashboard's).
    """

    def __init__(
        self,
        target: ControlTarget,
        *,
        port: int,
        directory: Path,
        head_timeout: float = 10.0,
        host: str = _HOST,
        remote: bool = False,
        pages: Callable[[str, int], Sequence[BaseRoute]] | None = None,
    ) -> None:
        if not remote and not ipaddress.IPv4Address(host).is_loopback:
            raise ConfigError("app.control_host", host, "needs app.control_remote=true")
        self._target = target
        self._head_timeout = head_timeout
        self._host = host
        self._remote = remote
        self._pages = pages
        self._port = port
        self._directory = directory
        self.token = secrets.token_urlsafe(32)
        self.address: tuple[str, int] | None = None
        self.ready = asyncio.Event()

    async def serve(self) -> None:
        """Listen, publish the endpoint and its token, answer requests; clean up when cancelled.

        Raises :class:`~ibbot.errors.ConfigError` when the port cannot be bound.
        """
        listener = self._bind()
        try:
            port: int = listener.getsockname()[1]
            # Local clients (`ibbot strategies`) reach a wildcard bind over loopback.
            url = f"http://{_HOST if self._host == _EVERY_ADDRESS else self._host}:{port}"
            # A subclass per server, so the deadline is this server's own setting.
            protocol = type(
                "ControlHTTP", (HeadDeadlineProtocol,), {"head_timeout": self._head_timeout}
            )
            server = _Server(
                uvicorn.Config(
                    control_app(
                        self._target,
                        port=port,
                        token=self.token,
                        remote=self._remote,
                        pages=() if self._pages is None else self._pages(self.token, port),
                    ),
                    http=protocol,
                    ws="none",
                    lifespan="off",
                    interface="asgi3",
                    log_config=None,
                    log_level=logging.WARNING,
                    access_log=False,
                    proxy_headers=False,
                    server_header=False,
                    limit_concurrency=_MAX_CONNECTIONS,
                    timeout_graceful_shutdown=_GRACE,
                )
            )
            # The socket listens already: a client that reads control.json at once is queued.
            await asyncio.to_thread(publish_endpoint, self._directory, url=url, token=self.token)
            self.address = (self._host, port)
            self.ready.set()
            log.info("app.control_listening", url=url, remote=self._remote)
            await _run(server, listener)
        finally:
            withdraw_endpoint(self._directory)
            listener.close()

    def _bind(self) -> socket.socket:
        """The listening socket, bound here so that a failure is ibbot's error, not uvicorn's exit."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self._port))
            listener.listen(_MAX_CONNECTIONS)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise ConfigError("app.control_port", self._port, str(exc)) from exc
        return listener


async def _run(server: uvicorn.Server, listener: socket.socket) -> None:
    """Serve until cancelled, then let uvicorn answer what is in flight and close."""
    async with asyncio.TaskGroup() as group:
        serving = group.create_task(_serve(server, listener), name="ibbot-control-http")
        try:
            await asyncio.wait([serving])
        except asyncio.CancelledError:
            server.should_exit = True
            await asyncio.wait([serving], timeout=_CLOSE_TIMEOUT)
            raise


async def _serve(server: uvicorn.Server, listener: socket.socket) -> None:
    try:
        await server.serve(sockets=[listener])
    except SystemExit as exc:  # uvicorn's way of saying it could not start: not ours to exit
        raise IbbotError(f"the control endpoint could not start (uvicorn exit {exc.code})") from exc
