"""The control endpoint's gate: who may ask what, and the isolation of every request.

It is plain ASGI middleware (no buffering of responses, so streamed answers such as server-sent
events pass through untouched), placed around every route, and in this order it refuses:

- a ``Host`` other than ``127.0.0.1:<port>`` or ``localhost:<port>`` (400 when missing, 421
  otherwise): a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) still sends
  its own name. Served beyond loopback (``app.control_remote``) any one ``Host`` passes: there every
  request needs the token, which a rebinding page does not have;
- an ``Origin`` other than the endpoint's own (403): a browser adds it to every cross-origin
  request, including the "simple" ones it sends without asking first (``Content-Type:
  text/plain``); pages the endpoint serves itself may still call it;
- a request without credentials where it needs them (401; a page load of ``/`` is sent to the
  login form instead). Credentials are ``Authorization: Bearer <token>``, the run's token, or the
  dashboard's session cookie (:mod:`~ibbot.live.control.session`), each compared in constant
  time. A request that may change something (any method but GET and HEAD) needs the token, or the
  cookie *and* the ``X-CSRF-Token`` header: the cookie alone, which a browser attaches by itself,
  never does. Reads need nothing on loopback and credentials beyond it; the login form and the
  page's static files are open to all, and ``POST /login`` is how the token is presented;
- a request whose body is not declared ``application/json`` (415; the login form's
  ``application/x-www-form-urlencoded`` on ``POST /login`` only), or declared longer than the body
  limit (413, before anything of it is read).

Reads (``GET /status``, the dashboard, ``/metrics``) need no token on loopback: they change nothing,
and a browser page can neither send them from another origin (403) nor read the answer. Any other
local user of the machine can, like they can list its processes.

Whatever a route raises is answered here (500, JSON) and logged in one line: no exception leaves a
request, so none reaches the server or the service's task group. What authenticated a request is
left in its scope under :data:`AUTH_SCOPE_KEY` (``"token"``, ``"session"`` or ``""``).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Final

import structlog
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse

from ibbot.live.control.bounded import MAX_BODY_BYTES
from ibbot.live.control.responses import error_response
from ibbot.live.control.session import CSRF_HEADER, SessionKeys

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AUTH_SCOPE_KEY", "LOGIN_PATH", "ControlGuard"]

log = structlog.get_logger(__name__)

AUTH_SCOPE_KEY: Final = "ibbot.auth"
"""The scope key saying what authenticated a request."""

LOGIN_PATH: Final = "/login"
"""The login form (GET) and where it is sent (POST)."""

_READS: Final = frozenset({"GET", "HEAD"})
_JSON: Final = "application/json"
_FORM: Final = "application/x-www-form-urlencoded"
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost")
_STATIC_PREFIX: Final = "/static/"
_TOKEN_NEEDED: Final = "this request needs 'Authorization: Bearer <token>' (see control.token)"  # noqa: S105 - a message


class ControlGuard:
    """ASGI middleware: the checks of the module docstring, then ``app``; failures answered."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        port: int,
        token: str,
        remote: bool = False,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._app = app
        self._hosts = frozenset(f"{name}:{port}" for name in _LOOPBACK_NAMES)
        self._origins = frozenset(f"http://{host}" for host in self._hosts)
        self._authorization = f"Bearer {token}".encode()
        self._session = SessionKeys.derive(token, port=port)
        self._remote = remote
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or pass on and answer whatever the route raises."""
        if scope["type"] != "http":  # no lifespan (uvicorn's is off), no websockets (none served)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers = Headers(scope=scope)
        refusal = self._refusal(method, path, headers)
        if refusal is not None:
            status, reason, extra = refusal
            log.info("app.control_refused", method=method, path=path, status=status, reason=reason)
            if status == 401 and method == "GET" and path == "/":
                await RedirectResponse(LOGIN_PATH, 303)(scope, receive, send)
            else:
                await error_response(status, reason, headers=extra)(scope, receive, send)
            return
        scope[AUTH_SCOPE_KEY] = self._credentials(headers)
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - any failure of one request ends with its answer
            error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            # one line, no traceback: a request's failure is reported, not a crash of the service
            log.error("app.control_failed", method=method, path=path, error=error)  # noqa: TRY400
            if not started:
                reason = f"internal error ({type(exc).__name__}); see the service's log"
                await error_response(500, reason)(scope, receive, send)

    def _refusal(
        self, method: str, path: str, headers: Headers
    ) -> tuple[int, str, dict[str, str]] | None:
        """``(status, reason, extra headers)`` of the first check ``headers`` fail, or None."""
        hosts = headers.getlist("host")
        if len(hosts) != 1:
            return 400, "exactly one Host header is required", {}
        host = hosts[0].lower()
        if not self._remote and host not in self._hosts:
            return 421, f"this endpoint answers to {' or '.join(sorted(self._hosts))} only", {}
        origins = headers.getlist("origin")
        own = frozenset({f"http://{host}"}) if self._remote else self._origins
        if origins and (len(origins) > 1 or origins[0].lower() not in own):
            return 403, "cross-origin requests are refused", {}
        login = path == LOGIN_PATH
        if method in _READS:
            public = not self._remote or login or path.startswith(_STATIC_PREFIX)
            if not public and not self._credentials(headers):
                reason = _TOKEN_NEEDED + " or the dashboard's login (/login)"
                return 401, reason, {"WWW-Authenticate": "Bearer"}
        elif not (login and method == "POST") and not self._may_change(headers):
            reason = _TOKEN_NEEDED + ", or from the dashboard its session and X-CSRF-Token"
            return 401, reason, {"WWW-Authenticate": "Bearer"}
        return self._body_refusal(headers, form=login and method == "POST")

    def _credentials(self, headers: Headers) -> str:
        """What authenticates a request with ``headers``: "token", "session" or ""."""
        if self._authorized(headers):
            return "token"
        if self._session.has_session(headers.getlist("cookie")):
            return "session"
        return ""

    def _may_change(self, headers: Headers) -> bool:
        """The token, or the session cookie with the CSRF header."""
        return self._authorized(headers) or (
            self._session.has_session(headers.getlist("cookie"))
            and self._session.csrf_matches(headers.getlist(CSRF_HEADER))
        )

    def _authorized(self, headers: Headers) -> bool:
        given = headers.getlist("authorization")
        return len(given) == 1 and hmac.compare_digest(
            given[0].encode("latin-1"), self._authorization
        )

    def _body_refusal(
        self, headers: Headers, *, form: bool
    ) -> tuple[int, str, dict[str, str]] | None:
        types = headers.getlist("content-type")
        length = headers.get("content-length", "")
        has_body = bool(types) or "transfer-encoding" in headers or length not in ("", "0")
        if not has_body:
            return None
        allowed = (_JSON, _FORM) if form else (_JSON,)
        if len(types) != 1 or types[0].partition(";")[0].strip().lower() not in allowed:
            return 415, f"a request body must be {' or '.join(allowed)}", {}
        if length.isdigit() and int(length) > self._max_body:
            return 413, f"the body must be at most {self._max_body} bytes", {}
        return None
