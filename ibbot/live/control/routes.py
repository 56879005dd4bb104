"""The control endpoint's routes, and the ASGI application that serves them (:func:`control_app`).

``GET /status`` (strategies, positions, orders, connection, halted symbols), ``POST /strategies``
with a strategy's settings as a JSON object (hot add), ``DELETE /strategies/<name>`` (hot remove),
``POST /reconcile`` with ``{"adopt": [symbols]}`` (take the broker's positions in those symbols into
the book, lifting their halts: ``ibbot reconcile --adopt``) and ``POST /stop`` (the graceful
shutdown a signal starts). Every answer is JSON; a refusal is ``{"error": why}`` with
a 4xx status and one log line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

import structlog
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from ibbot.errors import IbbotError
from ibbot.live.control.bounded import read_json_body
from ibbot.live.control.guard import ControlGuard
from ibbot.live.control.responses import ControlResponse, error_response
from ibbot.settings import StrategySettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

__all__ = ["ControlTarget", "control_app"]

log = structlog.get_logger(__name__)

_ROUTES: Final = (
    "GET /status, POST /strategies, DELETE /strategies/NAME, POST /reconcile, POST /stop; "
    "the dashboard: GET /"
)
_STRATEGY_FIELDS: Final = "name, class_path, allocated_capital, params"
_MAX_ADOPT: Final = 100


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

    async def adopt_positions(self, symbols: list[str]) -> list[dict[str, Any]]:
        """Take the broker's positions in ``symbols`` into the book; one answer per symbol."""
        ...

    def stop(self, reason: str) -> None:
        """Begin the graceful shutdown."""
        ...


def control_app(
    target: ControlTarget,
    *,
    port: int,
    token: str,
    remote: bool = False,
    pages: Sequence[BaseRoute] = (),
) -> Starlette:
    """The endpoint for ``target`` on ``port``, guarded by :class:`ControlGuard` with ``token``
    (every request needs it when ``remote``); ``pages`` are more routes behind the same gate
    (the dashboard's)."""
    routes = _Routes(target)
    return Starlette(
        routes=[
            Route("/status", routes.status, methods=["GET"]),
            Route("/strategies", routes.add, methods=["POST"]),
            Route("/strategies/{name}", routes.remove, methods=["DELETE"]),
            Route("/reconcile", routes.reconcile, methods=["POST"]),
            Route("/stop", routes.stop, methods=["POST"]),
            *pages,
        ],
        middleware=[Middleware(ControlGuard, port=port, token=token, remote=remote)],
        exception_handlers={HTTPException: _http_refusal, IbbotError: _service_refusal},
    )


class _Routes:
    def __init__(self, target: ControlTarget) -> None:
        self._target = target

    async def status(self, request: Request) -> Response:
        del request
        return ControlResponse(self._target.status())

    async def add(self, request: Request) -> Response:
        config = _strategy_settings(await read_json_body(request))
        await self._target.add_strategy(config)
        return ControlResponse({"added": config.name})

    async def remove(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        await self._target.remove_strategy(name)
        return ControlResponse({"removed": name})

    async def reconcile(self, request: Request) -> Response:
        symbols = _adopt_symbols(await read_json_body(request))
        return ControlResponse({"adopted": await self._target.adopt_positions(symbols)})

    async def stop(self, request: Request) -> Response:
        del request
        self._target.stop("control request")
        return ControlResponse({"stopping": True})


def _strategy_settings(raw: Any) -> StrategySettings:
    if not isinstance(raw, dict):
        raise HTTPException(400, f"the body must be a JSON object: {_STRATEGY_FIELDS}")
    if not isinstance(raw.get("params", {}), dict):
        raise HTTPException(400, "params: must be a JSON object")
    try:
        return StrategySettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise HTTPException(400, problems) from exc


def _adopt_symbols(raw: Any) -> list[str]:
    symbols = raw.get("adopt") if isinstance(raw, dict) else None
    if (
        not isinstance(symbols, list)
        or not 0 < len(symbols) <= _MAX_ADOPT
        or not all(isinstance(s, str) and s for s in symbols)
    ):
        raise HTTPException(
            400, f'the body must be {{"adopt": [symbols]}}, 1 to {_MAX_ADOPT} non-empty strings'
        )
    return list(dict.fromkeys(symbols))


def _http_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    reason = exc.detail
    if status == 404:
        reason = f"no such path {request.url.path}; use {_ROUTES}"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        reason = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    return _refused(request, status, reason, exc.headers)


def _service_refusal(request: Request, exc: Exception) -> Response:
    return _refused(request, 400, str(exc), None)


def _refused(
    request: Request, status: int, reason: str, headers: Mapping[str, str] | None
) -> Response:
    log.info(
        "app.control_refused",
        method=request.method,
        path=request.url.path,
        status=status,
        reason=reason,
    )
    return error_response(status, reason, headers=headers)
