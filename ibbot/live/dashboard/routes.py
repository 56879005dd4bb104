"""The dashboard's routes, served beside the control endpoint's by the same server and gate.

========================================  =====================================================
``GET /``                                 the page (``static/index.html``)
``GET /static/<file>``                    its script and style sheet, shipped in the package
``GET /login``, ``POST /login``           the login form; the run's token in, a session out
``POST /logout``                          end the session
``GET /api/session``                      what authenticates this browser
``GET /api/snapshot``                     the state and the recent history, as JSON
``GET /api/events``                       the live stream (server-sent events)
``POST /kill-switch``                     ``{"engage": true, "reason": "..."}`` or ``{"engage": false}``
``POST /strategies/<name>/enable``        resume a disabled strategy
``POST /strategies/<name>/disable``       stop feeding a strategy (its positions stay)
``GET /metrics``                          Prometheus' text format
========================================  =====================================================

Every page carries a strict ``Content-Security-Policy`` (scripts and styles from this origin only,
no inline script, no framing): the page fills itself with ``textContent``, never with markup, so
whatever a strategy writes in its reasoning is shown as text.
"""

from __future__ import annotations

import hmac
import importlib.resources
from typing import TYPE_CHECKING, Any, Final, Protocol

import structlog
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ibbot.live.control.bounded import read_form_body, read_json_body
from ibbot.live.control.guard import AUTH_SCOPE_KEY, LOGIN_PATH
from ibbot.live.control.responses import ControlResponse, error_response
from ibbot.live.control.session import SessionKeys
from ibbot.live.dashboard.stream import EventStream

if TYPE_CHECKING:
    from starlette.requests import Request

    from ibbot.live.dashboard.feed import DashboardFeed

__all__ = ["DashboardTarget", "dashboard_routes", "load_assets"]

log = structlog.get_logger(__name__)

_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes a form post say Origin: null
    "Cache-Control": "no-store",
}
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
_CSRF_MARK: Final = "__CSRF__"
_MAX_REASON: Final = 200
_LOGIN_BODY: Final = 4_096
_METRICS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class DashboardTarget(Protocol):
    """What the dashboard shows and steers (the orchestrator)."""

    @property
    def dashboard(self) -> DashboardFeed | None:
        """The feed while running."""
        ...

    def metrics_exposition(self) -> bytes:
        """Every metric, in Prometheus' text format."""
        ...

    async def engage_kill_switch(self, reason: str, *, by: str) -> None:
        """Stop every new order now."""
        ...

    async def release_kill_switch(self, *, by: str) -> bool:
        """Let orders go again; False when the switch stays engaged."""
        ...

    async def enable_strategy(self, name: str, *, by: str) -> None:
        """Feed a disabled strategy again."""
        ...

    async def disable_strategy(self, name: str, *, by: str) -> None:
        """Stop feeding a strategy."""
        ...


def load_assets() -> dict[str, bytes]:
    """The page's files, by name (read once, before serving: they are small)."""
    folder = importlib.resources.files(__package__).joinpath("static")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(suffix) for suffix in _TYPES)
    }


def dashboard_routes(
    target: DashboardTarget, *, token: str, port: int, remote: bool, assets: dict[str, bytes]
) -> list[Route]:
    """The routes of the module docstring, for the run with ``token`` on ``port``."""
    pages = _Pages(target, token=token, port=port, remote=remote, assets=assets)
    return [
        Route("/", pages.index, methods=["GET"]),
        Route("/static/{name}", pages.static, methods=["GET"]),
        Route(LOGIN_PATH, pages.login_form, methods=["GET"]),
        Route(LOGIN_PATH, pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/api/session", pages.session, methods=["GET"]),
        Route("/api/snapshot", pages.snapshot, methods=["GET"]),
        Route("/api/events", pages.events, methods=["GET"]),
        Route("/kill-switch", pages.kill_switch, methods=["POST"]),
        Route("/strategies/{name}/enable", pages.enable, methods=["POST"]),
        Route("/strategies/{name}/disable", pages.disable, methods=["POST"]),
        Route("/metrics", pages.metrics, methods=["GET"]),
    ]


class _Pages:
    def __init__(
        self,
        target: DashboardTarget,
        *,
        token: str,
        port: int,
        remote: bool,
        assets: dict[str, bytes],
    ) -> None:
        self._target = target
        self._token = token.encode()
        self._keys = SessionKeys.derive(token, port=port)
        self._remote = remote
        self._assets = assets

    def _asset(self, name: str) -> Response:
        body = self._assets.get(name)
        if body is None:
            raise HTTPException(404, f"no such file {name}")
        suffix = name[name.rfind(".") :]
        return Response(body, media_type=_TYPES[suffix], headers=_PAGE_HEADERS)

    def _feed(self) -> DashboardFeed:
        feed = self._target.dashboard
        if feed is None:
            raise HTTPException(503, "ibbot is starting or stopping: try again")
        return feed

    async def index(self, request: Request) -> Response:
        del request
        return self._asset("index.html")

    async def static(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        if name.endswith(".html"):
            raise HTTPException(404, f"no such file {name}")
        return self._asset(name)

    async def login_form(self, request: Request) -> Response:
        del request
        return self._asset("login.html")

    async def login(self, request: Request) -> Response:
        fields = await read_form_body(request, max_bytes=_LOGIN_BODY, max_fields=4)
        given = fields.get("token", "").strip().encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._token):
            log.warning("dashboard.login_failed", client=_client(request))
            return RedirectResponse(f"{LOGIN_PATH}?failed=1", 303)
        log.info("dashboard.login", client=_client(request))
        page = self._assets["signed-in.html"].decode().replace(_CSRF_MARK, self._keys.csrf)
        headers = {**_PAGE_HEADERS, "Set-Cookie": self._keys.set_cookie()}
        return Response(page, media_type=_TYPES[".html"], headers=headers)

    async def logout(self, request: Request) -> Response:
        del request
        return ControlResponse(
            {"signed_out": True}, headers={"Set-Cookie": self._keys.clear_cookie()}
        )

    async def session(self, request: Request) -> Response:
        return ControlResponse(
            {"auth": request.scope.get(AUTH_SCOPE_KEY, ""), "remote": self._remote}
        )

    async def snapshot(self, request: Request) -> Response:
        del request
        return ControlResponse(self._feed().snapshot())

    async def events(self, request: Request) -> Response | EventStream:
        del request
        client = self._feed().connect()
        if client is None:
            return error_response(503, "too many dashboards are open; close one")
        return EventStream(self._feed(), client)

    async def kill_switch(self, request: Request) -> Response:
        body = await read_json_body(request)
        engage = body.get("engage") if isinstance(body, dict) else None
        if not isinstance(engage, bool):
            raise HTTPException(400, 'send {"engage": true, "reason": "..."} or {"engage": false}')
        by = _who(request)
        if engage:
            reason = _reason(body.get("reason"))
            await self._target.engage_kill_switch(reason, by=by)
            return ControlResponse({"kill_switch": "engaged", "reason": reason})
        released = await self._target.release_kill_switch(by=by)
        if not released:
            raise HTTPException(409, "the kill switch stays engaged: its file could not be removed")
        return ControlResponse({"kill_switch": "released"})

    async def enable(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        await self._target.enable_strategy(name, by=_who(request))
        return ControlResponse({"enabled": name})

    async def disable(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        await self._target.disable_strategy(name, by=_who(request))
        return ControlResponse({"disabled": name})

    async def metrics(self, request: Request) -> Response:
        del request
        # On the loop: the collectors read live counters a thread could see half-changed.
        return Response(self._target.metrics_exposition(), media_type=_METRICS_TYPE)


def _who(request: Request) -> str:
    """Who asked, for the audit: the dashboard (a session) or a client with the token."""
    how = request.scope.get(AUTH_SCOPE_KEY, "")
    return "dashboard" if how == "session" else "control endpoint"


def _client(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client is not None else "?"


def _reason(value: Any) -> str:
    if value is None:
        return "engaged from the dashboard"
    if not isinstance(value, str):
        raise HTTPException(400, "reason: must be text")
    text = " ".join(value.split())[:_MAX_REASON]
    return text or "engaged from the dashboard"
